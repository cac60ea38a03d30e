//! The SGD recursion of theory.md section 1 on one data set, recording the observables of
//! section 2 at every step:
//!
//! `w_{k+1} = (1 - dt lambda) w_k - dt sum_mu s_mu(k) l'(y_mu, h_mu(k)) x_mu / sqrt(d) + sqrt(2 dt T) xi_k`,
//!
//! with `s_mu(k)` weighted by `1/b` under `normalize_batch` and Langevin noise `xi_k` at
//! temperature `T > 0`.
//!
//! One step reads every row `x_mu` once: the row's field `h_mu` gives the training loss
//! and error, and, if the sample is in the batch, the row is added to the gradient while
//! it is still in cache. At large `d` the step is bound by memory bandwidth, so the
//! ensemble may store its data as `f32`; all sums are accumulated in `f64`.

use crate::config::Config;
use crate::control::Control;
use crate::error::{Error, Result};
use crate::losses::{ActivationFn, LossFn, LossSum, SampleLoss};
use crate::minibatch::{user_batch_stream, BatchSchedule, GivenBatches, MarkovBatches};
use crate::observables::{test_error_with, test_loss_with};
use crate::rng::{stream, Domain};
use crate::simd::{axpy, dot, DataElement};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// A data set: `n` rows `x_mu ∈ R^d` (row-major), labels `y`, and the teacher `v*`.
#[derive(Clone, Copy, Debug)]
pub struct DataSet<'a, E> {
    /// Row-major `(n, d)` matrix.
    pub x: &'a [E],
    /// Labels, length `n`.
    pub y: &'a [f64],
    /// Teacher direction with `|v*|^2 = d`, length `d`.
    pub v_star: &'a [f64],
}

impl<E> DataSet<'_, E> {
    /// Dimension `d`.
    pub fn dim(&self) -> usize {
        self.v_star.len()
    }
    /// Number of samples `n`.
    pub fn samples(&self) -> usize {
        self.y.len()
    }
}

/// Observables of one run, one entry per time step `k = 0..T-1`.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Trajectory {
    /// The physical time of each step, `t_k = k dt` ([`Config::times`]).
    pub t: Vec<f64>,
    /// Magnetisation `m = w·v*/d`.
    pub m: Vec<f64>,
    /// `q = |w|^2/d - m^2`.
    pub q: Vec<f64>,
    /// Mean training loss (without the ridge term).
    pub train_loss: Vec<f64>,
    /// Expected loss on a fresh sample from `m`, `q` (without the ridge term).
    pub test_loss: Vec<f64>,
    /// Fraction of training samples with `y o(h) <= 0`; empty unless labels are ±1.
    pub train_error: Vec<f64>,
    /// Test classification error from `m`, `q`; empty unless labels are ±1.
    pub test_error: Vec<f64>,
    /// The weights at the last recorded step `T-1`.
    pub w: Vec<f64>,
}

/// The shapes `run_sgd` needs: `d >= 1`, `n >= 1`, `x` of `n d` entries, `w0` of `d`.
fn check_shapes<E>(data: &DataSet<'_, E>, w0: &[f64]) -> Result<()> {
    let (n, d) = (data.samples(), data.dim());
    if d == 0 {
        return Err(Error::invalid("v_star", "must have at least one entry"));
    }
    if n == 0 {
        return Err(Error::invalid("y", "must have at least one sample"));
    }
    if n.checked_mul(d) != Some(data.x.len()) {
        return Err(Error::invalid(
            "X",
            format!(
                "must have shape (n, d) = ({n}, {d}) to match y and v_star, got {} entries",
                data.x.len()
            ),
        ));
    }
    if w0.len() != d {
        return Err(Error::invalid(
            "w0",
            format!("must have length d = {d}, got {}", w0.len()),
        ));
    }
    Ok(())
}

/// Where the Langevin increments `xi_k ~ N(0, I_d)` come from.
pub(crate) enum LangevinNoise<'a> {
    /// Drawn from a stream (none is drawn at temperature 0).
    Drawn(Box<ChaCha8Rng>),
    /// Given as a row-major `(steps, d)` array: row `k` moves `w_k` to `w_{k+1}`.
    Given(&'a [f64]),
}

impl LangevinNoise<'_> {
    /// The stream of `sgd_trajectory`'s increments for `seed`.
    pub fn user_stream(seed: u64) -> Self {
        LangevinNoise::Drawn(Box::new(stream(seed, Domain::UserLangevin, 0)))
    }

    /// Fills `xi` with the increments of step `k`.
    fn fill(&mut self, k: usize, xi: &mut [f64]) {
        match self {
            LangevinNoise::Drawn(rng) => {
                xi.iter_mut().for_each(|x| *x = rng.sample(StandardNormal))
            }
            LangevinNoise::Given(all) => xi.copy_from_slice(&all[k * xi.len()..(k + 1) * xi.len()]),
        }
    }
}

/// Runs `cfg.steps` steps of SGD from `w0` on `data` with mini-batches from `batches`
/// and, at a positive temperature, Langevin increments from `langevin`.
/// `label` names the run in a divergence error (e.g. "simulation replica 3"). Shapes are
/// checked first (an error names the argument), so no input makes it panic.
#[allow(clippy::too_many_arguments)] // one recursion, all its inputs
pub(crate) fn run_sgd<E: DataElement, L: LossFn, A: ActivationFn>(
    cfg: &Config,
    sample_loss: &SampleLoss<L, A>,
    data: DataSet<'_, E>,
    w0: Vec<f64>,
    batches: &mut dyn BatchSchedule,
    mut langevin: LangevinNoise<'_>,
    control: &Control,
    label: &str,
) -> Result<Trajectory> {
    check_shapes(&data, &w0)?;
    let (n, d) = (data.samples(), data.dim());
    batches.covers(cfg.steps, n)?;
    if let LangevinNoise::Given(xi) = langevin {
        if Some(xi.len()) != cfg.steps.checked_mul(d) {
            return Err(Error::invalid(
                "langevin_noise",
                format!(
                    "must have shape (steps, d) = ({}, {d}), got {} entries",
                    cfg.steps,
                    xi.len()
                ),
            ));
        }
    }
    let classify = cfg.labels_are_signs();
    // sqrt(2 dt T): the Langevin kick per unit increment.
    let kick = (2.0 * cfg.lr * cfg.temperature).sqrt();
    let mut xi = vec![0.0f64; if kick > 0.0 { d } else { 0 }];
    let steps = cfg.steps;
    let inv_sqrt_d = 1.0 / (d as f64).sqrt();
    let (dt, shrink) = (cfg.lr, 1.0 - cfg.lr * cfg.lam);

    let mut out = Trajectory {
        t: cfg.times(),
        m: Vec::with_capacity(steps),
        q: Vec::with_capacity(steps),
        train_loss: Vec::with_capacity(steps),
        test_loss: Vec::with_capacity(steps),
        train_error: Vec::new(),
        test_error: Vec::new(),
        w: Vec::new(),
    };
    let diverged = |step| Error::Diverged {
        what: label.to_string(),
        step,
        lr: cfg.lr,
    };
    let mut w = w0;
    let mut grad = vec![0.0f64; d]; // sum_mu s_mu f_mu x_mu, with f = -l'
    let mut s = vec![false; n];

    for k in 0..steps {
        batches.fill(k, &mut s);
        let m = dot(data.v_star, &w) / d as f64;
        let q = dot(&w, &w) / d as f64 - m * m;
        if !(m.is_finite() && q.is_finite()) {
            return Err(diverged(k));
        }

        grad.fill(0.0);
        let (mut losses, mut errors) = (LossSum::default(), 0usize);
        for ((row, &y_mu), &in_batch) in data.x.chunks_exact(d).zip(data.y).zip(&s) {
            let h = dot(row, &w) * inv_sqrt_d;
            let slope = sample_loss.slope_adding_loss(y_mu, h, &mut losses);
            if classify {
                errors += sample_loss.misclassified(y_mu, h) as usize;
            }
            if in_batch {
                axpy(-slope, row, &mut grad);
            }
        }
        let loss_sum = losses.total();
        if !loss_sum.is_finite() {
            return Err(diverged(k));
        }
        out.m.push(m);
        out.q.push(q);
        out.train_loss.push(loss_sum / n as f64);
        out.test_loss.push(test_loss_with(cfg, sample_loss, m, q));
        if classify {
            out.train_error.push(errors as f64 / n as f64);
            out.test_error
                .push(test_error_with(cfg, &sample_loss.activation, m, q));
        }

        if k + 1 < steps {
            let step = dt * inv_sqrt_d * cfg.batch_weight();
            if kick > 0.0 {
                langevin.fill(k, &mut xi);
                for ((wi, gi), xi) in w.iter_mut().zip(&grad).zip(&xi) {
                    *wi = shrink * *wi + step * gi + kick * xi;
                }
            } else {
                for (wi, gi) in w.iter_mut().zip(&grad) {
                    *wi = shrink * *wi + step * gi;
                }
            }
        }
        control.checkpoint(1)?;
    }
    out.w = w;
    Ok(out)
}

fn check_finite(name: &str, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::invalid(
            name,
            format!("must be finite, found {} at index {i}", values[i]),
        )),
        None => Ok(()),
    }
}

/// SGD on a data set the user supplies, with the batch chain drawn from `seed` (see
/// [`batch_mask`](crate::batch_mask)) or given as a row-major `(steps, n)` mask, and at a
/// positive temperature the Langevin increments drawn from `seed` or given as a row-major
/// `(steps, d)` array of standard normals (row `k` moves `w_k` to `w_{k+1}`; the last row
/// is unused). Checks shapes and values first; errors name the offending argument.
pub fn sgd_on_data(
    cfg: &Config,
    data: DataSet<'_, f64>,
    w0: &[f64],
    seed: u64,
    given_batches: Option<&[bool]>,
    given_noise: Option<&[f64]>,
    control: &Control,
) -> Result<Trajectory> {
    let loss = cfg.sample_loss();
    sgd_on_data_with(
        cfg,
        &loss,
        data,
        w0,
        seed,
        given_batches,
        given_noise,
        control,
    )
}

/// [`sgd_on_data`] with the loss and output `sample_loss` (your own [`LossFn`] and
/// [`ActivationFn`], or built-ins) instead of the config's `loss` and `activation`.
#[allow(clippy::too_many_arguments)]
pub fn sgd_on_data_with<L: LossFn, A: ActivationFn>(
    cfg: &Config,
    sample_loss: &SampleLoss<L, A>,
    data: DataSet<'_, f64>,
    w0: &[f64],
    seed: u64,
    given_batches: Option<&[bool]>,
    given_noise: Option<&[f64]>,
    control: &Control,
) -> Result<Trajectory> {
    cfg.validate()?;
    cfg.check_loss(&sample_loss.loss)?;
    check_shapes(&data, w0)?;
    let d = data.dim();
    check_finite("X", data.x)?;
    check_finite("y", data.y)?;
    check_finite("v_star", data.v_star)?;
    check_finite("w0", w0)?;
    let norm2 = dot(data.v_star, data.v_star) / d as f64;
    if (norm2 - 1.0).abs() > 1e-6 {
        return Err(Error::invalid(
            "v_star",
            format!("must be normalised to |v_star|^2 = d (theory convention), got |v_star|^2/d = {norm2}"),
        ));
    }
    let label = "sgd_trajectory";
    let langevin = match given_noise {
        Some(xi) => {
            check_finite("langevin_noise", xi)?;
            LangevinNoise::Given(xi)
        }
        None => LangevinNoise::user_stream(seed),
    };
    let mut given;
    let mut drawn;
    let batches: &mut dyn BatchSchedule = match given_batches {
        Some(mask) => {
            given = GivenBatches::new(mask, cfg.steps, data.samples())?;
            &mut given
        }
        None => {
            drawn = MarkovBatches::new(cfg, user_batch_stream(seed));
            &mut drawn
        }
    };
    run_sgd(
        cfg,
        sample_loss,
        data,
        w0.to_vec(),
        batches,
        langevin,
        control,
        label,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Full-batch GD on a one-dimensional data set from `w0`.
    fn full_batch(cfg: &Config, data: DataSet<'_, f64>, w0: f64) -> Result<Trajectory> {
        let mask = vec![true; cfg.steps * data.samples()];
        let mut batches = GivenBatches::new(&mask, cfg.steps, data.samples()).unwrap();
        let noise = LangevinNoise::user_stream(0);
        run_sgd(
            cfg,
            &cfg.sample_loss(),
            data,
            vec![w0],
            &mut batches,
            noise,
            &Control::new(),
            "t",
        )
    }

    #[test]
    fn square_loss_gd_on_one_sample_is_a_linear_map() {
        // d = 1, one sample x = 2, y = 1: h = 2w, l' = h - 1,
        // w' = (1 - dt lam) w - dt (2w - 1) 2 = (1 - dt lam - 4 dt) w + 2 dt.
        let cfg = Config {
            loss: Some(crate::config::Loss::Square),
            lam: 0.5,
            lr: 0.1,
            steps: 4,
            ..Config::default()
        };
        let x = [2.0f64];
        let data = DataSet {
            x: &x,
            y: &[1.0],
            v_star: &[1.0],
        };
        let traj = full_batch(&cfg, data, 0.3).unwrap();
        let mut w = 0.3;
        for k in 0..4 {
            assert!((traj.m[k] - w).abs() < 1e-15);
            assert!((traj.train_loss[k] - 0.5 * (2.0 * w - 1.0f64).powi(2)).abs() < 1e-15);
            w = (1.0 - 0.05 - 0.4) * w + 0.2;
        }
    }

    #[test]
    fn divergence_names_the_first_bad_step() {
        let cfg = Config {
            loss: Some(crate::config::Loss::Square),
            lr: 10.0,
            tau: Some(10.0),
            steps: 400,
            ..Config::default()
        };
        let x = [3.0f64];
        let data = DataSet {
            x: &x,
            y: &[1.0],
            v_star: &[1.0],
        };
        let err = full_batch(&cfg, data, 1.0).unwrap_err();
        // w' = -89 w + 30: the first step whose q = w^2 or loss (3w - 1)^2/2 overflows.
        let (mut w, mut first_bad) = (1.0f64, 0);
        while (w * w).is_finite() && (0.5 * (3.0 * w - 1.0).powi(2)).is_finite() {
            w = -89.0 * w + 30.0;
            first_bad += 1;
        }
        match err {
            Error::Diverged { step, .. } => assert_eq!(step, first_bad),
            other => panic!("{other:?}"),
        }
    }
}

#[cfg(test)]
mod user_data_tests {
    use super::*;

    #[test]
    fn drawn_batches_equal_the_published_mask() {
        let cfg = Config {
            batch: 0.5,
            tau: Some(0.4),
            steps: 6,
            ..Config::default()
        };
        let (n, d) = (5, 2);
        let x: Vec<f64> = (0..n * d).map(|i| ((i * 7) % 5) as f64 - 2.0).collect();
        let y = [1.0, -1.0, 1.0, 1.0, -1.0];
        let v = [1.0, 1.0];
        let data = DataSet {
            x: &x,
            y: &y,
            v_star: &v,
        };
        let c = Control::new();
        let drawn = sgd_on_data(&cfg, data, &[0.1, 0.2], 9, None, None, &c).unwrap();
        let mask = crate::minibatch::batch_mask(&cfg, n, 9).unwrap();
        let given = sgd_on_data(&cfg, data, &[0.1, 0.2], 0, Some(&mask), None, &c).unwrap();
        assert_eq!(drawn, given);
    }

    #[test]
    fn bad_user_data_names_the_argument() {
        let cfg = Config::default();
        let c = Control::new();
        let x = [1.0, f64::NAN];
        let err = sgd_on_data(
            &cfg,
            DataSet {
                x: &x,
                y: &[1.0],
                v_star: &[1.0, 1.0],
            },
            &[0.0, 0.0],
            0,
            None,
            None,
            &c,
        );
        assert!(matches!(err, Err(Error::InvalidParameter { ref name, .. }) if name == "X"));
        let err = sgd_on_data(
            &cfg,
            DataSet {
                x: &[1.0, 2.0],
                y: &[1.0],
                v_star: &[3.0, 0.0],
            },
            &[0.0, 0.0],
            0,
            None,
            None,
            &c,
        );
        assert!(matches!(err, Err(Error::InvalidParameter { ref name, .. }) if name == "v_star"));
    }

    fn named(err: Result<Trajectory>) -> String {
        match err {
            Err(Error::InvalidParameter { name, .. }) => name,
            other => panic!("expected an invalid parameter, got {other:?}"),
        }
    }

    /// Two samples in two dimensions.
    fn two_samples() -> DataSet<'static, f64> {
        DataSet {
            x: &[1.0, 0.5, -1.0, 2.0],
            y: &[1.0, -1.0],
            v_star: &[1.0, 1.0],
        }
    }

    fn three_steps() -> Config {
        Config {
            steps: 3,
            ..Config::default()
        }
    }

    #[test]
    fn bad_shapes_are_errors_not_panics() {
        let (cfg, c, data) = (three_steps(), Control::new(), two_samples());
        let short_x = DataSet {
            x: &data.x[..3],
            ..data
        };
        let no_samples = DataSet { y: &[], ..data };
        let no_dims = DataSet {
            v_star: &[],
            ..data
        };
        let drawn = || MarkovBatches::new(&cfg, user_batch_stream(0));
        let run = |data, w0: &[f64], batches: &mut dyn BatchSchedule| {
            run_sgd(
                &cfg,
                &cfg.sample_loss(),
                data,
                w0.to_vec(),
                batches,
                LangevinNoise::user_stream(0),
                &c,
                "t",
            )
        };
        assert_eq!(named(run(short_x, &[0.0, 0.0], &mut drawn())), "X");
        assert_eq!(named(run(no_samples, &[0.0, 0.0], &mut drawn())), "y");
        assert_eq!(named(run(no_dims, &[], &mut drawn())), "v_star");
        assert_eq!(named(run(data, &[0.0], &mut drawn())), "w0");
        assert_eq!(named(run(data, &[0.0; 3], &mut drawn())), "w0");
        for (data, w0) in [(short_x, &[0.0, 0.0][..]), (data, &[0.0][..])] {
            let name = named(sgd_on_data(&cfg, data, w0, 0, None, None, &c));
            assert!(name == "X" || name == "w0", "{name}");
        }
        assert!(run(data, &[0.0, 0.0], &mut drawn()).is_ok());
    }

    #[test]
    fn a_short_batch_mask_is_an_error_not_a_panic() {
        let (cfg, c, data) = (three_steps(), Control::new(), two_samples());
        // Two steps of two samples where three steps are needed, and a ragged mask.
        for len in [0, 3, 4, 5, 7] {
            let mask = vec![true; len];
            let err = sgd_on_data(&cfg, data, &[0.0, 0.0], 0, Some(&mask), None, &c);
            assert_eq!(named(err), "batches", "mask of {len}");
            assert!(GivenBatches::new(&mask, 3, 2).is_err());
        }
        // A mask of the right shape for a shorter run (2 steps), or for another number of
        // samples (3), given to this one.
        for (mask, steps, n) in [(vec![true; 4], 2, 2), (vec![true; 9], 3, 3)] {
            let mut given = GivenBatches::new(&mask, steps, n).unwrap();
            let noise = LangevinNoise::user_stream(0);
            let err = run_sgd(
                &cfg,
                &cfg.sample_loss(),
                data,
                vec![0.0, 0.0],
                &mut given,
                noise,
                &c,
                "t",
            );
            assert_eq!(named(err), "batches");
        }
        let mask = vec![true; 6];
        assert!(sgd_on_data(&cfg, data, &[0.0, 0.0], 0, Some(&mask), None, &c).is_ok());
    }

    #[test]
    fn batch_mask_checks_its_config_and_size() {
        let bad = Config {
            batch: 0.0,
            ..Config::default()
        };
        let err = crate::minibatch::batch_mask(&bad, 4, 0).unwrap_err();
        assert!(matches!(err, Error::InvalidParameter { ref name, .. } if name == "batch"));
        let err = crate::minibatch::batch_mask(&Config::default(), usize::MAX, 0).unwrap_err();
        assert!(matches!(err, Error::InvalidParameter { ref name, .. } if name == "n"));
        let cfg = Config {
            steps: 4,
            ..Config::default()
        };
        assert_eq!(crate::minibatch::batch_mask(&cfg, 3, 0).unwrap().len(), 12);
    }
}
