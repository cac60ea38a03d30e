"""The finite-d ensemble: statistics of the batch chain, physics at t = 0 and at long
times, determinism across thread counts, divergence and argument errors.

Every statistical tolerance is a multiple of the standard error it expects."""

import math

import numpy as np
import pytest

import dmft_sgd as ds


def test_batch_chain_occupation_and_dwell_times():
    lr, b, tau = 0.1, 0.3, 2.0
    cfg = ds.Config(lr=lr, batch=b, tau=tau, steps=400)
    s = ds.minibatch_chain(20_000, cfg, seed=3)
    assert s.shape == (400, 20_000) and s.dtype == np.bool_
    # Occupation: every step is a Bernoulli(b) sample of 20000 (stationary from s(0)).
    occ = s.mean(axis=1)
    se = math.sqrt(b * (1 - b) / s.shape[1])
    assert np.abs(occ - b).max() < 5 * se
    # Switching probabilities estimated from transition counts, then the mean dwell
    # times in physical time: b tau/(1-b) in the batch and tau out of it.
    was_in, now_in = s[:-1], s[1:]
    n_in, n_out = was_in.sum(), (~was_in).sum()
    p_off = (was_in & ~now_in).sum() / n_in
    p_on = (~was_in & now_in).sum() / n_out
    p_off_exact, p_on_exact = lr * (1 - b) / (b * tau), lr / tau
    assert abs(p_off - p_off_exact) < 5 * math.sqrt(p_off_exact * (1 - p_off_exact) / n_in)
    assert abs(p_on - p_on_exact) < 5 * math.sqrt(p_on_exact * (1 - p_on_exact) / n_out)
    dwell_in, dwell_out = lr / p_off, lr / p_on
    assert dwell_in == pytest.approx(b * tau / (1 - b), rel=0.01)
    assert dwell_out == pytest.approx(tau, rel=0.01)


def test_plain_sgd_draws_a_fresh_batch_every_step():
    cfg = ds.Config(lr=0.2, batch=0.25, steps=200)
    s = ds.minibatch_chain(5_000, cfg, seed=1).astype(float)
    # Lag-1 correlation of independent Bernoulli draws: 0 with sd 1/sqrt(N).
    a, c = s[:-1].ravel() - 0.25, s[1:].ravel() - 0.25
    corr = (a * c).mean() / (0.25 * 0.75)
    assert abs(corr) < 5 / math.sqrt(a.size)


def test_shapes_and_time_axis():
    cfg = ds.Config(steps=7, lr=0.3)
    sim = ds.simulate(cfg, d=20, replicas=3, seed=0)
    for name in ds.OBSERVABLES:
        assert getattr(sim, name).shape == (3, 7)
        assert getattr(sim, name).dtype == np.float64
        assert sim.mean(name).shape == sim.sem(name).shape == (7,)
    np.testing.assert_allclose(sim.t, 0.3 * np.arange(7))


def test_initial_test_error_is_chance_for_zero_overlap():
    cfg = ds.Config(steps=1)
    sim = ds.simulate(cfg, d=200, replicas=64, seed=4)
    e0 = sim.test_error[:, 0]
    assert abs(e0.mean() - 0.5) < 4 * e0.std(ddof=1) / math.sqrt(e0.size)
    # And m(0) = sqrt(q0) z.v*/d ~ N(0, q0/d), q(0) ~ q0.
    m0 = sim.m[:, 0]
    assert abs(m0.mean()) < 4 / math.sqrt(200 * 64)
    assert m0.std(ddof=1) == pytest.approx(1 / math.sqrt(200), rel=4 / math.sqrt(2 * 63))


def test_square_loss_gd_reaches_the_replica_erm_values():
    # theory.md section 4: two clusters, alpha=2, Delta=0.5, lambda=0.1, square loss:
    # test error 0.156292, training loss 0.086729 at d -> infinity. Tolerance: 4 standard
    # errors of the ensemble mean plus 2/d for the O(1/d) finite-size bias.
    d = 400
    cfg = ds.Config(loss="square", lam=0.1, lr=0.2, steps=500)
    sim = ds.simulate(cfg, d=d, replicas=24, seed=7)
    for name, exact in [("test_error", 0.156292), ("train_loss", 0.086729)]:
        mean, sem = sim.mean(name)[-1], sim.sem(name)[-1]
        assert abs(mean - exact) < 4 * sem + 2 / d, (name, mean, sem)


def test_same_seed_same_numbers_for_every_thread_count():
    cfg = ds.Config(batch=0.3, tau=1.0, lam=0.1, steps=30)
    runs = [ds.simulate(cfg, d=60, replicas=5, seed=21, threads=t) for t in (1, 2, 3, None)]
    for other in runs[1:]:
        for name in ds.OBSERVABLES:
            np.testing.assert_array_equal(getattr(runs[0], name), getattr(other, name))
    different = ds.simulate(cfg, d=60, replicas=5, seed=22)
    assert not np.array_equal(different.m, runs[0].m)


def test_a_replica_does_not_depend_on_how_many_there_are():
    cfg = ds.Config(batch=0.5, steps=10)
    few = ds.simulate(cfg, d=30, replicas=2, seed=5)
    many = ds.simulate(cfg, d=30, replicas=6, seed=5)
    np.testing.assert_array_equal(few.q, many.q[:2])


def test_divergence_is_reported_with_its_step():
    cfg = ds.Config(loss="square", lr=3.0, steps=500)
    with pytest.raises(ds.DivergenceError, match=r"replica \d+ diverged at step \d+: .*smaller lr \(now 3\)"):
        ds.simulate(cfg, d=50, replicas=2, seed=0)


def test_progress_is_reported():
    seen = []
    cfg = ds.Config(steps=400, batch=0.5)
    ds.simulate(cfg, d=400, replicas=4, seed=0, threads=1, progress=lambda done, total: seen.append((done, total)))
    assert seen, "a run of a few hundred ms reports progress"
    assert all(total == 1600 and 0 < done <= 1600 for done, total in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_errors_in_the_progress_callback_stop_the_run():
    def fail(done, total):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        ds.simulate(ds.Config(steps=2000), d=500, replicas=2, seed=0, threads=1, progress=fail)


@pytest.mark.parametrize(
    "kwargs,exc,msg",
    [
        (dict(d=0), ValueError, "d must be >= 1"),
        (dict(d=2.5), TypeError, "d must be an integer"),
        (dict(replicas=0), ValueError, "replicas must be >= 1"),
        (dict(seed=-3), ValueError, "seed must be >= 0"),
        (dict(seed=2**64), ValueError, "seed must be <="),
        (dict(threads=0), ValueError, "threads must be >= 1"),
        (dict(threads=-1), ValueError, "threads must be >= 1"),
        (dict(cfg={"alpha": 2}), TypeError, "cfg must be a dmft_sgd.Config"),
    ],
)
def test_bad_arguments_are_named(kwargs, exc, msg):
    args = {**dict(cfg=ds.Config(steps=2), d=10, replicas=2, seed=0), **kwargs}
    with pytest.raises(exc, match=msg):
        ds.simulate(**args)


def test_tiny_alpha_times_d_is_refused():
    with pytest.raises(ValueError, match=r"^d gives n = round\(alpha\*d\) = 0"):
        ds.simulate(ds.Config(alpha=0.01, steps=2), d=10, replicas=1)


def test_memory_beyond_the_machine_is_refused_up_front():
    with pytest.raises(MemoryError, match="MiB of memory"):
        ds.simulate(ds.Config(alpha=50.0, steps=2), d=200_000, replicas=2)
