"""`simulate(..., record_two_time=True)`: each replica's C(k, l) and, by a twin run with a
tiny random field, R(k, l) (theory.md section 4.7), against their definitions, the exact
linear propagator and the DMFT.

Every statistical tolerance is a multiple of the standard error it expects."""

import numpy as np
import pytest

import dmft_sgd as ds

#: Full-batch GD with the square loss on the linear teacher: a linear recursion.
LINEAR_GD = dict(data="teacher", teacher="linear", loss="square", lam=0.5, lr=0.1, alpha=3.0, batch=1.0)


def test_c_is_symmetric_with_q_on_its_diagonal_and_r_is_causal():
    cfg = ds.Config(alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3, tau=1.0, temperature=0.01, steps=15)
    sim = ds.simulate(cfg, d=120, replicas=3, seed=4, threads=1, record_two_time=True)
    assert sim.C is not None and sim.R is not None
    assert sim.C.shape == sim.R.shape == (3, 15, 15)
    assert np.array_equal(np.diagonal(sim.C, axis1=1, axis2=2), sim.q)
    assert np.array_equal(sim.C, sim.C.transpose(0, 2, 1))
    below = np.tril_indices(15, -1)
    assert np.all(np.triu(sim.R) == 0.0) and np.all(sim.R[:, below[0], below[1]] != 0.0)
    # C(k, l) = w(k)·w(l)/d - m(k) m(l) is bounded by Cauchy-Schwarz on w_perp.
    q = sim.q[:, :, None] * sim.q[:, None, :]
    assert np.all(sim.C**2 <= q * (1 + 1e-12))


def test_mean_c_and_r_agree_with_the_dmft():
    # 16 replicas: at 8, a sem of 7 degrees of freedom is now and then 3x small by chance
    # on some of the 190 entries of R (2 seeds in 8 failed; 0 in 10 at 16).
    cfg = ds.Config(steps=20, **LINEAR_GD)
    sim = ds.simulate(cfg, d=2000, replicas=16, seed=1, threads=2, record_two_time=True)
    res = ds.solve_dmft(cfg, samples=20_000, seed=0)
    for name in ("C", "R"):
        diff = sim.mean(name) - res.mean(name)
        allowed = 4 * np.hypot(sim.sem(name), res.sem(name)) + 0.01
        assert np.all(np.abs(diff) <= allowed), (name, np.abs(diff / allowed).max())
    # The field's own response on the first subdiagonal is 1 (exact in the DMFT).
    assert np.diagonal(res.R, -1) == pytest.approx(1.0, abs=1e-12)
    assert np.abs(np.diagonal(sim.mean("R"), -1) - 1).max() < 4 * np.diagonal(sim.sem("R"), -1).max()


def test_one_replica_r_is_the_propagator_trace_within_the_stated_noise():
    # w(k+1) = A w(k) + b with A = (1 - lr lam) I - lr X^T X/d, so R(k, l) = tr A^(k-l-1)/d,
    # which self-averages (O(1/d)): numpy's own X gives it. The twin estimates it with the
    # variance (1/d) [2 a_(k-l-1) + sum_(l' < k, l' != l) a_(k-l'-1)], a_j = tr A^(2j)/d
    # (theory.md section 4.7): the z-scores of 190 entries must be unit normal.
    steps, d, lr, lam, alpha = 20, 1000, 0.1, 0.5, 3.0
    cfg = ds.Config(steps=steps, **LINEAR_GD)
    sim = ds.simulate(cfg, d=d, replicas=1, seed=0, threads=2, record_two_time=True)
    x = np.random.default_rng(0).standard_normal((int(alpha * d), d))
    a = 1 - lr * lam - lr * np.linalg.eigvalsh(x.T @ x / d)
    moment = np.array([np.mean(a**j) for j in range(2 * steps)])
    k, l = np.tril_indices(steps, -1)
    expected = moment[k - l - 1]
    lag2 = 2 * (k[:, None] - np.arange(steps)[None, :] - 1)  # 2 (k - l' - 1), valid for l' < k
    cross = np.where(np.arange(steps)[None, :] < k[:, None], moment[np.clip(lag2, 0, None)], 0.0)
    variance = (moment[2 * (k - l - 1)] + cross.sum(axis=1)) / d
    z = (sim.R[0][k, l] - expected) / np.sqrt(variance)
    assert np.abs(z).max() < 5
    # Measured over 12 seeds: RMS 0.93-1.15.
    assert 0.75 < np.sqrt(np.mean(z**2)) < 1.3
    # Noise of order sqrt(k/d) at this d, never bias: the mean z over entries is small.
    assert abs(z.mean()) < 0.6


def test_without_record_two_time_nothing_changes_and_nothing_is_recorded():
    cfg = ds.Config(alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3, momentum=0.5, steps=12)
    plain = ds.simulate(cfg, d=60, replicas=3, seed=7, threads=1)
    two = ds.simulate(cfg, d=60, replicas=3, seed=7, threads=1, record_two_time=True)
    assert plain.C is None and plain.R is None
    for name in ("m", "q", "train_loss", "test_loss", "train_error", "test_error"):
        assert np.array_equal(getattr(plain, name), getattr(two, name)), name
    with pytest.raises(ValueError, match="record_two_time=True"):
        plain.mean("C")
    with pytest.raises(ValueError, match="record_two_time=True"):
        plain.sem("R")
    with pytest.raises(TypeError, match="record_two_time"):
        ds.simulate(cfg, d=60, replicas=3, record_two_time=1)  # type: ignore[arg-type]
    # A run whose history of w and T x T matrices cannot fit is refused before any work.
    long = ds.Config(steps=10**6)
    with pytest.raises(MemoryError, match="record_two_time=False"):
        ds.simulate(long, d=1000, replicas=2, record_two_time=True)


def test_c_and_r_do_not_depend_on_the_thread_count(tmp_path):
    cfg = ds.Config(data="teacher", alpha=2.0, lam=0.05, lr=0.2, batch=0.5, loss="squared_hinge", steps=10)
    one = ds.simulate(cfg, d=80, replicas=4, seed=3, threads=1, record_two_time=True)
    two = ds.simulate(cfg, d=80, replicas=4, seed=3, threads=2, record_two_time=True)
    assert np.array_equal(one.C, two.C) and np.array_equal(one.R, two.R)
    # mean and sem over replicas, a file and an xarray Dataset carry them.
    assert one.mean("R").shape == (10, 10)
    assert np.array_equal(one.sem("C"), one.C.std(axis=0, ddof=1) / 2)
    same = ds.load(one.save(tmp_path / "two.npz"))
    assert np.array_equal(same.C, one.C) and np.array_equal(same.R, one.R)
    plain = ds.load(ds.simulate(cfg, d=80, replicas=2, seed=3).save(tmp_path / "plain.npz"))
    assert plain.C is None and plain.R is None
    pytest.importorskip("xarray")
    data = one.to_xarray()
    assert data["R"].dims == ("replica", "t", "t_prime")
    assert np.array_equal(data["C_mean"].values, one.mean("C"))
