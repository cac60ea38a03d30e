"""Specialisation of the hidden units: a committee of K = 2 erf units (second layer 1/2
each) learning a teacher with K* = 2 erf units by full-batch gradient descent on the
square loss, at finite d. Both units start orthogonal to the teacher; they first learn
its mean direction together (the symmetric plateau, M[k, 1] = M[k, 2]), then each
specialises to one teacher unit (|M[k, 1] - M[k, 2]| grows), in an order set by the
random start. Each replica is one line (the two permutations are equivalent, so the
replica mean of M itself stays symmetric).

Beside it, the DMFT (d -> infinity, exact tangent) over the first 100 steps: it follows
the simulations through the common phase. On the symmetric plateau the symmetry is broken
by fluctuations: at finite d by the d-dimensional noise, in the DMFT by the Monte Carlo
noise of each group of effective samples, which then specialise like replicas (the
groups' spread, the error band, grows there)."""

import time

import matplotlib.pyplot as plt
import numpy as np

import dmft_sgd as ds
from _common import parse
from dmft_sgd.plot import describe, save_figure

args = parse(__doc__, "committee.png")
d, replicas, steps = (100, 3, 150) if args.quick else (400, 6, 1000)
cfg = ds.Config(data="teacher", teacher="linear", loss="square", alpha=16.0, lr=0.5, steps=steps,
                hidden=2, teacher_hidden=2, activation="erf", teacher_activation="erf", m0=0.0, q0=0.5)
start = time.perf_counter()
net = ds.simulate(cfg, d=d, replicas=replicas, seed=0)
print(f"simulation: {time.perf_counter() - start:.2f} s")
start = time.perf_counter()
theory = ds.solve_dmft(cfg.replace(steps=min(steps, 100)), samples=400 if args.quick else 2000, seed=0,
                       response="tangent")
print(f"DMFT: {time.perf_counter() - start:.2f} s")

fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
loss, sem = net.mean("test_loss"), net.sem("test_loss")
axes[0].plot(net.t, loss, label="test loss")
axes[0].fill_between(net.t, loss - sem, loss + sem, alpha=0.3, lw=0)
axes[0].plot(net.t, net.mean("train_loss"), label="training loss")
dmft_loss, dmft_sem = theory.mean("test_loss"), theory.sem("test_loss")
axes[0].plot(theory.t, dmft_loss, "k", lw=1, label="test loss, DMFT (d = inf)")
axes[0].fill_between(theory.t, dmft_loss - dmft_sem, dmft_loss + dmft_sem, color="k", alpha=0.2, lw=0)
axes[0].set(xlabel="time t", ylabel="loss", yscale="log")
axes[0].legend(fontsize=8)
for r in range(replicas):
    for k, style in ((0, "-"), (1, "--")):
        axes[1].plot(net.t, np.abs(net.M[r, :, k, 0] - net.M[r, :, k, 1]), style, color=f"C{r}", lw=1)
axes[1].set(xlabel="time t", ylabel="$|M_{k1} - M_{k2}|$ (unit 1 solid, 2 dashed)", title="specialisation")
for r in range(replicas):
    axes[2].plot(net.t, net.Q[r, :, 0, 1], color=f"C{r}", lw=1)
axes[2].set(xlabel="time t", ylabel="cross overlap of the units $Q_{12}$")
for ax in axes:
    ax.grid(alpha=0.3)
fig.suptitle(f"K = 2 erf units learning K* = 2 erf units, d = {d}, {replicas} runs; {describe(cfg)}", fontsize=9)
fig.tight_layout()
print(save_figure(fig, args.out))
