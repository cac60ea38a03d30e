"""Progress reporting: ``progress=True`` shows a tqdm bar (terminal or notebook), a
callable is called as ``progress(done, total)``."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

ProgressCallback = Callable[[int, int], Any]


class Bar:
    """A ``tqdm.auto`` bar created on the first update, so a run that fails its checks
    shows none. ``quiet`` (or tqdm missing) turns it into a no-op. With `per`, every
    `per` reported units count as one (the ensemble reports replica-steps; ``per=replicas``
    shows steps)."""

    def __init__(self, desc: str, unit: str = "step", quiet: bool = False, leave: bool = False, per: int = 1):
        self.bar: Any = None
        self.desc, self.unit, self.quiet, self.leave, self.per = desc, unit, quiet, leave, max(1, per)

    def __call__(self, done: int, total: int) -> None:
        if self.quiet:
            return
        if self.bar is None:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                self.quiet = True
                return
            self.bar = tqdm(total=total // self.per, desc=self.desc, unit=self.unit, leave=self.leave,
                            file=sys.stderr)
        self.bar.update(done // self.per - self.bar.n)

    def note(self, **counts: int) -> None:
        """Shows `counts` after the bar (e.g. ``failed=2``)."""
        if self.bar is not None:
            self.bar.set_postfix(counts, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextmanager
def reporter(
    progress: bool | ProgressCallback | None, total: int, desc: str, unit: str = "step", per: int = 1
) -> Iterator[Callable[[int], Any] | None]:
    """The ``callback(done)`` that the Rust loops call, for a ``progress`` argument of
    None/False (no reporting), True (a tqdm bar, closed on exit; `per` as for `Bar`) or a
    callable (called with the units reported)."""
    if progress is None or progress is False:
        yield None
        return
    if progress is True:
        bar = Bar(desc, unit, leave=True, per=per)
        try:
            yield lambda done: bar(done, total)
            bar(total, total)  # a run faster than the first poll still shows its bar
        finally:
            bar.close()
        return
    if not callable(progress):
        raise TypeError(f"progress must be None, a bool or a callable, got {type(progress).__name__}")
    yield lambda done: progress(done, total)
