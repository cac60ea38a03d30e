//! Your own loss in both engines: robust regression with the Huber loss on a noisy linear
//! teacher, solved by the DMFT and simulated at finite d, through the `LossFn` trait.
//!
//! Run with `cargo run --release --example custom_loss` (a few seconds).

use dmft_sgd::{
    simulate_with, solve_dmft_with, Activation, Config, Control, Data, DmftOptions, EnsembleSpec,
    LossFn, Problem, SampleLoss, Teacher,
};

/// The Huber loss of the residual `r = o - y`: `r^2/2` for `|r| <= delta`, linear beyond,
/// so that outliers pull with a bounded force `delta`.
#[derive(Debug, Clone, Copy)]
struct Huber {
    delta: f64,
}

impl LossFn for Huber {
    fn name(&self) -> &str {
        "huber"
    }

    /// `(ell, ell_o)`.
    fn ell_and_slope(&self, y: f64, o: f64) -> (f64, f64) {
        let r = o - y;
        if r.abs() <= self.delta {
            (0.5 * r * r, r)
        } else {
            (
                self.delta * (r.abs() - 0.5 * self.delta),
                self.delta * r.signum(),
            )
        }
    }

    /// `ell_oo`: 1 inside the quadratic part, 0 beyond.
    fn curvature(&self, y: f64, o: f64) -> f64 {
        f64::from((o - y).abs() <= self.delta)
    }
}

fn main() -> dmft_sgd::Result<()> {
    // Labels y = h0 + sqrt(noise) eps with a large noise, plain SGD on 30% batches.
    let cfg = Config {
        data: Data::Teacher(Teacher::Linear),
        noise: 1.0,
        alpha: 3.0,
        lam: 0.05,
        lr: 0.1,
        batch: 0.3,
        steps: 100,
        ..Config::default()
    };
    let huber = SampleLoss {
        loss: Huber { delta: 0.5 },
        activation: Activation::Linear,
    };
    let control = Control::new();
    let opts = DmftOptions::default()
        .samples(8_000)
        .seed(0)
        .threads(Some(2));
    let problem = Problem::new(cfg.clone())?;
    let dmft = solve_dmft_with(&problem, &huber, &opts, &control)?;
    let sem = dmft.sem.as_ref().expect("8 groups give error bars");
    let spec = EnsembleSpec::new(1000, 8).seed(0).threads(Some(2));
    let ens = simulate_with(&problem, &huber, &spec, &control)?;
    let (m_sim, m_sem) = ens.mean_sem(&ens.m);
    let (loss_sim, loss_sem) = ens.mean_sem(&ens.test_loss);

    println!("Huber (delta = 0.5) on the noisy linear teacher: DMFT (S = 8000) and SGD at d = 1000 (8 runs)");
    println!(
        "{:>6}  {:>17}  {:>17}  {:>17}  {:>17}",
        "t", "m DMFT", "m SGD", "test loss DMFT", "test loss SGD"
    );
    for k in (0..cfg.steps).step_by(20).chain([cfg.steps - 1]) {
        println!(
            "{:>6.1}  {:>8.4} ± {:<6.4}  {:>8.4} ± {:<6.4}  {:>8.4} ± {:<6.4}  {:>8.4} ± {:<6.4}",
            k as f64 * cfg.lr,
            dmft.observables.m[k],
            sem.m[k],
            m_sim[k],
            m_sem[k],
            dmft.observables.test_loss[k],
            sem.test_loss[k],
            loss_sim[k],
            loss_sem[k],
        );
    }
    Ok(())
}
