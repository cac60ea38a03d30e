"""The effective temperature of the dynamics from the fluctuation-dissipation relation:
chi(t, t_w) against C(t, t) - C(t, t_w). Langevin gradient descent on a convex problem is
in equilibrium (slope 1/temperature up to O(lr)); persistent SGD without any Langevin
noise shows the effective temperature its mini-batch noise creates."""

import matplotlib.pyplot as plt

import dmft_sgd as ds
from _common import parse
from dmft_sgd.plot import save_figure

args = parse(__doc__, "effective_temperature.png")
samples, horizon, t_w = (2000, 6.0, 3.0) if args.quick else (20_000, 40.0, 20.0)
lr = 0.05
base = ds.Config(data="teacher", teacher="linear", loss="square", alpha=2.0, lam=0.5, lr=lr,
                 steps=int(round(horizon / lr)))
runs = {
    "Langevin GD, temperature 0.2": base.replace(temperature=0.2),
    "Langevin GD, temperature 0.05": base.replace(temperature=0.05),
    "persistent SGD, b = 0.3, τ = 1, no Langevin noise": base.replace(batch=0.3, tau=1.0, noise=0.5),
}
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
for color, (label, cfg) in zip(colors, runs.items()):
    result = ds.solve_dmft(cfg, samples=samples, seed=0)
    curve = ds.fdt(result, t_w)
    print(f"{label}: T_eff = {curve.effective_temperature:.4f}")
    axes[0].plot(curve.dC, curve.chi, "-", color=color, lw=2,
                 label=f"{label}: $T_{{eff}}$ = {curve.effective_temperature:.3g}")
    axes[0].plot(curve.dC, curve.dC / curve.effective_temperature, ":", color=color)
    axes[1].plot(result.t, result.test_loss, color=color, label=label)
axes[0].set(xlabel=r"$C(t,t) - C(t,t_w)$", ylabel=r"$\chi(t,t_w)$",
            title=f"fluctuation-dissipation plot, $t_w$ = {t_w:g} (dotted: slope $1/T_{{eff}}$)")
axes[1].set(xlabel="time $t = k\\eta$", ylabel="test loss", title="the runs")
for ax in axes:
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
fig.suptitle("linear teacher, square loss, α=2, λ=0.5, η=0.05", fontsize=9)
fig.tight_layout()
print(save_figure(fig, args.out))
