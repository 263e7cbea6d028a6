"""Per ad and day delivery, late attribution, aggregation, and the insights row as Meta sends it.

Each ad-day is a vector of integers (money in minor units), so every higher level is an exact
sum: account = sum of campaigns = sum of ad sets = sum of ads, to the cent. Reach is the one
exception: it is unique people, so a level's reach is drawn from its parts (never their sum),
deterministically, and capped by impressions.

Late attribution: a day's conversion counts and values are ``final x f(age)`` with ``f`` growing
from 55 % on the day itself to 100 % once the day is 28 days old, as Meta's attribution settles.
The same integer rounding offset is used for every window, so 1d_click <= 7d_click <= 28d_click
holds at every age and the numbers only ever grow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fbads_assets.sandbox.prng import GOLDEN, MASK, hash_of, mix
from fbads_assets.sandbox.world import AdProfile

IMP, REACH, CLICKS, LINK, SPEND, LPV = 0, 1, 2, 3, 4, 5
ATC, PUR, LEAD, ATC_VALUE, PUR_VALUE = 6, 10, 14, 18, 22
VECTOR_SIZE = 26
# Offsets of the four attribution windows inside each conversion block.
WINDOW_OFFSETS = {"1d_click": 0, "7d_click": 1, "28d_click": 2, "1d_view": 3}
SETTLE_DAYS = 28
DEFAULT_ATTRIBUTION_SETTING = "7d_click_1d_view"
# The windows Meta still returns (late 2026); 7d_view and 28d_view were removed on 2026-01-12,
# so they are accepted but omitted from rows. 1d_ev is valid but not modelled (omitted too).
VALID_WINDOWS = frozenset({"1d_click", "7d_click", "28d_click", "1d_view"})
ACCEPTED_WINDOWS = VALID_WINDOWS | {"7d_view", "28d_view", "1d_ev", "default", "dda"}


def settle_per_mille(age: int) -> int:
    """Share of a day's final conversions already reported when the day is ``age`` days old."""
    if age >= SETTLE_DAYS:
        return 1000
    return 550 + 450 * max(age, 0) // SETTLE_DAYS


def ad_day(p: AdProfile, day: int, age: int) -> list[int] | None:
    """The ad's delivery on ``day`` (a date ordinal) as reported ``age`` days later.

    None when the ad did not deliver that day (no row, as Meta sends none).
    """
    h = mix(p.key ^ ((day * GOLDEN) & MASK))
    if (h & 0xFF) < 20:  # about 8 % of ad-days have no delivery
        return None
    imps = p.imp_base * (60 + (h >> 8) % 81) // 100 + 1
    clicks = imps * p.ctr_ppm * (80 + (h >> 16) % 41) // 100_000_000
    link = clicks * p.link_pct // 100
    spend = max(1, imps * p.cpm_minor * (90 + (h >> 24) % 21) // 100_000)
    reach = max(1, imps * p.reach_pct // 100)
    lpv = link * p.lpv_pct // 100
    g = mix(h)
    settle = settle_per_mille(age)
    r = g % 1000  # the shared rounding offset that keeps windows ordered as they settle
    atc = _windows(link * p.atc_ppm * (50 + (g >> 10) % 101), g >> 17, settle, r)
    pur = _windows(link * p.purchase_ppm * (50 + (g >> 24) % 101), g >> 31, settle, r)
    lead = _windows(link * p.lead_ppm * (50 + (g >> 38) % 101), g >> 45, settle, r)
    atc_unit = p.atc_value_minor * (80 + (g >> 52) % 41) // 100
    pur_unit = p.purchase_value_minor * (80 + (g >> 56) % 41) // 100
    return [
        imps, reach, clicks, link, spend, lpv, *atc, *pur, *lead,
        atc[0] * atc_unit, atc[1] * atc_unit, atc[2] * atc_unit, atc[3] * atc_unit,
        pur[0] * pur_unit, pur[1] * pur_unit, pur[2] * pur_unit, pur[3] * pur_unit,
    ]  # fmt: skip


def _windows(scaled_rate: int, bits: int, settle: int, r: int) -> tuple[int, int, int, int]:
    """Counts for 1d_click, 7d_click, 28d_click and 1d_view from a rate x jitter product."""
    final28 = (scaled_rate + (bits & 0xFFFFF) * 95) // 100_000_000
    final7 = (final28 * (80 + (bits >> 20) % 16) + (bits >> 24) % 100) // 100
    final1 = (final7 * (55 + (bits >> 28) % 31) + (bits >> 33) % 100) // 100
    view1 = (final28 * (5 + (bits >> 38) % 21) + (bits >> 43) % 100) // 100
    if settle == 1000:
        return final1, final7, final28, view1
    return (
        (final1 * settle + r) // 1000,
        (final7 * settle + r) // 1000,
        (final28 * settle + r) // 1000,
        (view1 * settle + r) // 1000,
    )


def combine(parts: Sequence[list[int]], reach_key: int) -> list[int]:
    """Sum of parts; reach drawn from the parts' reach, never summed (people overlap)."""
    if len(parts) == 1:
        return list(parts[0])
    total = [sum(column) for column in zip(*parts, strict=True)]
    overlap = 55 + mix(reach_key) % 36
    biggest = max(part[REACH] for part in parts)
    total[REACH] = min(total[IMP], max(biggest, total[REACH] * overlap // 100))
    return total


def split(vector: list[int], weights: Sequence[int]) -> list[list[int]]:
    """Apportion a vector over breakdown values; the parts sum back exactly (reach aside)."""
    whole = sum(weights)
    parts: list[list[int]] = []
    remaining = list(vector)
    for weight in weights[:-1]:
        part = [value * weight // whole for value in vector]
        part[REACH] = min(part[IMP], vector[REACH] * weight // whole)
        parts.append(part)
        remaining = [a - b for a, b in zip(remaining, part, strict=True)]
    remaining[REACH] = min(remaining[IMP], vector[REACH] * weights[-1] // whole)
    parts.append(remaining)
    return parts


def breakdown_weights(seed: int, ad_key: int, dimension: str, count: int) -> list[int]:
    h = hash_of(seed, ad_key, dimension)
    return [1 + (mix(h + i) % 9) for i in range(count)]


# --- formatting ----------------------------------------------------------------------------


def money(minor: int, offset: int) -> str:
    """Minor units -> Meta's major-unit decimal string ("5339.5", "12", "0.07")."""
    if offset == 1:
        return str(minor)
    whole, cents = divmod(minor, 100)
    if cents == 0:
        return str(whole)
    if cents % 10 == 0:
        return f"{whole}.{cents // 10}"
    return f"{whole}.{cents:02d}"


def ratio(value: float) -> str:
    """Meta's ratio strings: up to six decimals, no trailing zeros ("1.42884", "7.5", "12")."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


ACTION_TYPES = (
    ("link_click", LINK, False),
    ("landing_page_view", LPV, False),
    ("add_to_cart", ATC, True),
    ("purchase", PUR, True),
    ("lead", LEAD, True),
)
VALUE_TYPES = (("add_to_cart", ATC_VALUE), ("purchase", PUR_VALUE))
CONVERSION_TYPES = (("purchase", PUR), ("lead", LEAD))

METRIC_FIELDS = frozenset({
    "impressions", "reach", "frequency", "clicks", "inline_link_clicks", "spend", "ctr", "cpc",
    "cpm", "cpp", "actions", "action_values", "conversions", "cost_per_action_type",
    "purchase_roas",
})  # fmt: skip


def make_row_encoder(
    fields: Sequence[str], windows: Sequence[str], offset: int
) -> Callable[[list[int]], str]:
    """A function from a vector to the JSON members of the row Meta would send.

    Rows are written as JSON text directly rather than as dicts for ``json.dumps``: measured,
    this is what lets one core page out tens of thousands of rows a second. Every value is a
    number formatted by this module or a fixed ASCII name, so no escaping is needed. Built once
    per query so the per-row work is only what the request asked for.
    """
    wanted = frozenset(fields)
    window_keys = [(w, WINDOW_OFFSETS[w]) for w in windows if w in VALID_WINDOWS]
    click_keys = [(w, o) for w, o in window_keys if w != "1d_view"]
    want_actions = "actions" in wanted
    want_costs = "cost_per_action_type" in wanted
    want_values = "action_values" in wanted
    want_roas = "purchase_roas" in wanted
    want_conversions = "conversions" in wanted

    def fmt_money(value: int) -> str:
        return money(value, offset)

    def entry(action_type: str, vector: list[int], block: int, attributed: bool, fmt) -> str:
        if attributed:
            value = vector[block + 1] + vector[block + 3]
            extra = "".join(f',"{w}":"{fmt(vector[block + o])}"' for w, o in window_keys)
        else:
            value = vector[block]
            extra = "".join(f',"{w}":"{fmt(value)}"' for w, _o in click_keys)
        return f'{{"action_type":"{action_type}","value":"{fmt(value)}"{extra}}}'

    w_imps, w_reach, w_freq = "impressions" in wanted, "reach" in wanted, "frequency" in wanted
    w_clicks, w_link, w_spend = (
        "clicks" in wanted,
        "inline_link_clicks" in wanted,
        "spend" in wanted,
    )
    w_ctr, w_cpc, w_cpm, w_cpp = "ctr" in wanted, "cpc" in wanted, "cpm" in wanted, "cpp" in wanted

    def actions_json(vector: list[int], spend: int, parts: list[str]) -> None:
        actions, costs = [], []
        for action_type, block, attributed in ACTION_TYPES:
            count = vector[block + 1] + vector[block + 3] if attributed else vector[block]
            if not count:
                continue
            if want_actions:
                if window_keys:
                    actions.append(entry(action_type, vector, block, attributed, str))
                else:
                    actions.append(f'{{"action_type":"{action_type}","value":"{count}"}}')
            if want_costs:
                cost = ratio(spend / offset / count)
                costs.append(f'{{"action_type":"{action_type}","value":"{cost}"}}')
        # Lists are omitted entirely, not sent empty, when there is nothing to report.
        if actions:
            parts.append(f'"actions":[{",".join(actions)}]')
        if costs:
            parts.append(f'"cost_per_action_type":[{",".join(costs)}]')

    def lists_json(vector: list[int], spend: int, parts: list[str]) -> None:
        if want_values:
            entries = [
                entry(t, vector, block, True, fmt_money)
                for t, block in VALUE_TYPES
                if vector[block + 1] + vector[block + 3]
            ]
            if entries:
                parts.append(f'"action_values":[{",".join(entries)}]')
        if want_roas:
            purchase_value = vector[PUR_VALUE + 1] + vector[PUR_VALUE + 3]
            if purchase_value and spend:
                roas = ratio(purchase_value / spend)
                parts.append(
                    f'"purchase_roas":[{{"action_type":"omni_purchase","value":"{roas}"}}]'
                )
        if want_conversions:
            entries = [
                entry(t, vector, block, True, str)
                for t, block in CONVERSION_TYPES
                if vector[block + 1] + vector[block + 3]
            ]
            if entries:
                parts.append(f'"conversions":[{",".join(entries)}]')

    def encode(vector: list[int]) -> str:
        # Straight-line on purpose: this runs once per row and is the sandbox's hot path.
        imps, reach, clicks, spend = vector[IMP], vector[REACH], vector[CLICKS], vector[SPEND]
        parts = []
        if w_imps:
            parts.append(f'"impressions":"{imps}"')
        if w_reach:
            parts.append(f'"reach":"{reach}"')
        if w_freq and reach:
            parts.append(f'"frequency":"{ratio(imps / reach)}"')
        if w_clicks:
            parts.append(f'"clicks":"{clicks}"')
        if w_link:
            parts.append(f'"inline_link_clicks":"{vector[LINK]}"')
        if w_spend:
            parts.append(f'"spend":"{money(spend, offset)}"')
        if w_ctr and imps:
            parts.append(f'"ctr":"{ratio(clicks * 100 / imps)}"')
        if w_cpc and clicks:
            parts.append(f'"cpc":"{ratio(spend / offset / clicks)}"')
        if w_cpm and imps:
            parts.append(f'"cpm":"{ratio(spend / offset * 1000 / imps)}"')
        if w_cpp and reach:
            parts.append(f'"cpp":"{ratio(spend / offset * 1000 / reach)}"')
        if want_actions or want_costs:
            actions_json(vector, spend, parts)
        if want_values or want_roas or want_conversions:
            lists_json(vector, spend, parts)
        return ",".join(parts)

    return encode
