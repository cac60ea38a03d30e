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
use crate::divergence::DivergenceGuard;
use crate::error::{Error, Result};
use crate::losses::{ActivationFn, LossFn, LossSum, SampleLoss};
use crate::minibatch::{user_batch_stream, BatchSchedule, GivenBatches, MarkovBatches};
use crate::observables::{test_error_with, test_loss_with};
use crate::optimizer::{Descent, Optimizer};
use crate::problem::Problem;
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
    /// Expected loss on a fresh sample (without the ridge term): from `m`, `q` in a
    /// simulation of the model; on user data measured on the test set, empty without one.
    pub test_loss: Vec<f64>,
    /// Fraction of training samples with `y o(h) <= 0`; empty unless labels are ±1.
    pub train_error: Vec<f64>,
    /// Test classification error (from `m`, `q`, or on user data measured on the test
    /// set); empty unless labels are ±1, and on user data without a test set.
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

    /// Fills `xi` with the increments of step `k` (of row `k` of `xi.len()` given ones).
    pub(crate) fn fill(&mut self, k: usize, xi: &mut [f64]) {
        match self {
            LangevinNoise::Drawn(rng) => {
                xi.iter_mut().for_each(|x| *x = rng.sample(StandardNormal))
            }
            LangevinNoise::Given(all) => xi.copy_from_slice(&all[k * xi.len()..(k + 1) * xi.len()]),
        }
    }
}

/// Where a run's test observables come from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum TestObservables<'a> {
    /// The data model's formulas in `m`, `q` (a simulation of the config's model).
    Model,
    /// Measured at every step on a held-out set (row-major rows `x`, labels `y`).
    TestSet { x: &'a [f64], y: &'a [f64] },
    /// Not recorded (the user's data, without a test set).
    Absent,
}

/// What a run records besides `m`, `q` and the training loss: the classification errors
/// (where labels are ±1) and the test observables.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Observed<'a> {
    /// Whether labels are ±1: the errors are recorded.
    pub classify: bool,
    /// Where the test loss and error come from.
    pub test: TestObservables<'a>,
}

impl Observed<'_> {
    /// A simulation of `cfg`'s data model: its formulas, errors where its labels are ±1.
    pub fn of_model(cfg: &Config) -> Self {
        Observed {
            classify: cfg.labels_are_signs(),
            test: TestObservables::Model,
        }
    }
}

/// What a caller may do at every step of [`run_sgd`] (the two-time functions of
/// `simulate`): watch the weights and push them.
pub(crate) trait StepHook {
    /// Sees `w_k` at the start of step `k`.
    fn observe(&mut self, k: usize, w: &[f64]);
    /// May add `to_descent * delta` to step `k`'s descent sum, which moves `w_{k+1}` by
    /// `delta`: the force `delta/dt_k` of theory.md section 3 (through the velocity, with
    /// momentum, as the DMFT's force).
    fn push(&mut self, k: usize, descent: &mut [f64], to_descent: f64);
}

/// Runs `cfg.steps` steps of SGD from `w0` on `data` with mini-batches from `batches`
/// and, at a positive temperature, Langevin increments from `langevin`; `hook`, if any,
/// sees and may push every step. `label` names the run in a divergence error (e.g.
/// "simulation replica 3"). Shapes are checked first (an error names the argument), so
/// no input makes it panic.
#[allow(clippy::too_many_arguments)] // one recursion, all its inputs
pub(crate) fn run_sgd<E: DataElement, L: LossFn, A: ActivationFn>(
    cfg: &Config,
    sample_loss: &SampleLoss<L, A>,
    data: DataSet<'_, E>,
    w0: Vec<f64>,
    batches: &mut dyn BatchSchedule,
    mut langevin: LangevinNoise<'_>,
    observed: Observed<'_>,
    control: &Control,
    label: &str,
    mut hook: Option<&mut dyn StepHook>,
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
    let classify = observed.classify;
    let mut xi = vec![0.0f64; if cfg.temperature > 0.0 { d } else { 0 }];
    let steps = cfg.steps;
    let inv_sqrt_d = 1.0 / (d as f64).sqrt();

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
    // The labels' E[y^2] and |w(0)|^2/d set the scale the norm may not outgrow (eq. 4.7).
    let label_moment = data.y.iter().map(|y| y * y).sum::<f64>() / n as f64;
    let guard = DivergenceGuard::new(label, dot(&w0, &w0) / d as f64, label_moment);
    let mut w = w0;
    // The update rule, and its state (the velocity with momentum), one component.
    let optimizer = Optimizer::of(cfg);
    let mut state = optimizer.init(d);
    let mut grad = vec![0.0f64; d]; // sum_mu s_mu f_mu x_mu, with f = -l'
    let mut s = vec![false; n];

    for k in 0..steps {
        batches.fill(k, &mut s);
        let m = dot(data.v_star, &w) / d as f64;
        let q = dot(&w, &w) / d as f64 - m * m;
        guard.check_weights(cfg, k, m, q)?;
        if let Some(hook) = hook.as_mut() {
            hook.observe(k, &w);
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
            return Err(guard.non_finite(cfg, k, "train_loss"));
        }
        out.m.push(m);
        out.q.push(q);
        out.train_loss.push(loss_sum / n as f64);
        if classify {
            out.train_error.push(errors as f64 / n as f64);
        }
        match observed.test {
            TestObservables::Model => {
                out.test_loss.push(test_loss_with(cfg, sample_loss, m, q));
                if classify {
                    out.test_error
                        .push(test_error_with(cfg, &sample_loss.activation, m, q));
                }
            }
            TestObservables::TestSet { x, y } => {
                let (mut losses, mut errors) = (LossSum::default(), 0usize);
                for (row, &y_mu) in x.chunks_exact(d).zip(y) {
                    let h = dot(row, &w) * inv_sqrt_d;
                    sample_loss.slope_adding_loss(y_mu, h, &mut losses);
                    errors += sample_loss.misclassified(y_mu, h) as usize;
                }
                out.test_loss.push(losses.total() / y.len() as f64);
                if classify {
                    out.test_error.push(errors as f64 / y.len() as f64);
                }
            }
            TestObservables::Absent => {}
        }

        if k + 1 < steps {
            let noise = if optimizer.is_noisy() {
                langevin.fill(k, &mut xi);
                Some(xi.as_slice())
            } else {
                None
            };
            if let Some(hook) = hook.as_mut() {
                let to_descent = 1.0 / (optimizer.lr_at(k) * inv_sqrt_d * cfg.batch_weight());
                hook.push(k, &mut grad, to_descent);
            }
            let descent = Descent::new(&grad, inv_sqrt_d, cfg.batch_weight());
            optimizer.update(k, &mut state, &mut w, descent, noise);
        }
        control.checkpoint(1)?;
    }
    out.w = w;
    Ok(out)
}

pub(crate) fn check_finite(name: &str, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::invalid(
            name,
            format!("must be finite, found {} at index {i}", values[i]),
        )),
        None => Ok(()),
    }
}

/// A run of SGD on a data set of your own: everything [`sgd_on_data`] needs besides the
/// config. Start from [`UserRun::new`] and set what you need.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct UserRun<'a> {
    /// The training set and the direction `v*` (`|v*|^2 = d`) that `m` is measured along.
    pub data: DataSet<'a, f64>,
    /// The initial weights, `d` of them.
    pub w0: &'a [f64],
    /// Seed of the batch chain and the Langevin increments that are drawn.
    pub seed: u64,
    /// A row-major `(steps, n)` batch mask replacing the drawn chain.
    pub batches: Option<&'a [bool]>,
    /// Row-major `(steps, d)` standard normals replacing the drawn Langevin increments
    /// (row `k` moves `w_k` to `w_{k+1}`; the last row is unused).
    pub langevin_noise: Option<&'a [f64]>,
    /// A held-out set (row-major `(n_test, d)` rows and their labels) on which the test
    /// loss and error are measured at every step. Without one they are not recorded
    /// (empty series): the model's formulas in `m`, `q` describe the config's data model,
    /// not yours.
    pub test: Option<(&'a [f64], &'a [f64])>,
}

impl<'a> UserRun<'a> {
    /// A run on `data` from `w0`, seed 0, drawn batches and increments, no test set.
    pub fn new(data: DataSet<'a, f64>, w0: &'a [f64]) -> Self {
        UserRun {
            data,
            w0,
            seed: 0,
            batches: None,
            langevin_noise: None,
            test: None,
        }
    }
}

/// Whether every label is ±1.
pub(crate) fn are_signs(y: &[f64]) -> bool {
    y.iter().all(|&v| v == 1.0 || v == -1.0)
}

/// Whether the user's labels `y` are all ±1 (the errors are then recorded); real labels
/// are refused, naming `y`, for a loss that needs signs.
pub(crate) fn checked_user_labels<L: LossFn>(y: &[f64], loss: &L) -> Result<bool> {
    let signs = are_signs(y);
    if loss.needs_sign_labels() && !signs {
        return Err(Error::invalid(
            "y",
            format!(
                "must be ±1 for loss '{}', which needs labels ±1; for real-valued labels use loss='square'",
                loss.name()
            ),
        ));
    }
    Ok(signs)
}

/// The user's test set (rows `x` of `d` columns, labels `y`), checked: at least one row,
/// finite, and labels ±1 where the training labels are (`signs`).
pub(crate) fn checked_test_set<'a>(
    test: Option<(&'a [f64], &'a [f64])>,
    d: usize,
    signs: bool,
) -> Result<Option<(&'a [f64], &'a [f64])>> {
    let Some((x, y)) = test else {
        return Ok(None);
    };
    if x.is_empty() || Some(x.len()) != y.len().checked_mul(d) {
        return Err(Error::invalid(
            "X_test",
            format!(
                "must have shape (n_test, d) = ({}, {d}) with n_test >= 1, got {} entries",
                y.len(),
                x.len()
            ),
        ));
    }
    check_finite("X_test", x)?;
    check_finite("y_test", y)?;
    if signs && !are_signs(y) {
        return Err(Error::invalid(
            "y_test",
            "must be ±1 like y (the test error compares signs)",
        ));
    }
    Ok(Some((x, y)))
}

/// SGD on a data set the user supplies, with the batch chain drawn from `run.seed` (see
/// [`batch_mask`](crate::batch_mask)) or given, and at a positive temperature the Langevin
/// increments drawn or given. The data are the user's, so the config's data model
/// (`data`, `clusters`, `delta`, `teacher`, `noise`, `alpha`) is not used: `n` and `d`
/// come from the data, the training error is recorded where every label is ±1, and the
/// test observables are measured on `run.test` (absent without one). Checks shapes and
/// values first; errors name the offending argument.
pub fn sgd_on_data(problem: &Problem, run: &UserRun<'_>, control: &Control) -> Result<Trajectory> {
    sgd_on_data_with(problem, &problem.sample_loss(), run, control)
}

/// [`sgd_on_data`] with the loss and output `sample_loss` (your own [`LossFn`] and
/// [`ActivationFn`], or built-ins) instead of the config's `loss` and `activation`.
pub fn sgd_on_data_with<L: LossFn, A: ActivationFn>(
    problem: &Problem,
    sample_loss: &SampleLoss<L, A>,
    run: &UserRun<'_>,
    control: &Control,
) -> Result<Trajectory> {
    // The problem is checked already (once, when parsed).
    let cfg = problem.config();
    cfg.check_single_unit(
        "sgd_on_data with one weight vector (a committee on your data: network_on_data; in \
         Python sgd_trajectory with w0 of shape (K, d))",
    )?;
    let (data, w0) = (run.data, run.w0);
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
    let signs = checked_user_labels(data.y, &sample_loss.loss)?;
    let test = match checked_test_set(run.test, d, signs)? {
        None => TestObservables::Absent,
        Some((x, y)) => TestObservables::TestSet { x, y },
    };
    let label = "sgd_trajectory";
    let langevin = match run.langevin_noise {
        Some(xi) => {
            check_finite("langevin_noise", xi)?;
            LangevinNoise::Given(xi)
        }
        None => LangevinNoise::user_stream(run.seed),
    };
    let mut given;
    let mut drawn;
    let batches: &mut dyn BatchSchedule = match run.batches {
        Some(mask) => {
            given = GivenBatches::new(mask, cfg.steps, data.samples())?;
            &mut given
        }
        None => {
            drawn = MarkovBatches::new(cfg, user_batch_stream(run.seed));
            &mut drawn
        }
    };
    let observed = Observed {
        classify: signs,
        test,
    };
    run_sgd(
        cfg,
        sample_loss,
        data,
        w0.to_vec(),
        batches,
        langevin,
        observed,
        control,
        label,
        None,
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
            Observed::of_model(cfg),
            &Control::new(),
            "t",
            None,
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
        // w' = -89 w + 30 (m = w, q = 0): the first step whose m^2 passes the bound
        // 1e8 max(1, w0^2 = 1, y^2 = 1), long before anything overflows.
        let (mut w, mut first_bad) = (1.0f64, 0);
        while w * w <= 1e8 {
            w = -89.0 * w + 30.0;
            first_bad += 1;
        }
        assert_eq!(first_bad, 3);
        match err {
            Error::Diverged {
                step, observable, ..
            } => assert_eq!((step, observable.as_str()), (first_bad, "m")),
            other => panic!("{other:?}"),
        }
    }
}

#[cfg(test)]
mod user_data_tests {
    use super::*;

    /// The problem of a valid `cfg`.
    fn problem(cfg: &Config) -> Problem {
        Problem::new(cfg.clone()).expect("a valid setting")
    }

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
        let run = UserRun {
            seed: 9,
            ..UserRun::new(data, &[0.1, 0.2])
        };
        let drawn = sgd_on_data(&problem(&cfg), &run, &c).unwrap();
        let mask = crate::minibatch::batch_mask(&cfg, n, 9).unwrap();
        let given_run = UserRun {
            batches: Some(&mask),
            ..UserRun::new(data, &[0.1, 0.2])
        };
        let given = sgd_on_data(&problem(&cfg), &given_run, &c).unwrap();
        assert_eq!(drawn, given);
    }

    #[test]
    fn user_data_measure_their_test_observables_on_the_test_set_or_not_at_all() {
        // One step of GD from w0 on d = 2: the test observables are those of w0 on the
        // test rows, and absent without them.
        let cfg = Config {
            loss: Some(crate::config::Loss::Square),
            steps: 2,
            ..Config::default()
        };
        let (x, y, v) = ([1.0, 0.0, 0.0, 2.0], [1.0, -1.0], [1.0, 1.0]);
        let data = DataSet {
            x: &x,
            y: &y,
            v_star: &v,
        };
        let w0 = [0.5, -0.25];
        let c = Control::new();
        let bare = sgd_on_data(&problem(&cfg), &UserRun::new(data, &w0), &c).unwrap();
        assert!(bare.test_loss.is_empty() && bare.test_error.is_empty());
        assert_eq!(bare.train_error.len(), 2); // labels ±1: the training error is kept
        let (x_test, y_test) = ([2.0, 2.0, -1.0, 1.0], [1.0, 1.0]);
        let run = UserRun {
            test: Some((&x_test, &y_test)),
            ..UserRun::new(data, &w0)
        };
        let tested = sgd_on_data(&problem(&cfg), &run, &c).unwrap();
        // h = x·w0/sqrt(2): 0.5/sqrt(2) and -0.75/sqrt(2); losses (h - 1)^2/2, both wrong
        // only for the second (h < 0 with y = +1).
        let s = std::f64::consts::FRAC_1_SQRT_2;
        let (h1, h2) = (0.5 * s, -0.75 * s);
        let expected = 0.5 * (0.5 * (h1 - 1.0) * (h1 - 1.0) + 0.5 * (h2 - 1.0) * (h2 - 1.0));
        assert!((tested.test_loss[0] - expected).abs() < 1e-15);
        assert_eq!(tested.test_error[0], 0.5);
        assert_eq!((tested.m, tested.train_loss), (bare.m, bare.train_loss));
        // Real labels: no errors; a sign loss on them is refused, naming y.
        let real = DataSet {
            y: &[0.3, -1.2],
            ..data
        };
        let reg = sgd_on_data(&problem(&cfg), &UserRun::new(real, &w0), &c).unwrap();
        assert!(reg.train_error.is_empty());
        let logistic = Config {
            loss: Some(crate::config::Loss::Logistic),
            ..cfg.clone()
        };
        let err = sgd_on_data(&problem(&logistic), &UserRun::new(real, &w0), &c);
        assert!(matches!(err, Err(Error::InvalidParameter { ref name, .. }) if name == "y"));
        let ragged = UserRun {
            test: Some((&x_test[..3], &y_test)),
            ..UserRun::new(data, &w0)
        };
        let err = sgd_on_data(&problem(&cfg), &ragged, &c);
        assert!(matches!(err, Err(Error::InvalidParameter { ref name, .. }) if name == "X_test"));
    }

    #[test]
    fn bad_user_data_names_the_argument() {
        let cfg = Config::default();
        let c = Control::new();
        let x = [1.0, f64::NAN];
        let data = DataSet {
            x: &x,
            y: &[1.0],
            v_star: &[1.0, 1.0],
        };
        let err = sgd_on_data(&problem(&cfg), &UserRun::new(data, &[0.0, 0.0]), &c);
        assert!(matches!(err, Err(Error::InvalidParameter { ref name, .. }) if name == "X"));
        let data = DataSet {
            x: &[1.0, 2.0],
            y: &[1.0],
            v_star: &[3.0, 0.0],
        };
        let err = sgd_on_data(&problem(&cfg), &UserRun::new(data, &[0.0, 0.0]), &c);
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
                Observed::of_model(&cfg),
                &c,
                "t",
                None,
            )
        };
        assert_eq!(named(run(short_x, &[0.0, 0.0], &mut drawn())), "X");
        assert_eq!(named(run(no_samples, &[0.0, 0.0], &mut drawn())), "y");
        assert_eq!(named(run(no_dims, &[], &mut drawn())), "v_star");
        assert_eq!(named(run(data, &[0.0], &mut drawn())), "w0");
        assert_eq!(named(run(data, &[0.0; 3], &mut drawn())), "w0");
        for (data, w0) in [(short_x, &[0.0, 0.0][..]), (data, &[0.0][..])] {
            let name = named(sgd_on_data(&problem(&cfg), &UserRun::new(data, w0), &c));
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
            let run = UserRun {
                batches: Some(&mask),
                ..UserRun::new(data, &[0.0, 0.0])
            };
            let err = sgd_on_data(&problem(&cfg), &run, &c);
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
                Observed::of_model(&cfg),
                &c,
                "t",
                None,
            );
            assert_eq!(named(err), "batches");
        }
        let mask = vec![true; 6];
        let run = UserRun {
            batches: Some(&mask),
            ..UserRun::new(data, &[0.0, 0.0])
        };
        assert!(sgd_on_data(&problem(&cfg), &run, &c).is_ok());
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
