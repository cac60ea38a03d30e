"""Progress bars (issue 25 item 9): a DMFT's bar estimates the time left by the core's
cost of each step, not by steps; in a notebook without ipywidgets no warning."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import dmft_sgd as ds
from dmft_sgd import _core
from dmft_sgd._progress import Bar, _tqdm_class


def test_a_dmft_step_costs_more_the_later_it_comes():
    cfg = ds.Config(lr=0.05, batch=0.3, steps=400)
    probe = _core.step_costs(cfg.to_dict(), samples=20000, groups=None, response_samples=None,
                             response="probe", band=16)
    tangent = _core.step_costs(cfg.to_dict(), samples=20000, groups=None, response_samples=None,
                               response="tangent", band=16)
    assert probe.shape == tangent.shape == (400,)
    assert np.all(np.diff(probe) > 0) and np.all(tangent >= probe)
    # Half the steps are about a quarter of a history-bound run's cost (the samples' side
    # grows like k): a bar by steps would say 50% where 27% of the work is done.
    done = probe[:200].sum() / probe.sum()
    assert 0.24 < done < 0.30, done


def test_the_bar_fills_by_cost():
    bar = Bar("DMFT", costs=[1.0, 1.0, 2.0, 4.0])
    bar(2, 4)
    assert bar.bar.n == 2.0 and bar.bar.total == 8.0
    bar(4, 4)
    assert bar.bar.n == 8.0 and bar.bar.desc == "DMFT 4/4 steps"
    bar.close()


def test_no_ipywidgets_warning_in_a_notebook(monkeypatch):
    import tqdm.std

    monkeypatch.setitem(sys.modules, "ipykernel", sys)  # as inside a Jupyter kernel
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # ... without ipywidgets
    assert _tqdm_class() is tqdm.std.tqdm
    bar = Bar("SGD")
    bar(3, 10)
    assert bar.bar.delay == 0.5  # a short run shows no bar rather than a 0-to-100% flash
    bar.close()


def test_progress_true_still_counts_steps(capsys):
    ds.solve_dmft(ds.Config(lr=0.1, batch=0.5, steps=30), samples=200, progress=True)
    assert "DMFT 30/30 steps: 100%" in capsys.readouterr().err
    with pytest.raises(TypeError):
        ds.solve_dmft(ds.Config(steps=5), samples=200, progress=3)
