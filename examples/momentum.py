"""Momentum: the test error of two-cluster logistic regression under GD, heavy-ball and
Nesterov momentum (beta = 0.8) and plain SGD with momentum (b = 0.3), DMFT curves with
simulations on top. At the same learning rate momentum moves faster, by about 1/(1 - beta)
once the velocity has built up."""

import matplotlib.pyplot as plt

import dmft_sgd as ds
from _common import parse
from dmft_sgd.plot import describe, save_figure

args = parse(__doc__, "momentum.png")
samples, d, replicas, steps = (2000, 200, 4, 40) if args.quick else (20_000, 1000, 8, 200)
base = ds.Config(alpha=2.0, delta=0.5, lam=0.05, lr=0.05, steps=steps)
runs = {
    "GD": base,
    "heavy ball, β = 0.8": base.replace(momentum=0.8),
    "Nesterov, β = 0.8": base.replace(momentum=0.8, nesterov=True),
    "SGD b = 0.3, heavy ball": base.replace(momentum=0.8, batch=0.3),
}

fig, ax = plt.subplots(figsize=(5.5, 4))
for label, cfg in runs.items():
    theory = ds.solve_dmft(cfg, samples=samples, seed=0)
    sim = ds.simulate(cfg, d=d, replicas=replicas, seed=0)
    (line,) = ax.plot(theory.t, theory.test_error, label=label)
    every = max(1, steps // 25)
    ax.errorbar(sim.t[::every], sim.mean("test_error")[::every], sim.sem("test_error")[::every],
                fmt="o", ms=3, color=line.get_color())
ax.set(xlabel="time $t = k\\eta$", ylabel="test error", xscale="log")
ax.set_title(f"lines: DMFT; dots: SGD at d={d}\n{describe(base)}", fontsize=8)
ax.legend(fontsize=8)
print(save_figure(fig, args.out))
