//! The finite-d ensemble of two-layer networks (theory.md section 8): a committee
//! student `o = sum_k a_k sigma(h_k)`, `h_k = w_k·x/sqrt(d)`, with a fixed second layer
//! `a`, trained by the same SGD as one unit (the same [`Optimizer`], batch chain and
//! divergence rule) on the mixture or on a teacher with `K*` orthogonal directions
//! `w*_j` (`|w*_j|^2 = d`). Records the overlaps `M(k, j) = w_k·w*_j/d`, the Gram matrix
//! `Q(k, l) = w_k·w_l/d`, the training loss and error, and the test loss and error from
//! the exact Gaussian law of the fields given `M` and `Q`, by Monte Carlo over
//! [`TEST_DRAWS`] draws fixed per replica (their error is part of the spread over
//! replicas).

use crate::config::{Activation, Config, Data, Teacher};
use crate::control::Control;
use crate::divergence::DivergenceGuard;
use crate::error::{Error, Result};
use crate::losses::{ActivationFn, LossFn};
use crate::minibatch::{BatchSchedule, MarkovBatches};
use crate::optimizer::{Descent, Optimizer};
use crate::problem::Problem;
use crate::resources::{check_memory, resolve_threads, with_threads};
use crate::rng::{stream, Domain};
use crate::simd::{axpy, dot};
use crate::simulate::EnsembleSpec;
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
    /// The DMFT's two-time blocks of each group, `C(t,s)_{kl}` and `R(t,s)_{kl}` at
    /// `[(run, t K + k, s K + l)]`, shape `(runs, T K, T K)`; empty for a simulation, and
    /// where not kept (see [`NetworkDmftOptions::keep_two_time`](crate::NetworkDmftOptions)).
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

/// One replica's run.
struct ReplicaRun {
    overlaps: Vec<f64>,
    gram: Vec<f64>,
    train_loss: Vec<f64>,
    test_loss: Vec<f64>,
    train_error: Vec<f64>,
    test_error: Vec<f64>,
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
/// replica-steps.
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
    let per_replica = 8.0 * (n as f64 * (d + 1.0) + (2 * k + ks) as f64 * d)
        + 8.0 * (TEST_DRAWS * (k + ks + 2)) as f64;
    let results = 8.0 * r * t * ((k * ks + k * k) as f64 + 4.0);
    check_memory(
        (threads.min(spec.replicas) as f64 * per_replica + 2.0 * results) as u64,
        "use a smaller d, fewer replicas or fewer threads",
    )?;
    let network = Network::of(problem);
    let builtin = BuiltinTarget(&network);
    let target = target.unwrap_or(&builtin);
    // Every replica runs to its end or its error; the lowest replica's error is reported.
    let outcomes: Vec<Result<ReplicaRun>> = with_threads(Some(threads), || {
        (0..spec.replicas)
            .into_par_iter()
            .map(|r| run_replica(problem, &network, target, spec, n, r, control))
            .collect()
    })?;
    let runs = outcomes.into_iter().collect::<Result<Vec<ReplicaRun>>>()?;
    let gather = |field: fn(&ReplicaRun) -> &Vec<f64>| -> Vec<f64> {
        runs.iter()
            .flat_map(|run| field(run).iter().copied())
            .collect()
    };
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
        two_time: None,
    })
}

/// `K*`: the teacher's directions (one for the mixture and the square teacher).
pub(crate) fn teacher_units(cfg: &Config) -> usize {
    match cfg.data {
        Data::Teacher(Teacher::Linear | Teacher::Sign) => cfg.teacher_hidden,
        _ => 1,
    }
}

/// One replica: its teacher, data, initial weights, batch chain and Langevin noise from
/// its own streams; `T` steps of SGD on every unit.
fn run_replica(
    problem: &Problem,
    net: &Network,
    target: &dyn TargetFn,
    spec: &EnsembleSpec,
    n: usize,
    r: usize,
    control: &Control,
) -> Result<ReplicaRun> {
    let cfg = problem.config();
    let (d, k, ks, steps) = (spec.d, cfg.hidden, teacher_units(cfg), cfg.steps);
    let inv_sqrt_d = 1.0 / (d as f64).sqrt();
    let mut rng = stream(spec.seed, Domain::NetworkReplica, r as u64);
    let w_star = teacher_directions(ks, d, &mut rng);

    // The data: rows x_mu (row-major, n x d) and labels y_mu (theory.md section 1); a
    // teacher's labels from its fields h*_mu and noises eps_mu, all at once.
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
    let mut w: Vec<Vec<f64>> = (0..k)
        .map(|_| {
            w_star[0]
                .iter()
                .map(|&v| m0 * v + sqrt_q0 * rng.sample::<f64, _>(StandardNormal))
                .collect()
        })
        .collect();
    let test_stream = stream(spec.seed, Domain::NetworkTest, r as u64);
    let tests = TestDraws::draw(net, target, k, ks, test_stream)?;
    let mut batches = MarkovBatches::new(cfg, rng);
    batches.covers(steps, n)?;
    let mut langevin = stream(spec.seed, Domain::NetworkLangevin, r as u64);

    let optimizer: &Optimizer = problem.optimizer();
    let mut states: Vec<_> = (0..k).map(|_| optimizer.init(d)).collect();
    let mut descent = vec![vec![0.0f64; d]; k];
    let mut xi = vec![0.0f64; if optimizer.is_noisy() { d } else { 0 }];
    let mut s = vec![false; n];
    let mut h = vec![0.0f64; k];
    let label_moment = y.iter().map(|v| v * v).sum::<f64>() / n as f64;
    let guard = DivergenceGuard::new(
        format!("network simulation replica {r}"),
        m0 * m0 + cfg.q0,
        label_moment,
    );
    let mut out = ReplicaRun {
        overlaps: Vec::with_capacity(steps * k * ks),
        gram: Vec::with_capacity(steps * k * k),
        train_loss: Vec::with_capacity(steps),
        test_loss: Vec::with_capacity(steps),
        train_error: Vec::new(),
        test_error: Vec::new(),
    };
    let batch_weight = problem.batches().weight;
    for step in 0..steps {
        batches.fill(step, &mut s);
        // The order parameters of w(step).
        let overlaps: Vec<f64> = w
            .iter()
            .flat_map(|wk| w_star.iter().map(move |ws| dot(wk, ws) / d as f64))
            .collect();
        let gram: Vec<f64> = w
            .iter()
            .flat_map(|wk| w.iter().map(move |wl| dot(wk, wl) / d as f64))
            .collect();
        for unit in 0..k {
            let m = overlaps[unit * ks];
            guard.check_weights(cfg, step, m, gram[unit * k + unit] - m * m)?;
        }

        // The forward pass over every sample and the descent of the units for those in
        // the batch: dl/dh_k = ell_o(y, o) a_k sigma'(h_k).
        descent.iter_mut().for_each(|g| g.fill(0.0));
        let (mut loss_sum, mut errors) = (0.0, 0usize);
        for ((row, &y_mu), &in_batch) in x.chunks_exact(d).zip(&y).zip(&s) {
            for (hk, wk) in h.iter_mut().zip(&w) {
                *hk = dot(row, wk) * inv_sqrt_d;
            }
            let o = net.output(&h);
            let (ell, ell_o) = net.loss.ell_and_slope(y_mu, o);
            loss_sum += ell;
            errors += usize::from(y_mu * o <= 0.0);
            if in_batch {
                for ((g, hk), ak) in descent.iter_mut().zip(&h).zip(&net.a) {
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
        let (test_loss, test_error) = tests.evaluate(net, &overlaps, &gram, k, ks);
        out.test_loss.push(test_loss);
        if net.classify {
            out.test_error.push(test_error);
        }
        out.overlaps.extend(overlaps);
        out.gram.extend(gram);

        if step + 1 < steps {
            for ((wk, state), g) in w.iter_mut().zip(states.iter_mut()).zip(&descent) {
                let noise = if optimizer.is_noisy() {
                    xi.iter_mut()
                        .for_each(|v| *v = langevin.sample(StandardNormal));
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
    Ok(out)
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
