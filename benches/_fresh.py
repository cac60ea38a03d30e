"""Timing one DMFT solve in a fresh interpreter, so its peak memory is its own."""

from __future__ import annotations

import json
import subprocess
import sys


def solve_in_fresh_process(config: str, solve: str) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of ``ds.solve_dmft(ds.Config(<config>), <solve>)``,
    each given as keyword-argument source text, run in a new Python process."""
    seconds, mib, _ = profile_in_fresh_process(config, solve)
    return seconds, mib


def profile_in_fresh_process(config: str, solve: str) -> tuple[float, float, dict[str, float]]:
    """(seconds, peak RSS in MiB, CPU seconds of each stage) of one solve of
    ``ds.Config(<config>)`` with the options `solve` (keyword-argument source text, the
    defaults of ``ds.solve_dmft`` otherwise), run in a new Python process; the stages are
    the core's (``_core.DmftSolution.stage_seconds``)."""
    # VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec.
    code = (
        "import json, time, re, dmft_sgd as ds\n"
        "from dmft_sgd import _core\n"
        "from dmft_sgd.dmft import DEFAULTS\n"
        f"cfg = ds.Config({config})\n"
        f"options = {{**DEFAULTS, 'groups': None, 'threads': None, 'keep_groups': None, **dict({solve})}}\n"
        "t0 = time.perf_counter()\n"
        "solution = _core.solve_dmft(cfg.to_dict(), **options)\n"
        "elapsed = time.perf_counter() - t0\n"
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
        "print(json.dumps([elapsed, int(hwm) / 1024, solution.stage_seconds]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, mib, stages = json.loads(out.stdout)
    return float(seconds), float(mib), stages


def profile_line(stages: dict[str, float]) -> str:
    """The stages' shares of the CPU time, largest first: "response 66%, samples 12%, ..."."""
    total = sum(stages.values()) or 1.0
    ranked = sorted(stages.items(), key=lambda item: -item[1])
    return ", ".join(f"{name} {seconds / total:.0%}" for name, seconds in ranked if seconds / total >= 0.005)
