"""The fewest Marketing API calls that the API's own rules allow for a piece of work.

This module deliberately imports nothing from ``fbads_assets``: it is the yardstick the
project's calls are measured against, so it must not inherit the project's choices. Its inputs
(rows served, objects per edge, the page-size cap) come from the sandbox, not from the client.

The rules, as Meta documents them (Meta's Insights API pages on async reports and paging):

1. An edge read returns at most ``page_size`` items per call, where ``page_size`` is the cap the
   server applies to ``limit`` (Graph silently lowers a larger ``limit`` to it). Reading N items
   therefore takes ceil(N / page_size) calls, and at least one: an empty edge still answers
   one GET with an empty ``data`` list, and only that answer proves it is empty.
2. An async insights report for one account and one date range is:
   - one ``POST /act_<id>/insights`` that creates the report run;
   - status reads of ``GET /<report_run_id>/``: Meta has no callback, so a client learns the job
     is done only by reading its status, which takes at least one read. We count exactly one
     per job: a client that knew the job's duration would wait it out and read once. Any
     further poll is the price of not knowing the duration, and is counted against the client;
   - the result pages ``GET /<report_run_id>/insights``, by rule 1 over the rows the report
     holds (ads x days with delivery, at ``time_increment=1``).
   One range per account is enough: the API accepts any range up to the 37-month look-back in
   one report, so splitting a range into several jobs is never required by the rules.
3. A batch request does not save quota: every sub-request counts toward the rate limits
   (graph-api/batch-requests). So the minimum counts status reads per job, never per batch.
4. Checking the token (``debug_token``) and reading the account's own totals to reconcile the
   ad-level rows are not needed to extract the data: their minimum is zero. The benchmark
   reports them separately as overhead, so they never hide inside the extraction figure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Rule 2: one status read per job is the least that can observe "Job Completed".
STATUS_READS_PER_JOB = 1


def pages(items: int, page_size: int) -> int:
    """Calls to read ``items`` items of one edge, ``page_size`` per call (rule 1)."""
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, got {page_size}.")
    if items < 0:
        raise ValueError(f"items must not be negative, got {items}.")
    return max(1, math.ceil(items / page_size))


@dataclass(frozen=True)
class MinimumCalls:
    """The least calls, split by the kind of call, so a shortfall can be located."""

    report_posts: int = 0
    status_reads: int = 0
    result_pages: int = 0
    object_pages: int = 0

    @property
    def total(self) -> int:
        return self.report_posts + self.status_reads + self.result_pages + self.object_pages

    def __add__(self, other: MinimumCalls) -> MinimumCalls:
        return MinimumCalls(
            self.report_posts + other.report_posts,
            self.status_reads + other.status_reads,
            self.result_pages + other.result_pages,
            self.object_pages + other.object_pages,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "report_posts": self.report_posts,
            "status_reads": self.status_reads,
            "result_pages": self.result_pages,
            "object_pages": self.object_pages,
            "total": self.total,
        }


def async_report(rows: int, page_size: int) -> MinimumCalls:
    """One account, one date range, as one async report run (rule 2)."""
    return MinimumCalls(
        report_posts=1,
        status_reads=STATUS_READS_PER_JOB,
        result_pages=pages(rows, page_size),
    )


def async_reports(rows_per_range: Iterable[int], page_size: int) -> MinimumCalls:
    """Several accounts' ranges: each is its own report; pages never span two reports."""
    return sum((async_report(rows, page_size) for rows in rows_per_range), MinimumCalls())


def object_lists(objects_per_edge: Mapping[str, int], page_size: int) -> MinimumCalls:
    """Edges such as /act_X/campaigns or /me/adaccounts, each read whole (rule 1)."""
    return MinimumCalls(
        object_pages=sum(pages(count, page_size) for count in objects_per_edge.values())
    )
