"""Finite-size effects: simulations at growing d approach the DMFT (d -> infinity). The
ensemble spread shrinks like 1/sqrt(d), the training-set quantities carry O(1/d) biases."""

import matplotlib.pyplot as plt

import dmft_sgd as ds
from _common import parse
from dmft_sgd.plot import describe, save_figure

args = parse(__doc__, "finite_size.png")
samples, sizes, replicas, steps = (2000, (50, 200), 4, 60) if args.quick else (20_000, (50, 200, 800, 3200), 8, 200)
cfg = ds.Config(alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3, steps=steps)

theory = ds.solve_dmft(cfg, samples=samples, seed=0)
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, name in zip(axes, ("train_error", "q")):
    ax.plot(theory.t, getattr(theory, name), "k-", lw=2, label="DMFT")
for d in sizes:
    sim = ds.simulate(cfg, d=d, replicas=replicas, seed=0)
    for ax, name in zip(axes, ("train_error", "q")):
        mean, sem = sim.mean(name), sim.sem(name)
        (line,) = ax.plot(sim.t, mean, lw=1, label=f"d = {d}")
        ax.fill_between(sim.t, mean - sem, mean + sem, color=line.get_color(), alpha=0.2, lw=0)
for ax, label in zip(axes, ("training error", "q")):
    ax.set(xlabel="time $t = k\\eta$", ylabel=label, xscale="log")
axes[0].legend()
fig.suptitle(f"SGD ensembles ({replicas} runs, mean ± sem) vs DMFT — {describe(cfg)}", fontsize=8)
fig.tight_layout()
print(save_figure(fig, args.out))
