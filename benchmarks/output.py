"""Where a worker process's output goes: a log file, so the benchmark's own table stays legible."""

from __future__ import annotations

import os
import sys


def send_output_to(path: str | None) -> None:
    """Points this process's stdout and stderr (file descriptors 1 and 2) at ``path``."""
    if not path:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    os.close(descriptor)
