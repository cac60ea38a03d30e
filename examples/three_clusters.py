"""Three clusters with the symmetric door output o = h^2 - theta: the centre cluster has label
-1, the outer ones +1. Learning starts from a small overlap m0 (m = 0 is an unstable
fixed point) and escapes faster or slower depending on the batch fraction b."""

import matplotlib.pyplot as plt

import dmft_sgd as ds
from _common import parse
from dmft_sgd.plot import describe, save_figure

args = parse(__doc__, "three_clusters.png")
samples, d, replicas, steps = (2000, 200, 4, 60) if args.quick else (20_000, 1000, 8, 300)
base = ds.Config(clusters=3, rho=0.6, alpha=3.0, delta=0.1, threshold=1.0, lam=0.01, lr=0.1,
                 m0=0.2, q0=0.5, steps=steps)

fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for b in (1.0, 0.5, 0.2):
    cfg = base.replace(batch=b)
    theory = ds.solve_dmft(cfg, samples=samples, seed=0)
    sim = ds.simulate(cfg, d=d, replicas=replicas, seed=0)
    every = max(1, steps // 25)
    for ax, name in zip(axes, ("test_error", "m")):
        (line,) = ax.plot(theory.t, getattr(theory, name), label=f"b = {b:g}")
        ax.errorbar(sim.t[::every], sim.mean(name)[::every], sim.sem(name)[::every], fmt="o", ms=3,
                    color=line.get_color())
for ax, label in zip(axes, ("test error", "magnetisation m")):
    ax.set(xlabel="time $t = k\\eta$", ylabel=label)
axes[0].legend()
fig.suptitle(f"lines: DMFT; dots: SGD at d={d} — {describe(base)}", fontsize=8)
fig.tight_layout()
print(save_figure(fig, args.out))
