"""Exact d -> inf solution of full-batch GD, square loss, linear teacher (numpy only).

Model: n = alpha d samples x_mu ~ N(0, I_d), |v*|^2 = d, h0_mu = v*.x_mu/sqrt(d),
y_mu = h0_mu + s eps_mu with s = sqrt(noise), eps_mu ~ N(0, 1).  Student h = w.x/sqrt(d),
    w_{k+1} = (1 - lr lam) w_k - lr sum_mu (h_mu - y_mu) x_mu/sqrt(d),
    w_0 = m0 v* + sqrt(q0) z0.
With A = X^T X/d and b = X^T eps/sqrt(d) the gradient is A w - A v* - s b, so
    w_k = a_k(A) v* + c_k(A) z0 + e_k(A) b,   beta(l) = 1 - lr (l + lam),
    a_{k+1} = beta a_k + lr l,  c_{k+1} = beta c_k,  e_{k+1} = beta e_k + lr s,
    a_0 = m0, c_0 = sqrt(q0), e_0 = 0.
v*, z0 are isotropic in A's eigenbasis and independent of eps, so for d -> inf
v*.f(A)v*/d = z0.f(A)z0/d -> <f>, cross terms -> 0, b.f(A)b/d -> <l f> (and the
train-loss cross term eps.X f(A) b/sqrt(d) = b.f(A)b), where <f> = int f dmu, mu the
spectral measure of A:
    dmu(l) = sqrt((l+ - l)(l - l-))/(2 pi l) dl on [l-, l+], l_pm = (1 pm sqrt(alpha))^2,
    plus an atom of mass 1 - alpha at l = 0 when alpha < 1.
Hence
    m = <a>,   q = <a^2 + c^2 + l e^2> - m^2,
    train_loss = (<l ((1-a)^2 + c^2 + l e^2)> - 2 s <l e> + alpha s^2) / (2 alpha),
    test_loss  = ((1 - m)^2 + q + noise)/2.
Quadrature: l = centre + halfwidth cos(theta) turns the density into
halfwidth^2 sin^2(theta)/(2 pi l) dtheta on [0, pi]; the N-point midpoint rule in theta
(Gauss-Chebyshev) is exact for sin^2(theta) g(l) with g a polynomial of degree < 2N - 2,
i.e. for f(l) - f(0) = l g(l).  A node at l = 0 carrying the remaining mass
1 - sum(weights) (= 1 - alpha + rounding when alpha < 1) then makes <f> exact for every
polynomial f of degree < 2N - 1, for any alpha (also alpha ~ 1, where 1/l is near-singular).
The observables at step k are polynomials of degree <= 2k + 2, so N = steps + 32 is exact.
GD does not diverge iff |1 - lr (lam + l)| <= 1 on the spectrum, i.e. lr (lam + l+) <= 2
and lr (lam + l-) >= 0 (l- -> 0 if alpha < 1); otherwise a warning (formulas still hold).
"""
import warnings

import numpy as np


def spectrum(alpha, nodes):
    """Nodes and weights of the spectral measure mu of A = X^T X/d (see module doc)."""
    lo, hi = (1 - np.sqrt(alpha)) ** 2, (1 + np.sqrt(alpha)) ** 2
    theta = (np.arange(nodes) + 0.5) * np.pi / nodes
    half = (hi - lo) / 2
    lam = (hi + lo) / 2 + half * np.cos(theta)
    wts = half**2 * np.sin(theta) ** 2 / (2 * nodes * lam)
    return np.append(lam, 0.0), np.append(wts, 1.0 - wts.sum())


def teacher_gd_exact(alpha, lam, lr, m0, q0, steps, noise=0.0, nodes=None, momentum=0.0,
                     nesterov=False):
    """m, q, train_loss, test_loss at steps k = 0..steps-1 (d -> inf, see module doc).

    With momentum beta (PyTorch's SGD: v <- beta v + g, w <- w - lr v, or w <- w - lr
    (g + beta v) for Nesterov, g = (A + lam) w - A v* - s b the full-batch gradient),
    each coefficient f in (a, c, e) follows a two-term linear recurrence per eigenvalue:
    g_f = (l + lam) f - (l, 0, s)_f, v_f <- beta v_f + g_f, f <- f - lr (v_f or
    g_f + beta v_f), with v_f = 0 at k = 0 (beta = 0 is GD). `lr` may be a sequence of
    `steps` rates, one per step (a schedule)."""
    if noise < 0:
        raise ValueError("noise must be >= 0")
    l, wt = spectrum(alpha, nodes or steps + 32)
    rates = np.broadcast_to(np.asarray(lr, dtype=float), (steps,))
    lr = float(rates.max())  # the largest rate decides divergence
    edges = [(1 + np.sqrt(alpha)) ** 2, (1 - np.sqrt(alpha)) ** 2 if alpha >= 1 else 0.0]
    if max(abs(1.0 - lr * (lam + x)) for x in edges) > 1.0:
        warnings.warn("GD diverges: need 0 <= lr (lam + lambda) <= 2 on the spectrum")
    s = np.sqrt(noise)
    a = np.full_like(l, float(m0))
    c = np.full_like(l, np.sqrt(q0))
    e = np.zeros_like(l)
    va, vc, ve = np.zeros_like(l), np.zeros_like(l), np.zeros_like(l)
    out = {key: np.empty(steps) for key in ("m", "q", "train_loss", "test_loss")}
    for k in range(steps):
        lr = rates[k]
        beta = 1.0 - lr * (l + lam)
        m = wt @ a
        q = wt @ (a * a + c * c + l * e * e) - m * m
        fit = wt @ (l * ((1 - a) ** 2 + c * c + l * e * e)) - 2 * s * (wt @ (l * e))
        out["m"][k], out["q"][k] = m, q
        out["train_loss"][k] = (fit + alpha * noise) / (2 * alpha)
        out["test_loss"][k] = ((1 - m) ** 2 + q + noise) / 2
        if momentum == 0:
            a, c, e = beta * a + lr * l, beta * c, beta * e + lr * s
            continue
        ga, gc, ge = (l + lam) * a - l, (l + lam) * c, (l + lam) * e - s
        va, vc, ve = momentum * va + ga, momentum * vc + gc, momentum * ve + ge
        if nesterov:
            a, c, e = a - lr * (ga + momentum * va), c - lr * (gc + momentum * vc), e - lr * (ge + momentum * ve)
        else:
            a, c, e = a - lr * va, c - lr * vc, e - lr * ve
    return out


def teacher_gf_exact(alpha, lam, m0, q0, t, noise=0.0, nodes=400):
    """m, q, train_loss, test_loss at the times `t` of gradient flow dw/dt = -grad, the
    lr -> 0 limit of `teacher_gd_exact` at fixed t = k lr: the same spectral formulas with
    exp(-t (l + lam)) in place of the power (1 - lr (l + lam))^k, i.e. per eigenvalue
    a = m0 E + l (1 - E)/(l + lam), c = sqrt(q0) E, e = s (1 - E)/(l + lam) with
    E = exp(-t (l + lam)) ((1 - E)/(l + lam) -> t at l + lam = 0). The quadrature is no
    longer exact (the exponentials are not polynomials) but converges exponentially fast:
    400 nodes give ~1e-15 for t (l+ + lam) up to ~100."""
    if noise < 0:
        raise ValueError("noise must be >= 0")
    l, wt = spectrum(alpha, nodes)
    s = np.sqrt(noise)
    times = np.asarray(t, dtype=float)
    k = l + lam
    out = {key: np.empty(times.shape) for key in ("m", "q", "train_loss", "test_loss")}
    for i, time in enumerate(times.flat):
        decay = np.exp(-time * k)
        with np.errstate(divide="ignore", invalid="ignore"):
            grown = np.where(k > 0, -np.expm1(-time * k) / k, time)  # (1 - E)/(l + lam)
        a, c, e = m0 * decay + l * grown, np.sqrt(q0) * decay, s * grown
        m = wt @ a
        q = wt @ (a * a + c * c + l * e * e) - m * m
        fit = wt @ (l * ((1 - a) ** 2 + c * c + l * e * e)) - 2 * s * (wt @ (l * e))
        out["m"].flat[i], out["q"].flat[i] = m, q
        out["train_loss"].flat[i] = (fit + alpha * noise) / (2 * alpha)
        out["test_loss"].flat[i] = ((1 - m) ** 2 + q + noise) / 2
    return out


def simulate(alpha, lam, lr, m0, q0, steps, noise=0.0, d=1000, seed=0, momentum=0.0, nesterov=False):
    """Direct finite-d GD (with momentum) with the same conventions (for the self-test)."""
    rng = np.random.default_rng(seed)
    n = int(round(alpha * d))
    x = rng.standard_normal((n, d))
    v = rng.standard_normal(d)
    v *= np.sqrt(d) / np.linalg.norm(v)
    y = x @ v / np.sqrt(d) + np.sqrt(noise) * rng.standard_normal(n)
    w = m0 * v + np.sqrt(q0) * rng.standard_normal(d)
    vel = np.zeros(d)
    out = {key: np.empty(steps) for key in ("m", "q", "train_loss", "test_loss")}
    for k in range(steps):
        h = x @ w / np.sqrt(d)
        m = w @ v / d
        out["m"][k], out["q"][k] = m, w @ w / d - m * m
        out["train_loss"][k] = np.mean((y - h) ** 2) / 2
        out["test_loss"][k] = ((1 - m) ** 2 + out["q"][k] + noise) / 2
        g = lam * w + x.T @ (h - y) / np.sqrt(d)
        vel = momentum * vel + g
        w = w - lr * (g + momentum * vel if nesterov else vel)
    return out


if __name__ == "__main__":
    # moments <l> = alpha, <l^2> = alpha (1 + alpha); then exact vs a finite-d run
    for alpha in (0.5, 1.0, 2.0):
        l, wt = spectrum(alpha, 40)
        assert abs(wt @ l - alpha) < 1e-12 and abs(wt @ l**2 - alpha * (1 + alpha)) < 1e-12
    for extra in ({}, dict(momentum=0.8), dict(momentum=0.6, nesterov=True)):
        args = dict(alpha=2.0, lam=0.1, lr=0.1, m0=0.1, q0=1.0, steps=40, noise=0.25, **extra)
        ex = teacher_gd_exact(**args)
        runs = [simulate(**args, d=1000, seed=s) for s in range(6)]
        for key in ex:
            sims = np.array([r[key] for r in runs])
            diff = np.abs(ex[key] - sims.mean(0))
            z = diff / (sims.std(0, ddof=1) / np.sqrt(len(runs)))
            print(f"{extra} {key:10s} max |exact - mean sim| = {diff.max():.1e}, max |z| = {z.max():.1f}")
