//! A two-layer network from Rust: a committee of two ReLU units (second layer
//! `(1, -1)/sqrt 2`) learning a target of two directions that no built-in teacher
//! expresses, `y = tanh(h*_1 + h*_2^3 - 3 h*_2)`, given as a `TargetFn`, by full-batch
//! gradient descent (the setting of Dandi et al. 2024). Prints each unit's overlaps with
//! the two teacher directions and the test loss, replica mean ± sem.
//!
//! `cargo run --release --example committee`

use dmft_sgd::{
    simulate_network_with, Activation, Config, Control, Data, EnsembleSpec, Loss, Problem,
    TargetFn, Teacher,
};

/// `y = tanh(h*_1 + h*_2^3 - 3 h*_2)`, noiseless.
struct MultiIndex;

impl TargetFn for MultiIndex {
    fn labels(&self, h_star: &[f64], _eps: &[f64]) -> dmft_sgd::Result<Vec<f64>> {
        Ok(h_star
            .chunks_exact(2)
            .map(|h| (h[0] + h[1].powi(3) - 3.0 * h[1]).tanh())
            .collect())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = std::f64::consts::FRAC_1_SQRT_2;
    let cfg = Config {
        data: Data::Teacher(Teacher::Linear),
        loss: Some(Loss::Square),
        activation: Some(Activation::Relu),
        alpha: 3.0,
        lr: 0.2,
        steps: 7,
        hidden: 2,
        second_layer: Some(vec![a, -a]),
        teacher_hidden: 2,
        m0: Some(0.0),
        ..Config::default()
    };
    let problem = Problem::new(cfg)?;
    let spec = EnsembleSpec::new(2000, 4).seed(0).threads(Some(2));
    let ens = simulate_network_with(&problem, Some(&MultiIndex), &spec, &Control::new())?;
    let (r, t) = (ens.runs, ens.steps);
    // Mean and standard error over replicas of entry `at` of a per-step array of `size`.
    let stat = |values: &[f64], size: usize, step: usize, at: usize| {
        let xs: Vec<f64> = (0..r).map(|i| values[(i * t + step) * size + at]).collect();
        let mean = xs.iter().sum::<f64>() / r as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (r - 1) as f64;
        (mean, (var / r as f64).sqrt())
    };
    println!(
        "step   M[1,1]            M[1,2]            M[2,1]            M[2,2]            test loss"
    );
    for step in 0..t {
        let mut line = format!("{step:>4}");
        for at in 0..4 {
            let (m, s) = stat(&ens.overlaps, 4, step, at);
            line += &format!("   {m:>7.4} ± {s:.4}");
        }
        let (loss, s) = stat(&ens.test_loss, 1, step, 0);
        println!("{line}   {loss:.4} ± {s:.4}");
    }
    Ok(())
}
