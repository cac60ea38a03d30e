"""Long horizons and the stochastic gradient flow: persistent SGD at a fixed persistence
time tau and batch fraction b, with smaller and smaller learning rates, up to t = 500.
As lr -> 0 at fixed tau and b the dynamics converges to a continuous-time stochastic
process (the stochastic gradient flow); T = t/lr grows to thousands of steps, where the
DMFT uses its O(S T^2) probe estimator of the response (response="auto"). Bands: the
DMFT's Monte Carlo error (8 independent groups)."""

import matplotlib.pyplot as plt

import dmft_sgd as ds
from _common import parse
from dmft_sgd.plot import describe, save_figure

args = parse(__doc__, "long_time.png")
horizon, samples, rates = (20.0, 2000, (0.4, 0.2)) if args.quick else (500.0, 8000, (0.4, 0.2, 0.1))
base = ds.Config(alpha=2.0, delta=0.5, lam=0.05, batch=0.3, tau=2.0)

fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
for lr in rates:
    cfg = base.replace(lr=lr, steps=round(horizon / lr) + 1)
    res = ds.solve_dmft(cfg, samples=samples, seed=0, keep_kernels=False, progress=not args.quick)
    label = f"η = {lr:g} (T = {cfg.steps}, {res.response})"
    for ax, name in zip(axes, ("test_error", "train_loss", "q")):
        mean, sem = res.mean(name), res.sem(name)
        (line,) = ax.plot(res.t[1:], mean[1:], lw=1.3, label=label)
        ax.fill_between(res.t[1:], (mean - sem)[1:], (mean + sem)[1:], color=line.get_color(), alpha=0.25, lw=0)
for ax, label in zip(axes, ("test error", "training loss", "q = |w_⊥|²/d")):
    ax.set(xlabel="time $t = k\\eta$", ylabel=label, xscale="log")
    ax.grid(alpha=0.3)
axes[0].legend(fontsize=8)
setting = describe(base, omit=["lr"])
fig.suptitle(f"DMFT towards the stochastic gradient flow (η → 0 at fixed τ, b) — {setting}", fontsize=8)
fig.tight_layout()
print(save_figure(fig, args.out))
