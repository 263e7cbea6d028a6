"""The integer hash every sandbox number comes from.

A counter-based generator (splitmix64's finaliser) rather than ``random.Random``: any value is a
pure function of (seed, object, day), so a page in the middle of a report can be generated
without generating the pages before it, and a restart with the same seed gives the same data.
"""

from __future__ import annotations

MASK = 0xFFFFFFFFFFFFFFFF
GOLDEN = 0x9E3779B97F4A7C15


def mix(x: int) -> int:
    x &= MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def hash_of(*parts: int | str) -> int:
    """A 64-bit hash of ints and strings, stable across processes (unlike ``hash()``)."""
    h = 0x243F6A8885A308D3
    for part in parts:
        if isinstance(part, str):
            value = 0
            for byte in part.encode():
                value = (value * 131 + byte) & MASK
        else:
            value = part
        h = mix(h ^ ((value * GOLDEN) & MASK))
    return h
