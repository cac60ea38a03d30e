//! The finite-d ensemble of two-layer networks (theory.md section 8): a committee
//! student `o = sum_k a_k sigma(h_k)`, `h_k = w_k·x/sqrt(d)`, with a fixed second layer
//! `a`, trained by the same SGD as one unit (the same [`Optimizer`], batch chain and
//! divergence rule) on the mixture or on a teacher with `K*` orthogonal directions
//! `w*_j` (`|w*_j|^2 = d`). Records the overlaps `M(k, j) = w_k·w*_j/d`, the Gram matrix
//! `Q(k, l) = w_k·w_l/d`, the training loss and error, and the test loss and error from
//! the exact Gaussian law of the fields given `M` and `Q`, by Monte Carlo over
//! [`TEST_DRAWS`] draws fixed per replica (their error is part of the spread over
//! replicas); with [`EnsembleSpec::record_two_time`] also each replica's two-time blocks
//! `C` and, by a twin run, `R` (theory.md section 8).

use crate::config::{Activation, Config, Data, Teacher};
use crate::control::Control;
use crate::divergence::DivergenceGuard;
use crate::error::{Error, Result};
use crate::losses::{ActivationFn, LossFn};
use crate::minibatch::{user_batch_stream, BatchSchedule, GivenBatches, MarkovBatches};
use crate::optimizer::{Descent, Optimizer};
use crate::problem::Problem;
use crate::resources::{check_memory, resolve_threads, with_threads};
use crate::rng::{stream, Domain};
use crate::sgd::{check_finite, checked_test_set, checked_user_labels, LangevinNoise, StepHook};
use crate::simd::{axpy, dot};
use crate::simulate::{EnsembleSpec, History, TwinResponse, FIELD_SCALE};
use rand::{Rng, RngExt};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

/// Monte Carlo draws of the fields per replica for the test loss and error.
pub const TEST_DRAWS: usize = 4096;

/// What a run of a two-layer network recorded: the order parameters and observables of
/// each of its independent runs (the replicas of a simulation, or the groups of effective
/// samples of the DMFT, whose mean is the DMFT's value) at every step, row-major.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct NetworkRuns {
    /// Number of independent runs: replicas, or groups.
    pub runs: usize,
    /// Number of steps `T`.
    pub steps: usize,
    /// The student's hidden units `K`.
    pub hidden: usize,
    /// The teacher's directions `K*` (1 for the mixture: `v*`).
    pub teacher_units: usize,
    /// Physical times `t_k`.
    pub t: Vec<f64>,
    /// `M(k, j) = w_k·w*_j/d`, shape `(runs, T, K, K*)`.
    pub overlaps: Vec<f64>,
    /// `Q(k, l) = w_k·w_l/d`, shape `(runs, T, K, K)`.
    pub gram: Vec<f64>,
    /// Mean training loss, `(runs, T)`.
    pub train_loss: Vec<f64>,
    /// Test loss, `(runs, T)`.
    pub test_loss: Vec<f64>,
    /// Training error (fraction with `y o <= 0`), `(runs, T)`; empty unless labels are
    /// ±1.
    pub train_error: Vec<f64>,
    /// Test error, `(runs, T)`; empty unless labels are ±1.
    pub test_error: Vec<f64>,
    /// The two-time blocks of each run, `C(t,s)_{kl}` and `R(t,s)_{kl}` at
    /// `[(run, t K + k, s K + l)]`, shape `(runs, T K, T K)`: the DMFT's where kept (see
    /// [`NetworkDmftOptions::keep_two_time`](crate::NetworkDmftOptions)), a simulation's
    /// with [`EnsembleSpec::record_two_time`] (theory.md section 8), else `None`.
    pub two_time: Option<(Vec<f64>, Vec<f64>)>,
}

/// The labels of a teacher with `K*` directions from their fields (theory.md eq. 8.2):
/// implement it for a target the built-in teachers cannot express. The engine calls it
/// once per replica for its training set and once for its test draws (labels are static
/// per sample), with the fields `h_star` row-major `(n, K*)` and the noises `eps ~ N(0,
/// 1)`, one per sample.
pub trait TargetFn: Send + Sync {
    /// `y` for each of the `eps.len()` samples.
    fn labels(&self, h_star: &[f64], eps: &[f64]) -> Result<Vec<f64>>;
}

/// The config's own teacher: `(1/K*) sum_j sigma*(h*_j) + sqrt(noise) eps`, its sign, or
/// `h*^2 + sqrt(noise) eps`.
pub(crate) struct BuiltinTarget<'a>(pub(crate) &'a Network);

impl TargetFn for BuiltinTarget<'_> {
    fn labels(&self, h_star: &[f64], eps: &[f64]) -> Result<Vec<f64>> {
        let units = h_star.len() / eps.len().max(1);
        Ok(h_star
            .chunks_exact(units.max(1))
            .zip(eps)
            .map(|(h, &e)| self.0.teacher_label(h, e))
            .collect())
    }
}

/// One run of a committee on one data set (theory.md section 8): its order parameters and
/// observables at every step, row-major, and its weights at the last step. What
/// [`network_on_data`] returns; a replica of [`simulate_network`] is one.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct NetworkTrajectory {
    /// The student's hidden units `K`.
    pub hidden: usize,
    /// The teacher's directions `K*`.
    pub teacher_units: usize,
    /// Physical times `t_k`.
    pub t: Vec<f64>,
    /// `M(k, j) = w_k·w*_j/d`, shape `(T, K, K*)`.
    pub overlaps: Vec<f64>,
    /// `Q(k, l) = w_k·w_l/d`, shape `(T, K, K)`.
    pub gram: Vec<f64>,
    /// Mean training loss (without the ridge term), `(T,)`.
    pub train_loss: Vec<f64>,
    /// Test loss, `(T,)`: from the data model's law of the fields in a simulation, on
    /// user data measured on the test set (empty without one).
    pub test_loss: Vec<f64>,
    /// Training error (fraction with `y o <= 0`), `(T,)`; empty unless labels are ±1.
    pub train_error: Vec<f64>,
    /// Test error, `(T,)`; empty unless labels are ±1, and on user data without a test
    /// set.
    pub test_error: Vec<f64>,
    /// The weights `w_k` at the last recorded step `T-1`, row-major `(K, d)`.
    pub w: Vec<f64>,
}

/// The network: its units, second layer and loss; the teacher's units; the data model.
pub(crate) struct Network {
    pub(crate) unit: Activation,
    pub(crate) a: Vec<f64>,
    pub(crate) loss: crate::config::Loss,
    teacher: Option<(Teacher, Activation, f64)>,
    /// The mixture's clusters and variance (`None` for a teacher).
    pub(crate) mixture: Option<(crate::config::Clusters, f64)>,
    pub(crate) classify: bool,
}

impl Network {
    pub(crate) fn of(problem: &Problem) -> Self {
        let cfg = problem.config();
        Network {
            unit: problem.activation(),
            a: cfg.second_layer(),
            loss: problem.loss(),
            teacher: match cfg.data {
                Data::Teacher(t) => Some((t, cfg.teacher_activation, cfg.noise)),
                Data::Mixture => None,
            },
            mixture: match cfg.data {
                Data::Mixture => Some((cfg.clusters, cfg.delta)),
                Data::Teacher(_) => None,
            },
            classify: problem.labels_are_signs(),
        }
    }

    /// The committee of `problem` on user data: no data model, the errors recorded where
    /// `classify` (every label ±1).
    fn on_data(problem: &Problem, classify: bool) -> Self {
        Network {
            unit: problem.activation(),
            a: problem.config().second_layer(),
            loss: problem.loss(),
            teacher: None,
            mixture: None,
            classify,
        }
    }

    /// The output `o = sum_k a_k sigma(h_k)`.
    pub(crate) fn output(&self, h: &[f64]) -> f64 {
        h.iter()
            .zip(&self.a)
            .map(|(h, a)| a * self.unit.output(*h))
            .sum()
    }

    /// A teacher's label from its fields `h*` and noise `eps`:
    /// `(1/K*) sum_j sigma*(h*_j) + sqrt(noise) eps` (or its sign), `h*^2 + ...` for the
    /// square teacher.
    fn teacher_label(&self, h_star: &[f64], eps: f64) -> f64 {
        let (teacher, unit, noise) = self.teacher.expect("a teacher");
        let noisy = |x: f64| x + noise.sqrt() * eps;
        match teacher {
            Teacher::Square => noisy(h_star[0] * h_star[0]),
            Teacher::Linear | Teacher::Sign => {
                let mean =
                    h_star.iter().map(|h| unit.output(*h)).sum::<f64>() / h_star.len() as f64;
                match teacher {
                    Teacher::Sign if noisy(mean) >= 0.0 => 1.0,
                    Teacher::Sign => -1.0,
                    _ => noisy(mean),
                }
            }
        }
    }
}

/// `K*` orthogonal directions of squared norm `d` (Gram-Schmidt on Gaussian vectors).
fn teacher_directions<R: Rng>(units: usize, d: usize, rng: &mut R) -> Vec<Vec<f64>> {
    let mut out: Vec<Vec<f64>> = Vec::with_capacity(units);
    for _ in 0..units {
        let mut v: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
        for u in &out {
            let along = dot(&v, u) / d as f64;
            axpy(-along, u, &mut v);
        }
        let scale = (d as f64 / dot(&v, &v)).sqrt();
        v.iter_mut().for_each(|x| *x *= scale);
        out.push(v);
    }
    out
}

/// The lower Cholesky factor of the symmetric `n x n` matrix `a` (row-major); a pivot
/// that rounding makes `<= 0` (a direction without variance) gives a zero column.
fn cholesky(a: &[f64], n: usize) -> Vec<f64> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let pivot = a[i * n + i] - s;
                l[i * n + i] = if pivot > 0.0 { pivot.sqrt() } else { 0.0 };
            } else if l[j * n + j] > 0.0 {
                l[i * n + j] = (a[i * n + j] - s) / l[j * n + j];
            }
        }
    }
    l
}

/// Runs the ensemble of the network `problem` on a local pool of `spec.threads` workers;
/// the numbers depend on the seed only, not on the thread count. Progress counts
/// replica-steps (the twin runs of `spec.record_two_time` too).
///
/// ```
/// use dmft_sgd::{simulate_network, Config, Control, Data, EnsembleSpec, Problem, Teacher};
///
/// let cfg = Config { data: Data::Teacher(Teacher::Linear), hidden: 2, teacher_hidden: 2,
///                    lr: 0.2, steps: 30, ..Config::default() };
/// let spec = EnsembleSpec::new(200, 2).seed(1).threads(Some(2));
/// let ens = simulate_network(&Problem::new(cfg).unwrap(), &spec, &Control::new()).unwrap();
/// assert_eq!(ens.overlaps.len(), 2 * 30 * 2 * 2);
/// assert!(ens.test_loss[29] < ens.test_loss[0]);
/// ```
pub fn simulate_network(
    problem: &Problem,
    spec: &EnsembleSpec,
    control: &Control,
) -> Result<NetworkRuns> {
    simulate_network_with(problem, None, spec, control)
}

/// [`simulate_network`] with the labels of `target` (a teacher of `teacher_hidden`
/// directions; `None`: the config's teacher). Needs `data = teacher`.
pub fn simulate_network_with(
    problem: &Problem,
    target: Option<&dyn TargetFn>,
    spec: &EnsembleSpec,
    control: &Control,
) -> Result<NetworkRuns> {
    let cfg = problem.config();
    if target.is_some() && !matches!(cfg.data, Data::Teacher(Teacher::Linear | Teacher::Sign)) {
        return Err(Error::invalid(
            "target",
            "needs data='teacher' with teacher='linear' (real labels) or 'sign' (labels ±1)",
        ));
    }
    if spec.d == 0 {
        return Err(Error::invalid("d", "must be >= 1, got 0"));
    }
    if spec.replicas == 0 {
        return Err(Error::invalid("replicas", "must be >= 1, got 0"));
    }
    let n = cfg.samples_for(spec.d)?;
    let threads = resolve_threads(spec.threads)?;
    let (k, ks) = (cfg.hidden, teacher_units(cfg));
    // Per replica in flight: its data, weights and gradients, test draws; the results.
    let (d, r, t) = (spec.d as f64, spec.replicas as f64, cfg.steps as f64);
    let mut per_replica = 8.0 * (n as f64 * (d + 1.0) + (2 * k + ks) as f64 * d)
        + 8.0 * (TEST_DRAWS * (k + ks + 2)) as f64;
    let mut results = 8.0 * r * t * ((k * ks + k * k) as f64 + 4.0);
    let mut hint = "use a smaller d, fewer replicas or fewer threads";
    if spec.record_two_time {
        // The history of w and the fields in flight (T K d each), C and R ((T K)^2 each).
        let tk = t * k as f64;
        per_replica += 8.0 * 2.0 * tk * d;
        results += 8.0 * 2.0 * r * tk * tk;
        hint = "use a smaller d, fewer steps, replicas or threads, or record_two_time=False";
    }
    check_memory(
        (threads.min(spec.replicas) as f64 * per_replica + 2.0 * results) as u64,
        hint,
    )?;
    let network = Network::of(problem);
    let builtin = BuiltinTarget(&network);
    let target = target.unwrap_or(&builtin);
    // Every replica runs to its end or its error; the lowest replica's error is reported.
    let outcomes: Vec<Result<(NetworkTrajectory, Option<TwoTimeBlocks>)>> =
        with_threads(Some(threads), || {
            (0..spec.replicas)
                .into_par_iter()
                .map(|r| run_replica(problem, &network, target, spec, n, r, control))
                .collect()
        })?;
    let (runs, blocks): (Vec<NetworkTrajectory>, Vec<Option<TwoTimeBlocks>>) = outcomes
        .into_iter()
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    let gather = |field: fn(&NetworkTrajectory) -> &Vec<f64>| -> Vec<f64> {
        runs.iter()
            .flat_map(|run| field(run).iter().copied())
            .collect()
    };
    let two_time = spec.record_two_time.then(|| {
        let blocks = blocks.iter().flatten();
        (
            blocks
                .clone()
                .flat_map(|(c, _)| c.iter().copied())
                .collect(),
            blocks.flat_map(|(_, r)| r.iter().copied()).collect(),
        )
    });
    Ok(NetworkRuns {
        runs: spec.replicas,
        steps: cfg.steps,
        hidden: k,
        teacher_units: ks,
        t: cfg.times(),
        overlaps: gather(|r| &r.overlaps),
        gram: gather(|r| &r.gram),
        train_loss: gather(|r| &r.train_loss),
        test_loss: gather(|r| &r.test_loss),
        train_error: gather(|r| &r.train_error),
        test_error: gather(|r| &r.test_error),
        two_time,
    })
}

/// One replica's two-time blocks `C` and `R`, each `(T K, T K)` at `(t K + k, s K + l)`.
type TwoTimeBlocks = (Vec<f64>, Vec<f64>);

/// `K*`: the teacher's directions (one for the mixture and the square teacher).
pub(crate) fn teacher_units(cfg: &Config) -> usize {
    match cfg.data {
        Data::Teacher(Teacher::Linear | Teacher::Sign) => cfg.teacher_hidden,
        _ => 1,
    }
}

/// One replica: its teacher, data, initial weights, batch chain and Langevin noise from
/// its own streams, then `T` steps of SGD on every unit ([`run_committee`]); with
/// `spec.record_two_time` also its blocks `C` and, by a twin run, `R` (theory.md
/// sections 4.7 and 8).
fn run_replica(
    problem: &Problem,
    net: &Network,
    target: &dyn TargetFn,
    spec: &EnsembleSpec,
    n: usize,
    r: usize,
    control: &Control,
) -> Result<(NetworkTrajectory, Option<TwoTimeBlocks>)> {
    let cfg = problem.config();
    let (k, ks) = (cfg.hidden, teacher_units(cfg));
    let mut rng = stream(spec.seed, Domain::NetworkReplica, r as u64);
    let ReplicaData { x, y, w_star, w0 } = replica_data(cfg, net, target, spec.d, n, &mut rng)?;
    let test_stream = stream(spec.seed, Domain::NetworkTest, r as u64);
    let tests = TestDraws::draw(net, target, k, ks, test_stream)?;
    // The replica's stream goes on as its batch chain; the twin's is that chain again,
    // from the same state.
    let twin_batches = spec.record_two_time.then(|| rng.clone());
    let mut batches = MarkovBatches::new(cfg, rng);
    let langevin = || {
        LangevinNoise::Drawn(Box::new(stream(
            spec.seed,
            Domain::NetworkLangevin,
            r as u64,
        )))
    };
    let m0 = cfg.m0();
    let guard = |label: String| DivergenceGuard::new(label, m0 * m0 + cfg.q0, label_moment(&y));
    let data = CommitteeData {
        x: &x,
        y: &y,
        w_star: &w_star,
        d: spec.d,
    };
    let twin_w0 = spec.record_two_time.then(|| w0.clone());
    let mut history = spec.record_two_time.then(|| History {
        w: Vec::with_capacity(cfg.steps * k * spec.d),
    });
    let label = format!("network simulation replica {r}");
    let run = run_committee(
        problem,
        net,
        data,
        w0,
        &guard(label.clone()),
        &mut batches,
        langevin(),
        NetworkTests::Draws(&tests),
        control,
        history.as_mut().map(|h| h as &mut dyn StepHook),
    )?;
    // The ensemble keeps no weights: K d numbers per replica until all have run.
    let run = NetworkTrajectory {
        w: Vec::new(),
        ..run
    };
    let (Some(mut history), Some(twin_w0), Some(twin_batches)) = (history, twin_w0, twin_batches)
    else {
        return Ok((run, None));
    };
    let c = history.correlation(&run.overlaps, ks);
    // The twin: the same data, start, batches and Langevin increments, and the fields
    // eps xi_k(t) on every unit and step from a stream of its own.
    let eps = FIELD_SCALE * (m0 * m0 + cfg.q0).max(1.0).sqrt();
    let field = stream(spec.seed, Domain::NetworkTwoTimeField, r as u64);
    let mut twin = TwinResponse::new(&mut history.w, eps, field);
    run_committee(
        problem,
        net,
        data,
        twin_w0,
        &guard(format!("{label} (twin run of the response)")),
        &mut MarkovBatches::new(cfg, twin_batches),
        langevin(),
        NetworkTests::Absent,
        control,
        Some(&mut twin),
    )?;
    let r = twin.response(cfg.steps, k);
    Ok((run, Some((c, r))))
}

/// A replica's data set and starting point, all row-major: rows `x_mu` (`n x d`), labels
/// `y_mu`, the teacher's directions `w*_j` (`K* x d`) and the initial weights `w_k(0)`
/// (`K x d`).
struct ReplicaData {
    x: Vec<f64>,
    y: Vec<f64>,
    w_star: Vec<f64>,
    w0: Vec<f64>,
}

/// Draws a replica's teacher, data (theory.md sections 1 and 8) and initial weights from
/// its stream `rng`, in that order.
fn replica_data(
    cfg: &Config,
    net: &Network,
    target: &dyn TargetFn,
    d: usize,
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Result<ReplicaData> {
    let (k, ks) = (cfg.hidden, teacher_units(cfg));
    let inv_sqrt_d = 1.0 / (d as f64).sqrt();
    let w_star = teacher_directions(ks, d, rng);

    // A teacher's labels come from the fields h*_mu and noises eps_mu, all at once.
    let mut x = vec![0.0f64; n * d];
    let mut y = vec![0.0f64; n];
    let mut h_star = vec![0.0f64; if net.mixture.is_some() { 0 } else { n * ks }];
    let mut eps = vec![0.0f64; if net.mixture.is_some() { 0 } else { n }];
    for (mu, (row, y_mu)) in x.chunks_exact_mut(d).zip(y.iter_mut()).enumerate() {
        row.iter_mut().for_each(|v| *v = rng.sample(StandardNormal));
        match net.mixture {
            Some((clusters, delta)) => {
                // x = c v*/sqrt(d) + sqrt(Delta) z.
                let (c, label) = clusters.draw(rng.random::<f64>());
                row.iter_mut().for_each(|v| *v *= delta.sqrt());
                axpy(c * inv_sqrt_d, &w_star[0], row);
                *y_mu = label;
            }
            None => {
                for (h, w) in h_star[mu * ks..(mu + 1) * ks].iter_mut().zip(&w_star) {
                    *h = dot(row, w) * inv_sqrt_d;
                }
                eps[mu] = rng.sample(StandardNormal);
            }
        }
    }
    if net.mixture.is_none() {
        y = checked_labels(target, &h_star, &eps, net.classify)?;
    }
    // w_k(0) = m0 w*_1 + sqrt(q0) z_k, independent z_k.
    let (m0, sqrt_q0) = (cfg.m0(), cfg.q0.sqrt());
    let mut w0 = Vec::with_capacity(k * d);
    for _ in 0..k {
        for &v in &w_star[0] {
            w0.push(m0 * v + sqrt_q0 * rng.sample::<f64, _>(StandardNormal));
        }
    }
    Ok(ReplicaData {
        x,
        y,
        w_star: w_star.concat(),
        w0,
    })
}

/// `E[y^2]` of a training set, which with `|w(0)|^2/d` sets the divergence bound.
fn label_moment(y: &[f64]) -> f64 {
    y.iter().map(|v| v * v).sum::<f64>() / y.len() as f64
}

/// The data a committee trains on, row-major: rows `x_mu` (`n x d`), labels `y_mu`, and
/// the teacher's directions `w*_j` (`K* x d`) that `M` is measured along.
#[derive(Clone, Copy)]
struct CommitteeData<'a> {
    x: &'a [f64],
    y: &'a [f64],
    w_star: &'a [f64],
    d: usize,
}

/// Where a committee's test loss and error come from.
#[derive(Clone, Copy)]
enum NetworkTests<'a> {
    /// The data model's law of the fields given `M` and `Q`, over fixed draws (a
    /// simulation of the config's model).
    Draws(&'a TestDraws),
    /// Measured at every step on a held-out set (row-major rows `x`, labels `y`).
    TestSet { x: &'a [f64], y: &'a [f64] },
    /// Not recorded (user data without a test set).
    Absent,
}

/// The fields `h_k = w_k·x/sqrt(d)` of the row `x` for the weights `w` (`K x d`).
fn fields(w: &[f64], x: &[f64], inv_sqrt_d: f64, h: &mut [f64]) {
    for (hk, wk) in h.iter_mut().zip(w.chunks_exact(x.len())) {
        *hk = dot(x, wk) * inv_sqrt_d;
    }
}

/// `T` steps of SGD on every unit of the committee `net` from `w0` (theory.md eqs. 8.1
/// and 1.2) on `data`, with the batches of `batches`, the Langevin increments of
/// `langevin` (unit `k`'s of step `t` at index `t K + k`) and the test observables of
/// `tests`; `guard` bounds the weights. `hook`, if any, sees every step's weights (`K x
/// d`) and may push them (the two-time functions). Shapes are the caller's to check.
#[allow(clippy::too_many_arguments)] // one recursion, all its inputs
fn run_committee(
    problem: &Problem,
    net: &Network,
    data: CommitteeData<'_>,
    w0: Vec<f64>,
    guard: &DivergenceGuard,
    batches: &mut dyn BatchSchedule,
    mut langevin: LangevinNoise<'_>,
    tests: NetworkTests<'_>,
    control: &Control,
    mut hook: Option<&mut dyn StepHook>,
) -> Result<NetworkTrajectory> {
    let cfg = problem.config();
    let CommitteeData { x, y, w_star, d } = data;
    let (n, k, ks, steps) = (y.len(), net.a.len(), w_star.len() / d, cfg.steps);
    let inv_sqrt_d = 1.0 / (d as f64).sqrt();
    batches.covers(steps, n)?;

    let optimizer: &Optimizer = problem.optimizer();
    let mut states: Vec<_> = (0..k).map(|_| optimizer.init(d)).collect();
    let mut w = w0;
    let mut descent = vec![0.0f64; k * d]; // sum_mu s_mu f_k(mu) x_mu, unit by unit
    let mut xi = vec![0.0f64; if optimizer.is_noisy() { d } else { 0 }];
    let mut s = vec![false; n];
    let mut h = vec![0.0f64; k];
    let mut out = NetworkTrajectory {
        hidden: k,
        teacher_units: ks,
        t: cfg.times(),
        overlaps: Vec::with_capacity(steps * k * ks),
        gram: Vec::with_capacity(steps * k * k),
        train_loss: Vec::with_capacity(steps),
        test_loss: Vec::with_capacity(steps),
        train_error: Vec::new(),
        test_error: Vec::new(),
        w: Vec::new(),
    };
    let batch_weight = problem.batches().weight;
    for step in 0..steps {
        batches.fill(step, &mut s);
        // The order parameters of w(step).
        let overlaps: Vec<f64> = w
            .chunks_exact(d)
            .flat_map(|wk| w_star.chunks_exact(d).map(move |ws| dot(wk, ws) / d as f64))
            .collect();
        let gram: Vec<f64> = w
            .chunks_exact(d)
            .flat_map(|wk| w.chunks_exact(d).map(move |wl| dot(wk, wl) / d as f64))
            .collect();
        for unit in 0..k {
            let m = overlaps[unit * ks];
            guard.check_weights(cfg, step, m, gram[unit * k + unit] - m * m)?;
        }
        if let Some(hook) = hook.as_mut() {
            hook.observe(step, &w);
        }

        // The forward pass over every sample and the descent of the units for those in
        // the batch: dl/dh_k = ell_o(y, o) a_k sigma'(h_k).
        descent.fill(0.0);
        let (mut loss_sum, mut errors) = (0.0, 0usize);
        for ((row, &y_mu), &in_batch) in x.chunks_exact(d).zip(y).zip(&s) {
            fields(&w, row, inv_sqrt_d, &mut h);
            let o = net.output(&h);
            let (ell, ell_o) = net.loss.ell_and_slope(y_mu, o);
            loss_sum += ell;
            errors += usize::from(y_mu * o <= 0.0);
            if in_batch {
                for ((g, hk), ak) in descent.chunks_exact_mut(d).zip(&h).zip(&net.a) {
                    let slope = ell_o * ak * net.unit.derivatives(*hk).0;
                    axpy(-slope, row, g);
                }
            }
        }
        if !loss_sum.is_finite() {
            return Err(guard.non_finite(cfg, step, "train_loss"));
        }
        out.train_loss.push(loss_sum / n as f64);
        if net.classify {
            out.train_error.push(errors as f64 / n as f64);
        }
        let test = match tests {
            NetworkTests::Draws(draws) => Some(draws.evaluate(net, &overlaps, &gram, k, ks)),
            NetworkTests::TestSet { x, y } => {
                let (mut loss, mut wrong) = (0.0, 0usize);
                for (row, &y_mu) in x.chunks_exact(d).zip(y) {
                    fields(&w, row, inv_sqrt_d, &mut h);
                    let o = net.output(&h);
                    loss += net.loss.ell_and_slope(y_mu, o).0;
                    wrong += usize::from(y_mu * o <= 0.0);
                }
                Some((loss / y.len() as f64, wrong as f64 / y.len() as f64))
            }
            NetworkTests::Absent => None,
        };
        if let Some((test_loss, test_error)) = test {
            out.test_loss.push(test_loss);
            if net.classify {
                out.test_error.push(test_error);
            }
        }
        out.overlaps.extend(overlaps);
        out.gram.extend(gram);

        if step + 1 < steps {
            if let Some(hook) = hook.as_mut() {
                // Every unit's descent sum, so a push moves each w_k(step + 1) as the
                // DMFT's force eta_k(step) dt does.
                let to_descent = 1.0 / (optimizer.lr_at(step) * inv_sqrt_d * batch_weight);
                hook.push(step, &mut descent, to_descent);
            }
            let units = w
                .chunks_exact_mut(d)
                .zip(&mut states)
                .zip(descent.chunks_exact(d));
            for (unit, ((wk, state), g)) in units.enumerate() {
                let noise = if optimizer.is_noisy() {
                    langevin.fill(step * k + unit, &mut xi);
                    Some(xi.as_slice())
                } else {
                    None
                };
                optimizer.update(
                    step,
                    state,
                    wk,
                    Descent::new(g, inv_sqrt_d, batch_weight),
                    noise,
                );
            }
        }
        control.checkpoint(1)?;
    }
    out.w = w;
    Ok(out)
}

/// A committee's run on a data set of your own: everything [`network_on_data`] needs
/// besides the config (whose `hidden` and `second_layer` give `K` and `a`). Start from
/// [`NetworkRun::new`] and set what you need.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct NetworkRun<'a> {
    /// The training rows `x_mu`, row-major `(n, d)`.
    pub x: &'a [f64],
    /// The labels, `n` of them.
    pub y: &'a [f64],
    /// The directions `w*_j` that `M(k, j) = w_k·w*_j/d` is measured along (a teacher's,
    /// or the mixture's `v*`), row-major `(K*, d)`, each with `|w*_j|^2 = d`.
    pub v_star: &'a [f64],
    /// The initial weights `w_k(0)`, row-major `(K, d)`.
    pub w0: &'a [f64],
    /// The dimension `d`.
    pub d: usize,
    /// Seed of the batch chain and the Langevin increments that are drawn (the streams of
    /// [`sgd_on_data`](crate::sgd_on_data)).
    pub seed: u64,
    /// A row-major `(steps, n)` batch mask replacing the drawn chain.
    pub batches: Option<&'a [bool]>,
    /// Row-major `(steps, K, d)` standard normals replacing the drawn Langevin increments
    /// (`[t, k]` moves `w_k(t)` to `w_k(t+1)`; the last step's are unused).
    pub langevin_noise: Option<&'a [f64]>,
    /// A held-out set (row-major `(n_test, d)` rows and their labels) on which the test
    /// loss and error are measured at every step; without one they are not recorded.
    pub test: Option<(&'a [f64], &'a [f64])>,
}

impl<'a> NetworkRun<'a> {
    /// A run on the rows `x` (`(n, d)`) and labels `y`, with `M` along `v_star` (`(K*,
    /// d)`), from `w0` (`(K, d)`): seed 0, drawn batches and increments, no test set.
    pub fn new(x: &'a [f64], y: &'a [f64], v_star: &'a [f64], w0: &'a [f64], d: usize) -> Self {
        NetworkRun {
            x,
            y,
            v_star,
            w0,
            d,
            seed: 0,
            batches: None,
            langevin_noise: None,
            test: None,
        }
    }
}

/// SGD of a committee (theory.md section 8: `K = hidden` units, second layer `a`, the
/// config's activation, loss and optimizer) on a data set the user supplies, the
/// committee's [`sgd_on_data`](crate::sgd_on_data): batches drawn from `run.seed` (the
/// mask [`batch_mask`](crate::batch_mask) gives) or given, Langevin increments drawn or
/// given. The config's data model (`data`, `clusters`, `delta`, `teacher`, `noise`,
/// `alpha`, `teacher_hidden`, `teacher_activation`) is not used: `n`, `d` and `K*` come
/// from the data, the errors are recorded where every label is ±1, and the test
/// observables are measured on `run.test` (absent without one). Checks shapes and values
/// first; errors name the offending argument as the Python API spells it.
///
/// ```
/// use dmft_sgd::{network_on_data, Config, Control, NetworkRun, Problem};
///
/// let cfg = Config { hidden: 2, loss: Some(dmft_sgd::Loss::Square), steps: 3,
///                    ..Config::default() };
/// let (x, y) = ([1.0, 0.0, 0.0, 1.0, 1.0, 1.0], [0.5, -0.5, 0.2]);
/// let (v_star, w0) = ([1.0, 1.0], [0.1, 0.2, -0.3, 0.4]);
/// let run = NetworkRun::new(&x, &y, &v_star, &w0, 2);
/// let out = network_on_data(&Problem::new(cfg).unwrap(), &run, &Control::new()).unwrap();
/// assert_eq!((out.overlaps.len(), out.gram.len(), out.w.len()), (3 * 2, 3 * 4, 4));
/// assert!(out.train_loss[2] < out.train_loss[0]);
/// ```
pub fn network_on_data(
    problem: &Problem,
    run: &NetworkRun<'_>,
    control: &Control,
) -> Result<NetworkTrajectory> {
    let cfg = problem.config();
    let (n, d, k, steps) = (run.y.len(), run.d, cfg.hidden, cfg.steps);
    if d == 0 {
        return Err(Error::invalid(
            "v_star",
            "must have at least one column (d >= 1)",
        ));
    }
    if n == 0 {
        return Err(Error::invalid("y", "must have at least one sample"));
    }
    if n.checked_mul(d) != Some(run.x.len()) {
        return Err(Error::invalid(
            "X",
            format!(
                "must have shape (n, d) = ({n}, {d}) to match y and v_star, got {} entries",
                run.x.len()
            ),
        ));
    }
    if run.v_star.is_empty() || run.v_star.len() % d != 0 {
        return Err(Error::invalid(
            "v_star",
            format!(
                "must have shape (K*, d) with K* >= 1 and d = {d}, got {} entries",
                run.v_star.len()
            ),
        ));
    }
    if Some(run.w0.len()) != k.checked_mul(d) {
        return Err(Error::invalid(
            "w0",
            format!(
                "must have shape (K, d) = ({k}, {d}), K = hidden, got {} entries",
                run.w0.len()
            ),
        ));
    }
    let langevin = match run.langevin_noise {
        Some(xi) if Some(xi.len()) != steps.checked_mul(k * d) => {
            return Err(Error::invalid(
                "langevin_noise",
                format!(
                    "must have shape (steps, K, d) = ({steps}, {k}, {d}), got {} entries",
                    xi.len()
                ),
            ))
        }
        Some(xi) => {
            check_finite("langevin_noise", xi)?;
            LangevinNoise::Given(xi)
        }
        None => LangevinNoise::user_stream(run.seed),
    };
    check_finite("X", run.x)?;
    check_finite("y", run.y)?;
    check_finite("v_star", run.v_star)?;
    check_finite("w0", run.w0)?;
    for (j, direction) in run.v_star.chunks_exact(d).enumerate() {
        let norm2 = dot(direction, direction) / d as f64;
        if (norm2 - 1.0).abs() > 1e-6 {
            return Err(Error::invalid(
                "v_star",
                format!(
                    "must have rows normalised to |v*_j|^2 = d (theory convention), got \
                     |v*_{j}|^2/d = {norm2}"
                ),
            ));
        }
    }
    let signs = checked_user_labels(run.y, &problem.loss())?;
    let tests = match checked_test_set(run.test, d, signs)? {
        None => NetworkTests::Absent,
        Some((x, y)) => NetworkTests::TestSet { x, y },
    };
    let mut given;
    let mut drawn;
    let batches: &mut dyn BatchSchedule = match run.batches {
        Some(mask) => {
            given = GivenBatches::new(mask, steps, n)?;
            &mut given
        }
        None => {
            drawn = MarkovBatches::new(cfg, user_batch_stream(run.seed));
            &mut drawn
        }
    };
    let net = Network::on_data(problem, signs);
    // The scale of the weights' norm: the largest unit's |w_k(0)|^2/d.
    let initial_norm = run
        .w0
        .chunks_exact(d)
        .map(|wk| dot(wk, wk) / d as f64)
        .fold(0.0, f64::max);
    let guard = DivergenceGuard::new("sgd_trajectory", initial_norm, label_moment(run.y));
    let data = CommitteeData {
        x: run.x,
        y: run.y,
        w_star: run.v_star,
        d,
    };
    run_committee(
        problem,
        &net,
        data,
        run.w0.to_vec(),
        &guard,
        batches,
        langevin,
        tests,
        control,
        None,
    )
}

/// The labels of `target` for the fields `h_star` and noises `eps`: one per sample,
/// finite, and ±1 where the model's labels are signs.
pub(crate) fn checked_labels(
    target: &dyn TargetFn,
    h_star: &[f64],
    eps: &[f64],
    signs: bool,
) -> Result<Vec<f64>> {
    let y = target.labels(h_star, eps)?;
    if y.len() != eps.len() {
        return Err(Error::invalid(
            "target",
            format!(
                "must return one label per sample, {} asked, got {}",
                eps.len(),
                y.len()
            ),
        ));
    }
    if let Some(bad) = y
        .iter()
        .find(|v| !v.is_finite() || (signs && v.abs() != 1.0))
    {
        let what = if signs {
            "labels ±1 (teacher='sign')"
        } else {
            "finite labels"
        };
        return Err(Error::invalid(
            "target",
            format!("must return {what}, got {bad}"),
        ));
    }
    Ok(y)
}

/// The fixed draws of one replica's test observables: standard normals for the fields
/// (`K* + K` each: the teacher's, then the student's innovations), and for a teacher
/// each draw's label (static: `h* = z*` whatever `M` and `Q`), for the mixture each
/// draw's cluster and label.
pub(crate) struct TestDraws {
    z: Vec<f64>,
    labels: Vec<f64>,
    clusters: Vec<(f64, f64)>,
}

impl TestDraws {
    /// The draws for `k` student and `ks` teacher units from `rng` (a replica's or a
    /// DMFT group's own stream).
    pub(crate) fn draw(
        net: &Network,
        target: &dyn TargetFn,
        k: usize,
        ks: usize,
        mut rng: ChaCha8Rng,
    ) -> Result<Self> {
        let n = k + ks;
        let z: Vec<f64> = (0..TEST_DRAWS * n)
            .map(|_| rng.sample(StandardNormal))
            .collect();
        let eps: Vec<f64> = (0..TEST_DRAWS)
            .map(|_| rng.sample(StandardNormal))
            .collect();
        let (labels, clusters) = match net.mixture {
            Some((clusters, _)) => (
                Vec::new(),
                (0..TEST_DRAWS)
                    .map(|_| clusters.draw(rng.random::<f64>()))
                    .collect(),
            ),
            None => {
                let h_star: Vec<f64> = z.chunks_exact(n).flat_map(|zi| zi[..ks].to_vec()).collect();
                (
                    checked_labels(target, &h_star, &eps, net.classify)?,
                    Vec::new(),
                )
            }
        };
        Ok(TestDraws {
            z,
            labels,
            clusters,
        })
    }

    /// The test loss and error at the order parameters `M` (`K x K*`) and `Q` (`K x K`):
    /// for a teacher `h* = z*` and `h = M z* + L z` with `L L^T = Q - M M^T` (the law
    /// `(h, h*) ~ N(0, [[Q, M], [M^T, I]])`); for the mixture `h = c M + sqrt(Delta) g`,
    /// `g = L z ~ N(0, Q)`.
    pub(crate) fn evaluate(
        &self,
        net: &Network,
        m: &[f64],
        q: &[f64],
        k: usize,
        ks: usize,
    ) -> (f64, f64) {
        let n = k + ks;
        let (mut loss, mut wrong) = (0.0, 0usize);
        let mut h = vec![0.0; k];
        let mut score = |h: &[f64], y: f64| {
            let o = net.output(h);
            loss += net.loss.ell_and_slope(y, o).0;
            wrong += usize::from(y * o <= 0.0);
        };
        match net.mixture {
            Some((_, delta)) => {
                let l = cholesky(q, k);
                for (i, &(c, y)) in self.clusters.iter().enumerate() {
                    let z = &self.z[i * n + ks..(i + 1) * n];
                    for a in 0..k {
                        let g = dot(&l[a * k..a * k + a + 1], &z[..a + 1]);
                        h[a] = c * m[a * ks] + delta.sqrt() * g;
                    }
                    score(&h, y);
                }
            }
            None => {
                // The covariance of h given h*: Q - M M^T.
                let conditional: Vec<f64> = (0..k * k)
                    .map(|ab| {
                        let (a, b) = (ab / k, ab % k);
                        q[ab] - dot(&m[a * ks..(a + 1) * ks], &m[b * ks..(b + 1) * ks])
                    })
                    .collect();
                let l = cholesky(&conditional, k);
                for (i, &y) in self.labels.iter().enumerate() {
                    let (z_star, z) = self.z[i * n..(i + 1) * n].split_at(ks);
                    for a in 0..k {
                        h[a] = dot(&m[a * ks..(a + 1) * ks], z_star)
                            + dot(&l[a * k..a * k + a + 1], &z[..a + 1]);
                    }
                    score(&h, y);
                }
            }
        }
        let draws = TEST_DRAWS as f64;
        (loss / draws, wrong as f64 / draws)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teacher_directions_are_orthogonal_with_norm_d() {
        let mut rng = stream(3, Domain::NetworkReplica, 0);
        let w = teacher_directions(3, 50, &mut rng);
        for i in 0..3 {
            for j in 0..3 {
                let g = dot(&w[i], &w[j]) / 50.0;
                assert!((g - f64::from(i == j)).abs() < 1e-12, "{i} {j} {g}");
            }
        }
    }

    #[test]
    fn cholesky_reproduces_the_matrix_and_tolerates_a_flat_direction() {
        let a = [4.0, 2.0, 0.6, 2.0, 2.0, 0.5, 0.6, 0.5, 3.0];
        let l = cholesky(&a, 3);
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|k| l[i * 3 + k] * l[j * 3 + k]).sum();
                assert!((v - a[i * 3 + j]).abs() < 1e-12);
            }
        }
        // Rank one: the second pivot is zero, its column too.
        let l = cholesky(&[1.0, 1.0, 1.0, 1.0], 2);
        assert_eq!(l, [1.0, 0.0, 1.0, 0.0]);
    }

    /// Three rows in two dimensions with real labels, `v*` along the diagonal.
    const X: [f64; 6] = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
    const Y: [f64; 3] = [0.5, -0.5, 0.2];
    const V: [f64; 2] = [1.0, 1.0];

    fn committee(hidden: usize, steps: usize) -> Problem {
        Problem::new(Config {
            hidden,
            loss: Some(crate::config::Loss::Square),
            steps,
            ..Config::default()
        })
        .unwrap()
    }

    fn refused(problem: &Problem, run: &NetworkRun<'_>) -> String {
        match network_on_data(problem, run, &Control::new()) {
            Err(Error::InvalidParameter { name, .. }) => name,
            other => panic!("expected an invalid parameter, got {other:?}"),
        }
    }

    #[test]
    fn bad_user_data_of_a_committee_are_refused_by_name() {
        let (problem, w0) = (committee(2, 3), [0.0; 4]);
        let run = |x, y, v, w0, d| NetworkRun::new(x, y, v, w0, d);
        assert_eq!(refused(&problem, &run(&X[..5], &Y, &V, &w0, 2)), "X");
        assert_eq!(refused(&problem, &run(&X, &[], &V, &w0, 2)), "y");
        assert_eq!(refused(&problem, &run(&X, &Y, &V[..1], &w0, 2)), "v_star");
        assert_eq!(
            refused(&problem, &run(&X, &Y, &[2.0, 0.0], &w0, 2)),
            "v_star"
        );
        assert_eq!(refused(&problem, &run(&X, &Y, &V, &w0[..2], 2)), "w0");
        assert_eq!(refused(&problem, &run(&[], &[], &[], &[], 0)), "v_star");
        let short_noise = [0.0; 8];
        let noisy = NetworkRun {
            langevin_noise: Some(&short_noise),
            ..run(&X, &Y, &V, &w0, 2)
        };
        assert_eq!(refused(&problem, &noisy), "langevin_noise");
        let mask = [true; 8];
        let masked = NetworkRun {
            batches: Some(&mask),
            ..run(&X, &Y, &V, &w0, 2)
        };
        assert_eq!(refused(&problem, &masked), "batches");
        let (x_test, y_test) = ([1.0, 2.0, 3.0], [1.0, 1.0]);
        let tested = NetworkRun {
            test: Some((&x_test, &y_test)),
            ..run(&X, &Y, &V, &w0, 2)
        };
        assert_eq!(refused(&problem, &tested), "X_test");
        let logistic = Problem::new(Config {
            hidden: 2,
            ..Config::default()
        })
        .unwrap();
        assert_eq!(refused(&logistic, &run(&X, &Y, &V, &w0, 2)), "y");
        assert!(network_on_data(&problem, &run(&X, &Y, &V, &w0, 2), &Control::new()).is_ok());
    }

    #[test]
    fn one_unit_on_user_data_is_the_single_unit_recursion() {
        // K = 1, a = 1, a linear unit: the committee is sgd_on_data's model, on the same
        // batch chain and Langevin increments.
        let cfg = Config {
            loss: Some(crate::config::Loss::Square),
            batch: 0.5,
            temperature: 0.1,
            lam: 0.2,
            steps: 6,
            ..Config::default()
        };
        let problem = Problem::new(cfg).unwrap();
        let w0 = [0.3, -0.1];
        let run = NetworkRun {
            seed: 4,
            ..NetworkRun::new(&X, &Y, &V, &w0, 2)
        };
        let net = network_on_data(&problem, &run, &Control::new()).unwrap();
        let data = crate::sgd::DataSet {
            x: &X,
            y: &Y,
            v_star: &V,
        };
        let one_run = crate::sgd::UserRun {
            seed: 4,
            ..crate::sgd::UserRun::new(data, &w0)
        };
        let one = crate::sgd::sgd_on_data(&problem, &one_run, &Control::new()).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1e-3);
        for k in 0..6 {
            assert!(close(net.overlaps[k], one.m[k]), "M at {k}");
            assert!(
                close(net.gram[k], one.q[k] + one.m[k] * one.m[k]),
                "Q at {k}"
            );
            assert!(close(net.train_loss[k], one.train_loss[k]), "loss at {k}");
        }
        assert!(net.w.iter().zip(&one.w).all(|(a, b)| close(*a, *b)));
        assert!(net.test_loss.is_empty() && net.train_error.is_empty());
    }

    #[test]
    fn two_time_blocks_leave_the_run_alone_and_hold_q_minus_m_m_at_equal_times() {
        let cfg = Config {
            data: Data::Teacher(Teacher::Linear),
            hidden: 2,
            teacher_hidden: 2,
            teacher_activation: Activation::Erf,
            batch: 0.5,
            momentum: 0.3,
            steps: 6,
            ..Config::default()
        };
        let problem = Problem::new(cfg).unwrap();
        let spec = EnsembleSpec::new(60, 2).seed(3).threads(Some(2));
        let plain = simulate_network(&problem, &spec, &Control::new()).unwrap();
        let two = simulate_network(&problem, &spec.record_two_time(true), &Control::new()).unwrap();
        let (c, r) = two.two_time.clone().unwrap();
        assert_eq!(
            NetworkRuns {
                two_time: None,
                ..two
            },
            plain
        );
        let (k, steps, n) = (2, 6, 12);
        for run in 0..2 {
            let (c, r) = (&c[run * n * n..], &r[run * n * n..]);
            for (a, b) in (0..n).flat_map(|a| (0..n).map(move |b| (a, b))) {
                let (t, s, unit, other) = (a / k, b / k, a % k, b % k);
                assert_eq!(c[a * n + b], c[b * n + a]);
                assert_eq!(r[a * n + b] == 0.0, s >= t, "R at {a}, {b}");
                if t == s {
                    let m = &plain.overlaps[(run * steps + t) * 4..];
                    let along = m[unit * 2] * m[other * 2] + m[unit * 2 + 1] * m[other * 2 + 1];
                    let q = plain.gram[(run * steps + t) * 4 + unit * 2 + other];
                    assert!((c[a * n + b] + along - q).abs() < 1e-12);
                }
            }
        }
    }

    #[test]
    fn a_committee_of_one_linear_unit_is_the_single_unit_model_in_law() {
        // K = 1, a = 1: the same model as the single-unit simulator; its test loss from
        // M, Q by Monte Carlo matches the closed form within the draws' error.
        let cfg = Config {
            data: Data::Teacher(Teacher::Linear),
            second_layer: Some(vec![1.0]),
            teacher_activation: Activation::Erf,
            lr: 0.1,
            steps: 3,
            ..Config::default()
        };
        let problem = Problem::new(cfg).unwrap();
        let net = Network::of(&problem);
        let rng = stream(0, Domain::NetworkTest, 0);
        let tests = TestDraws::draw(&net, &BuiltinTarget(&net), 1, 1, rng).unwrap();
        // m = 0.4, |w|^2/d = 0.9: y = erf(h*/sqrt 2) + 0, o = h.
        let (loss, _) = tests.evaluate(&net, &[0.4], &[0.9], 1, 1);
        // E[(h - erf(h*/sqrt 2))^2]/2 = (Q - 2 M E[h* erf] + E[erf^2])/2 with
        // E[h* erf(h*/sqrt 2)] = sqrt(2/pi)/sqrt(2) = 1/sqrt(pi), E[erf^2] = (2/pi) asin(1/2).
        let exact = 0.5
            * (0.9 - 2.0 * 0.4 / std::f64::consts::PI.sqrt()
                + 2.0 / std::f64::consts::PI * (0.5f64).asin());
        assert!((loss - exact).abs() < 0.02, "{loss} vs {exact}");
    }
}
