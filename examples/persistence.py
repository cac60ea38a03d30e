"""Persistent mini-batches: at a fixed batch fraction b, a longer persistence time tau
keeps samples in the batch for longer (mean dwell b tau / (1 - b)), which changes the
noise of SGD and where it settles."""

import matplotlib.pyplot as plt

import dmft_sgd as ds
from _common import parse
from dmft_sgd.plot import describe, save_figure

args = parse(__doc__, "persistence.png")
samples, d, replicas, steps = (2000, 200, 4, 60) if args.quick else (20_000, 1000, 8, 400)
base = ds.Config(alpha=2.0, delta=0.5, lam=0.05, lr=0.1, batch=0.2, steps=steps)

fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for tau in (None, 2.0, 10.0):
    cfg = base.replace(tau=tau)
    theory = ds.solve_dmft(cfg, samples=samples, seed=0)
    sim = ds.simulate(cfg, d=d, replicas=replicas, seed=0)
    label = "plain SGD (τ = η/b)" if tau is None else f"τ = {tau:g}"
    every = max(1, steps // 25)
    for ax, name in zip(axes, ("test_error", "train_loss")):
        (line,) = ax.plot(theory.t, getattr(theory, name), label=label)
        ax.errorbar(sim.t[::every], sim.mean(name)[::every], sim.sem(name)[::every], fmt="o", ms=3,
                    color=line.get_color())
for ax, label in zip(axes, ("test error", "training loss")):
    ax.set(xlabel="time $t = k\\eta$", ylabel=label, xscale="log")
axes[0].legend()
fig.suptitle(f"lines: DMFT; dots: SGD at d={d} — {describe(base)}", fontsize=8)
fig.tight_layout()
print(save_figure(fig, args.out))
