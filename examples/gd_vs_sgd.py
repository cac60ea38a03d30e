"""GD versus SGD: the test error of two-cluster logistic regression for several batch
fractions b (plain SGD, a fresh batch every step), DMFT curves with simulations on top."""

import matplotlib.pyplot as plt

import dmft_sgd as ds
from _common import parse
from dmft_sgd.plot import describe, save_figure

args = parse(__doc__, "gd_vs_sgd.png")
samples, d, replicas, steps = (2000, 200, 4, 60) if args.quick else (20_000, 1000, 8, 400)
base = ds.Config(alpha=2.0, delta=0.5, lam=0.05, lr=0.1, steps=steps)

fig, ax = plt.subplots(figsize=(5.5, 4))
for b in (1.0, 0.5, 0.2, 0.05):
    cfg = base.replace(batch=b)
    theory = ds.solve_dmft(cfg, samples=samples, seed=0)
    sim = ds.simulate(cfg, d=d, replicas=replicas, seed=0)
    (line,) = ax.plot(theory.t, theory.test_error, label=f"b = {b:g}" + (" (GD)" if b == 1 else ""))
    every = max(1, steps // 25)
    ax.errorbar(sim.t[::every], sim.mean("test_error")[::every], sim.sem("test_error")[::every],
                fmt="o", ms=3, color=line.get_color())
ax.set(xlabel="time $t = k\\eta$", ylabel="test error", xscale="log")
ax.set_title(f"lines: DMFT; dots: SGD at d={d}\n{describe(base)}", fontsize=8)
ax.legend()
print(save_figure(fig, args.out))
