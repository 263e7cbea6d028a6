"""Faults on request: scripted, deterministic failures that tests and benchmarks switch on.

A rule names a kind, which requests it matches (path regex, method, account) and how often it
fires: ``skip`` matching requests pass first, then ``times`` of them fail (None: all). With
``params={"probability": p}`` a rule fires on a seeded pseudo-random subset instead, which is
still the same subset on every run.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fbads_assets.sandbox.prng import hash_of

REQUEST_KINDS = frozenset({
    "transient", "unknown", "reduce_data", "rate_limit", "html_502", "html_504",
    "drop_connection", "invalid_token", "batch_null",
})  # fmt: skip
PAGE_KINDS = frozenset({"empty_page_with_next"})
JOB_KINDS = frozenset({"job_failed", "job_skipped", "slow_job"})
DELAY_KINDS = frozenset({"slow"})
FAULT_KINDS = REQUEST_KINDS | PAGE_KINDS | JOB_KINDS | DELAY_KINDS
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80000, 80004})


@dataclass
class FaultRule:
    kind: str
    path: str | None = None  # regex searched in the path without version, e.g. "/act_1/insights"
    method: str | None = None
    account: str | None = None  # digits, with or without "act_"
    times: int | None = 1
    skip: int = 0
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(
                f"Unknown fault kind {self.kind!r}; use one of {', '.join(sorted(FAULT_KINDS))}."
            )
        if self.kind == "rate_limit" and self.params.get("code", 80000) not in RATE_LIMIT_CODES:
            raise ValueError(
                f"rate_limit code {self.params['code']} is not a Meta throttle code; "
                f"use one of {sorted(RATE_LIMIT_CODES)}."
            )
        if self.kind == "invalid_token" and self.params.get("subcode", 463) not in (
            463,
            460,
            458,
            467,
        ):
            raise ValueError("invalid_token subcode must be 463, 460, 458 or 467.")
        if self.account:
            self.account = self.account.removeprefix("act_")
        if self.method:
            self.method = self.method.upper()
        self._pattern = re.compile(self.path) if self.path else None

    def matches(self, method: str, path: str, account: str | None) -> bool:
        if self.method and self.method != method:
            return False
        if self.account and self.account != account:
            return False
        return not self._pattern or bool(self._pattern.search(path))

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


class FaultBook:
    """The active rules, in order; the first rule that fires wins."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._seen: list[int] = []
        self._fired: list[int] = []

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append(rule)
            self._seen.append(0)
            self._fired.append(0)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._seen.clear()
            self._fired.clear()

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {**rule.to_dict(), "seen": seen, "fired": fired}
                for rule, seen, fired in zip(self._rules, self._seen, self._fired, strict=True)
            ]

    def load_plan(self, plan: dict[str, Any] | list[Any] | str | Path) -> int:
        """Add the rules of a fault plan (a dict, a list, JSON text or a JSON file path)."""
        if isinstance(plan, Path) or (
            isinstance(plan, str) and not plan.lstrip().startswith(("{", "["))
        ):
            plan = json.loads(Path(plan).read_text())
        elif isinstance(plan, str):
            plan = json.loads(plan)
        entries = plan.get("faults", []) if isinstance(plan, dict) else plan
        if not isinstance(entries, list):
            raise ValueError('A fault plan is {"faults": [rule, ...]} or a list of rules.')
        rules = [FaultRule(**entry) for entry in entries]
        for rule in rules:
            self.add(rule)
        return len(rules)

    def take(
        self, kinds: frozenset[str], method: str, path: str, account: str | None
    ) -> FaultRule | None:
        """The first rule of these kinds that fires for this request (and count it)."""
        with self._lock:
            for index, rule in enumerate(self._rules):
                if rule.kind not in kinds or not rule.matches(method, path, account):
                    continue
                self._seen[index] += 1
                if self._seen[index] <= rule.skip:
                    continue
                if rule.times is not None and self._fired[index] >= rule.times:
                    continue
                probability = rule.params.get("probability")
                if probability is not None:
                    draw = hash_of(self._seed, index, self._seen[index]) % 1_000_000
                    if draw >= float(probability) * 1_000_000:
                        continue
                self._fired[index] += 1
                return rule
        return None
