"""Teacher-student regression: square-loss gradient descent on a linear teacher at the
default workload of the published teacher-student DMFT code (alpha=3, lambda=0.5, lr=0.1,
b=1, m0=0.2, q0=1, T=50). The DMFT against the exact d -> infinity solution (from the
Marchenko-Pastur spectrum of X^T X/d, tests/exact_teacher.py) and against SGD at finite d."""

import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt

import dmft_sgd as ds
from _common import parse
from dmft_sgd.plot import describe, save_figure

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from exact_teacher import teacher_gd_exact  # noqa: E402

args = parse(__doc__, "teacher_student.png")
samples, d, replicas = (2000, 200, 4) if args.quick else (20_000, 2000, 16)
cfg = ds.Config(data="teacher", teacher="linear", loss="square", alpha=3.0, lam=0.5, lr=0.1,
                m0=0.2, q0=1.0, steps=50)
start = time.perf_counter()
theory = ds.solve_dmft(cfg, samples=samples, seed=0)
print(f"DMFT: {time.perf_counter() - start:.2f} s")
exact = teacher_gd_exact(cfg.alpha, cfg.lam, cfg.lr, cfg.m0, cfg.q0, cfg.steps)
sim = ds.simulate(cfg, d=d, replicas=replicas, seed=0)

fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
for ax, name in zip(axes, ("m", "q", "test_loss")):
    ax.plot(sim.t, exact[name], "k-", lw=3, alpha=0.3, label="exact (Marchenko-Pastur)")
    ax.plot(theory.t, theory.mean(name), "-", label=f"DMFT (S={samples})")
    ax.fill_between(theory.t, theory.mean(name) - theory.sem(name), theory.mean(name) + theory.sem(name),
                    alpha=0.3, lw=0)
    ax.errorbar(sim.t[::3], sim.mean(name)[::3], sim.sem(name)[::3], fmt="o", ms=3,
                label=f"GD at d={d} ({replicas} runs)")
    ax.set(xlabel="time $t = k\\eta$", ylabel=ds.results.LABELS[name])
    ax.grid(alpha=0.3)
axes[0].legend(fontsize=8)
fig.suptitle(describe(cfg), fontsize=9)
fig.tight_layout()
print(save_figure(fig, args.out))
