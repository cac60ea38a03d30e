//! The two engines side by side: the DMFT (d -> infinity) and an ensemble of SGD runs at
//! finite d, for two-cluster logistic regression trained by plain SGD.
//!
//! Run with `cargo run --release --example quickstart` (a few seconds).

use dmft_sgd::{simulate, solve_dmft, Config, Control, DmftOptions, EnsembleSpec, Problem};

fn main() -> dmft_sgd::Result<()> {
    // Plain SGD (tau = None: a fresh batch of 30% of the samples every step).
    let cfg = Config {
        alpha: 2.0,
        delta: 0.5,
        lam: 0.1,
        lr: 0.2,
        batch: 0.3,
        steps: 100,
        ..Config::default()
    };
    // Parsed once: every rule checked here, the engines take the problem.
    let problem = Problem::new(cfg.clone())?;
    let control = Control::new();

    // The DMFT with 4000 effective samples in 8 groups (for the error bars), 2 threads.
    let opts = DmftOptions::default()
        .samples(4_000)
        .groups(8)
        .seed(0)
        .threads(Some(2));
    let dmft = solve_dmft(&problem, &opts, &control)?;
    let dmft_error = &dmft.observables.test_error;
    let dmft_sem = &dmft
        .sem
        .as_ref()
        .expect("8 groups give error bars")
        .test_error;

    // 8 independent SGD runs at d = 500.
    let spec = EnsembleSpec::new(500, 8).seed(0).threads(Some(2));
    let ens = simulate(&problem, &spec, &control)?;
    let (sim_mean, sim_sem) = ens.mean_sem(&ens.test_error);

    println!(
        "test error: DMFT (S = {}) and SGD at d = {} ({} runs)",
        opts.samples, spec.d, spec.replicas
    );
    println!("{:>6}  {:>17}  {:>17}", "t", "DMFT", "simulation");
    for k in (0..cfg.steps).step_by(10).chain([cfg.steps - 1]) {
        println!(
            "{:>6.1}  {:>8.4} ± {:<6.4}  {:>8.4} ± {:<6.4}",
            k as f64 * cfg.lr,
            dmft_error[k],
            dmft_sem[k],
            sim_mean[k],
            sim_sem[k]
        );
    }
    Ok(())
}
