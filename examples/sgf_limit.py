"""The stochastic gradient flow: persistent SGD (b = 0.3, tau = 1) solved on a ladder of
learning rates lr = 0.2, 0.1, 0.05 in one coupled pass and extrapolated to lr -> 0 at
fixed tau, b and t (ds.sgf), checked against a brute-force solve at lr = 0.025."""

import dmft_sgd as ds
from _common import parse
from dmft_sgd.plot import plot_sgf, save_figure

args = parse(__doc__, "sgf_limit.png")
samples, steps = (2000, 21) if args.quick else (20_000, 51)
cfg = ds.Config(alpha=2.0, delta=0.5, lam=0.1, lr=0.2, batch=0.3, tau=1.0, steps=steps)

res = ds.sgf(cfg, samples=samples, seed=0)               # levels lr, lr/2, lr/4; order 2
brute = ds.solve_dmft(cfg.replace(lr=cfg.lr / 8, steps=8 * (steps - 1) + 1), samples=samples, seed=1,
                      keep_kernels=False)                # 8x smaller lr, independent samples

fig = plot_sgf(res, names=["test_error", "train_loss"])
(top_left, top_right), (bottom_left, bottom_right) = (fig.axes[0], fig.axes[1]), (fig.axes[2], fig.axes[3])
every = max(1, (steps - 1) // 10)
for top, bottom, name in ((top_left, bottom_left, "test_error"), (top_right, bottom_right, "train_loss")):
    t, value, sem = brute.t[::8], brute.mean(name)[::8], brute.sem(name)[::8]
    top.errorbar(t[::every], value[::every], sem[::every], fmt="o", ms=3, color="gray",
                 label=f"brute force, η = {cfg.lr / 8:g}")
    bottom.errorbar(t[::every], (value - res[name])[::every], sem[::every], fmt="o", ms=3, color="gray")
top_left.legend(fontsize=8)
print(save_figure(fig, args.out))
