"""Progress reporting: ``progress=True`` shows a tqdm bar (terminal or notebook), a
callable is called as ``progress(done, total)``."""

from __future__ import annotations

import itertools
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

ProgressCallback = Callable[[int, int], Any]


def _tqdm_class() -> Any:
    """tqdm's notebook bar inside a Jupyter kernel that has ipywidgets, else its text
    bar: never tqdm.auto's warning that IProgress is missing."""
    from tqdm.auto import tqdm

    if "ipykernel" in sys.modules:
        import importlib.util

        if importlib.util.find_spec("ipywidgets") is None:
            from tqdm.std import tqdm
    return tqdm


class Bar:
    """A tqdm bar created on the first update, so a run that fails its checks shows none.
    ``quiet`` (or tqdm missing) turns it into a no-op. With `per`, every `per` reported
    units count as one (the ensemble reports replica-steps; ``per=replicas`` shows steps).
    With `costs` (the relative cost of each step, e.g. a DMFT's, whose later steps cost
    more) the bar fills, and estimates the time left, by cost done rather than steps done,
    and shows the step count in its description. In a notebook a run shorter than half a second
    shows no bar (no widget flashing from 0 to 100%)."""

    def __init__(self, desc: str, unit: str = "step", quiet: bool = False, leave: bool = False, per: int = 1,
                 costs: Sequence[float] | None = None):
        self.bar: Any = None
        self.desc, self.unit, self.quiet, self.leave, self.per = desc, unit, quiet, leave, max(1, per)
        self.done_cost = None if costs is None else [0.0, *itertools.accumulate(costs)]

    def __call__(self, done: int, total: int) -> None:
        if self.quiet:
            return
        if self.bar is None:
            try:
                tqdm = _tqdm_class()
            except ImportError:
                self.quiet = True
                return
            notebook = "ipykernel" in sys.modules
            options: dict[str, Any] = dict(desc=self.desc, unit=self.unit, leave=self.leave, file=sys.stderr,
                                           delay=0.5 if notebook else 0.0)
            if self.done_cost is None:
                self.bar = tqdm(total=total // self.per, **options)
            else:
                self.bar = tqdm(total=self.done_cost[-1], **options,
                                bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]")
        steps = done // self.per
        if self.done_cost is None:
            self.bar.update(steps - self.bar.n)
        else:
            steps = min(steps, len(self.done_cost) - 1)
            self.bar.set_description_str(f"{self.desc} {steps}/{total // self.per} {self.unit}s", refresh=False)
            self.bar.update(self.done_cost[steps] - self.bar.n)

    def note(self, **counts: int) -> None:
        """Shows `counts` after the bar (e.g. ``failed=2``)."""
        if self.bar is not None:
            self.bar.set_postfix(counts, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextmanager
def reporter(
    progress: bool | ProgressCallback | None, total: int, desc: str, unit: str = "step", per: int = 1,
    costs: Callable[[], Sequence[float]] | None = None,
) -> Iterator[Callable[[int], Any] | None]:
    """The ``callback(done)`` that the Rust loops call, for a ``progress`` argument of
    None/False (no reporting), True (a tqdm bar, closed on exit; `per` and `costs`, asked
    for only then, as for `Bar`) or a callable (called with the units reported)."""
    if progress is None or progress is False:
        yield None
        return
    if progress is True:
        bar = Bar(desc, unit, leave=True, per=per, costs=None if costs is None else costs())
        try:
            yield lambda done: bar(done, total)
            bar(total, total)  # a run faster than the first poll still shows its bar
        finally:
            bar.close()
        return
    if not callable(progress):
        raise TypeError(f"progress must be None, a bool or a callable, got {type(progress).__name__}")
    yield lambda done: progress(done, total)
