"""The matrix as an ordered list of kernel x device targets, and its deterministic shards.

Shard i/n (1-based) takes every n-th target starting at the i-th, so shards are disjoint, cover
the matrix, and do not depend on the machine, the time or the cache.
"""
from __future__ import annotations


def parse_shard(text: str | None) -> tuple[int, int]:
    if not text:
        return 1, 1
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard wants i/n (e.g. 2/4), got {text!r}") from None
    if n < 1 or not 1 <= i <= n:
        raise ValueError(f"--shard {text}: need 1 <= i <= n")
    return i, n


def targets(kernels: list[str], devices: list[str]) -> list[tuple[str, str]]:
    """Kernel-major order, as the user listed them."""
    return [(k, d) for k in kernels for d in devices]


def shard(items: list, i: int, n: int) -> list:
    return items[i - 1::n]
