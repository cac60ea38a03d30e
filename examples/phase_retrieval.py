"""Phase retrieval (y = h0^2, student o = h^2, square loss) from a small overlap m0: gradient
descent against persistent SGD at the same learning rate. m = 0 is an unstable fixed point;
how fast and how far the overlap grows depends on the noise of the mini-batches."""

import matplotlib.pyplot as plt

import dmft_sgd as ds
from _common import parse
from dmft_sgd.plot import describe, save_figure

args = parse(__doc__, "phase_retrieval.png")
samples, d, replicas, steps = (2000, 200, 4, 100) if args.quick else (32_000, 1000, 8, 800)
base = ds.Config(data="teacher", teacher="square", loss="square", alpha=4.0, lr=0.01, m0=0.1,
                 steps=steps)

fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for label, cfg in [("GD", base), ("persistent SGD, b = 0.5, τ = 0.5", base.replace(batch=0.5, tau=0.5))]:
    theory = ds.solve_dmft(cfg, samples=samples, seed=0)
    sim = ds.simulate(cfg, d=d, replicas=replicas, seed=0)
    every = max(1, steps // 25)
    for ax, name in zip(axes, ("m", "train_loss")):
        mean, sem = theory.mean(name), theory.sem(name)
        (line,) = ax.plot(theory.t, mean, label=f"{label}: DMFT")
        ax.fill_between(theory.t, mean - sem, mean + sem, color=line.get_color(), alpha=0.25, lw=0)
        ax.errorbar(sim.t[::every], sim.mean(name)[::every], sim.sem(name)[::every], fmt="o", ms=3,
                    color=line.get_color(), label=f"{label}: d={d}")
axes[0].set(xlabel="time $t = k\\eta$", ylabel="overlap $m$")
axes[1].set(xlabel="time $t = k\\eta$", ylabel="training loss", yscale="log")
axes[0].legend(fontsize=8)
fig.suptitle(describe(base), fontsize=8)
fig.tight_layout()
print(save_figure(fig, args.out))
