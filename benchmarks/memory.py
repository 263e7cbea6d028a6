"""Memory of the current process: now, and its high-water mark since it started."""

from __future__ import annotations

import os
import resource
import sys
import threading
import time

import psutil

MEMORY_CAP_EXIT = 70


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux: the most this process has held resident at any moment.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def start_memory_guard(cap_mb: float, poll_seconds: float = 0.2) -> threading.Thread:
    """Ends this process (exit code 70) if its RSS passes ``cap_mb``.

    A benchmark worker that outgrows the machine would otherwise push the whole machine into
    swapless OOM, where the kernel may kill an unrelated process; this way only the worker
    dies, and the scenario reports that it hit the cap.
    """

    def watch() -> None:
        process = psutil.Process()
        while True:
            used = process.memory_info().rss / 2**20
            if used > cap_mb:
                sys.stderr.write(
                    f"benchmark worker: {used:.0f} MB resident, over the {cap_mb:.0f} MB cap; "
                    "stopping it before the machine runs out of memory.\n"
                )
                sys.stderr.flush()
                os._exit(MEMORY_CAP_EXIT)
            time.sleep(poll_seconds)

    guard = threading.Thread(target=watch, name="memory-guard", daemon=True)
    guard.start()
    return guard
