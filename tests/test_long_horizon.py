"""A long horizon against the finite-d simulation: persistent SGD at lr = 0.05 for
T = 2000 steps (t = 100), where the DMFT runs the probe estimator (response="auto")."""

import numpy as np
import pytest

import dmft_sgd as ds


@pytest.mark.slow
def test_persistent_sgd_to_t_100_matches_the_simulation():
    cfg = ds.Config(alpha=2.0, delta=0.5, lam=0.1, lr=0.05, batch=0.3, tau=1.0, steps=2000)
    d = 2000
    sim = ds.simulate(cfg, d=d, replicas=8, seed=1)
    theory = ds.solve_dmft(cfg, samples=8000, seed=1)
    assert theory.response == "probe"
    for t in (10, 50, 100):
        k = min(round(t / cfg.lr), cfg.steps - 1)
        for obs in ds.OBSERVABLES:
            se = np.hypot(sim.sem(obs)[k], theory.sem(obs)[k])
            gap = abs(sim.mean(obs)[k] - theory.mean(obs)[k])
            # 4 combined standard errors (8 replicas, 8 groups: t with 7 degrees of
            # freedom) plus 1/d for the simulation's finite-size bias.
            assert gap <= 4 * se + 1 / d, (t, obs, theory.mean(obs)[k], sim.mean(obs)[k], se)
