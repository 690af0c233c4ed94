"""Freed heap goes back to the operating system after a large request."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc
from callreport.memory import LIBC, give_back, tune_process

def rss_mb():
    with open("/proc/self/status") as f:
        return int(f.read().split("VmRSS:")[1].split()[0]) // 1024

tune_process()
assert LIBC is not None
blocks = [bytes(2048) + bytes([i % 256]) for i in range(100_000)]  # ~200 MB through malloc
keep = blocks[-1]
del blocks
gc.collect()
before = rss_mb()
give_back()
print(before, rss_mb())
"""


def test_give_back_returns_freed_heap() -> None:
    # In a fresh process, so the suite's own heap does not blur the figures.
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    before, after = map(int, out.split())
    assert before - after >= 100, (before, after)
