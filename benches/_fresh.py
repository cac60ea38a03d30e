"""Timing one DMFT solve in a fresh interpreter, so its peak memory is its own."""

from __future__ import annotations

import subprocess
import sys


def solve_in_fresh_process(config: str, solve: str) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of ``ds.solve_dmft(ds.Config(<config>), <solve>)``,
    each given as keyword-argument source text, run in a new Python process."""
    # VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec.
    code = (
        "import time, re, dmft_sgd as ds\n"
        f"cfg = ds.Config({config})\n"
        "t0 = time.perf_counter()\n"
        f"ds.solve_dmft(cfg, {solve})\n"
        "elapsed = time.perf_counter() - t0\n"
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
        "print(elapsed, int(hwm) / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, mib = out.stdout.split()
    return float(seconds), float(mib)
