"""Learning-rate schedules: plain SGD (b = 0.1) on two clusters at a constant rate 0.5 and
with a linear warm-up to it followed by an exponential decay, against physical time
t = sum_{j<k} lr_j. The decay quiets the batch noise: the test error comes down below the
constant rate's at a fraction of its time. DMFT curves (with their error band),
simulations on top; the right panel shows the two schedules."""

import matplotlib.pyplot as plt
import numpy as np

import dmft_sgd as ds
from _common import parse
from dmft_sgd.plot import describe, save_figure

args = parse(__doc__, "schedule.png")
samples, d, replicas, steps = (2000, 200, 4, 60) if args.quick else (20_000, 1000, 8, 300)
k = np.arange(steps)
warm, peak = steps // 10, 0.5
decayed = peak * np.minimum(1.0, (k + 1) / warm) * np.where(k < steps // 3, 1.0, 0.5 ** ((k - steps // 3) / (steps / 8)))
base = ds.Config(alpha=2.0, delta=0.5, batch=0.1, steps=steps)
runs = {f"constant lr = {peak:g}": base.replace(lr=peak), "warm-up + decay": base.replace(lr=tuple(decayed))}

fig, (ax, ax_lr) = plt.subplots(1, 2, figsize=(9, 4), gridspec_kw={"width_ratios": [2, 1]},
                                layout="constrained")
for label, cfg in runs.items():
    theory = ds.solve_dmft(cfg, samples=samples, seed=0)
    sim = ds.simulate(cfg, d=d, replicas=replicas, seed=0)
    (line,) = ax.plot(theory.t, theory.test_error, label=label)
    sem = theory.sem("test_error")
    ax.fill_between(theory.t, theory.test_error - sem, theory.test_error + sem, color=line.get_color(), alpha=0.2)
    every = max(1, steps // 25)
    ax.errorbar(sim.t[::every], sim.mean("test_error")[::every], sim.sem("test_error")[::every],
                fmt="o", ms=3, color=line.get_color())
    rates = np.broadcast_to(np.asarray(cfg.lr), (steps,))
    ax_lr.plot(theory.t, rates, color=line.get_color())
ax.set(xlabel="time $t = \\sum_{j<k} \\eta_j$", ylabel="test error", xscale="log")
ax.set_title(f"lines: DMFT; dots: SGD at d={d}\n{describe(base, omit=('lr',))}", fontsize=8)
ax.legend(fontsize=8)
ax_lr.set(xlabel="time $t$", ylabel="learning rate $\\eta_k$")
print(save_figure(fig, args.out))
