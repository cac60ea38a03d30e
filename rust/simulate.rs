//! The finite-d ensemble: independent replicas of the learning problem of theory.md
//! section 1, each with its own teacher, data set, initial weights and batch chain, run in
//! parallel on the run's own rayon pool.

use crate::config::Config;
use crate::control::Control;
use crate::error::{Error, Result};
use crate::losses::{ActivationFn, LossFn, SampleLoss};
use crate::minibatch::MarkovBatches;
use crate::problem::Problem;
use crate::resources::{check_memory, resolve_threads, with_threads};
use crate::rng::{stream, Domain};
use crate::sgd::{run_sgd, DataSet, LangevinNoise, Observed, StepHook, Trajectory};
use crate::simd::{axpy, dot};
use rand::{Rng, RngExt};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

/// Size, seed and thread count of an ensemble. Start from [`EnsembleSpec::new`] and
/// change what you need with the setters: `EnsembleSpec::new(1000, 16).seed(3).threads(Some(2))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct EnsembleSpec {
    /// Dimension `d`.
    pub d: usize,
    /// Number of independent replicas.
    pub replicas: usize,
    /// Seed; replica `r` uses random stream `r` of it, whatever the thread count.
    pub seed: u64,
    /// Worker threads of the run's own pool (`None`: all cores).
    pub threads: Option<usize>,
    /// Also record each replica's `C(k,l)` and, by a twin run, `R(k,l)`
    /// ([`Ensemble::c`], [`Ensemble::r`]; a network's blocks in
    /// [`NetworkRuns::two_time`](crate::NetworkRuns)).
    #[cfg_attr(feature = "serde", serde(default))]
    pub record_two_time: bool,
}

impl EnsembleSpec {
    /// `replicas` runs at dimension `d`, seed 0, all cores.
    pub fn new(d: usize, replicas: usize) -> Self {
        EnsembleSpec {
            d,
            replicas,
            seed: 0,
            threads: None,
            record_two_time: false,
        }
    }

    /// Sets the dimension `d`.
    pub fn d(mut self, d: usize) -> Self {
        self.d = d;
        self
    }

    /// Sets the number of replicas.
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas;
        self
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the number of worker threads (`None`: all cores).
    pub fn threads(mut self, threads: Option<usize>) -> Self {
        self.threads = threads;
        self
    }

    /// Sets whether the two-time functions `C`, `R` are recorded (about twice the cost:
    /// a twin run per replica).
    pub fn record_two_time(mut self, record: bool) -> Self {
        self.record_two_time = record;
        self
    }
}

/// Observables of every replica: each field is a row-major `(replicas, steps)` array.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Ensemble {
    /// Number of replicas (rows).
    pub replicas: usize,
    /// Number of time steps (columns).
    pub steps: usize,
    /// The physical time of each step, `t_k = k dt` ([`Config::times`]).
    pub t: Vec<f64>,
    /// Magnetisation `m`.
    pub m: Vec<f64>,
    /// `q = |w|^2/d - m^2`.
    pub q: Vec<f64>,
    /// Mean training loss.
    pub train_loss: Vec<f64>,
    /// Expected loss on a fresh sample.
    pub test_loss: Vec<f64>,
    /// Training error; empty unless labels are ±1 ([`Config::labels_are_signs`]).
    pub train_error: Vec<f64>,
    /// Test classification error; empty unless labels are ±1.
    pub test_error: Vec<f64>,
    /// With [`EnsembleSpec::record_two_time`], each replica's correlation `C(k,l) =
    /// w(k)·w(l)/d - m(k) m(l)`, row-major `(replicas, steps, steps)`; `C(k,k) = q(k)`.
    pub c: Option<Vec<f64>>,
    /// With [`EnsembleSpec::record_two_time`], each replica's estimate of the response
    /// `R(k,l) = (1/dt_l) (1/d) sum_i dw_i(k)/d eta_i(l)` by a small random field, row-major
    /// `(replicas, steps, steps)`, zero for `l >= k` (theory.md section 4.7).
    pub r: Option<Vec<f64>>,
}

impl Ensemble {
    /// The mean over replicas of one of the `(replicas, steps)` fields at every step, and
    /// its standard error (sample standard deviation over `sqrt(replicas)`; 0 for one
    /// replica): `let (mean, sem) = ens.mean_sem(&ens.test_error);`.
    ///
    /// # Panics
    ///
    /// If `values` does not have `replicas * steps` entries.
    pub fn mean_sem(&self, values: &[f64]) -> (Vec<f64>, Vec<f64>) {
        assert_eq!(
            values.len(),
            self.replicas * self.steps,
            "values must be a (replicas, steps) field of the ensemble"
        );
        let r = self.replicas as f64;
        let mut mean = vec![0.0; self.steps];
        for row in values.chunks_exact(self.steps) {
            mean.iter_mut().zip(row).for_each(|(m, v)| *m += v / r);
        }
        let mut var = vec![0.0; self.steps];
        for row in values.chunks_exact(self.steps) {
            for ((s, v), m) in var.iter_mut().zip(row).zip(&mean) {
                *s += (v - m) * (v - m);
            }
        }
        let sem = var
            .into_iter()
            .map(|s| {
                if self.replicas > 1 {
                    (s / (r - 1.0) / r).sqrt()
                } else {
                    0.0
                }
            })
            .collect();
        (mean, sem)
    }
}

/// One replica's data: `v*` with `|v*|^2 = d`, rows `x_mu` of the data model stored as
/// `f32`, labels, and `w_0 = m0 v* + sqrt(q0) z_0`.
pub(crate) struct Replica {
    /// Teacher.
    pub v_star: Vec<f64>,
    /// Row-major `(n, d)` data.
    pub x: Vec<f32>,
    /// Labels.
    pub y: Vec<f64>,
    /// Initial weights.
    pub w0: Vec<f64>,
}

impl Replica {
    /// Draws a replica of dimension `d` with `n` samples from `rng`.
    pub fn draw<R: Rng>(cfg: &Config, d: usize, n: usize, rng: &mut R) -> Replica {
        let mut v_star: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
        let scale = (d as f64 / dot(&v_star, &v_star)).sqrt();
        v_star.iter_mut().for_each(|v| *v *= scale);

        let model = cfg.model();
        let mut x = Vec::with_capacity(n * d);
        let y = (0..n).map(|_| model.sample(&v_star, rng, &mut x)).collect();
        let sqrt_q0 = cfg.q0.sqrt();
        let w0 = v_star
            .iter()
            .map(|&v| cfg.m0() * v + sqrt_q0 * rng.sample::<f64, _>(StandardNormal))
            .collect();
        Replica { v_star, x, y, w0 }
    }
}

/// Bytes an ensemble needs at once: the data of the replicas running concurrently plus
/// the results.
pub(crate) fn ensemble_memory(cfg: &Config, spec: &EnsembleSpec, concurrent: usize) -> Result<u64> {
    // In f64: the product of large requests must saturate, not wrap around.
    let n = cfg.samples_for(spec.d)? as f64;
    let (d, steps, replicas) = (spec.d as f64, cfg.steps as f64, spec.replicas as f64);
    let mut per_replica = n * d * 4.0 + (3.0 * d + 2.0 * n) * 8.0;
    let mut results = 6.0 * replicas * steps * 8.0;
    if spec.record_two_time {
        // The history of w and the fields in flight (T x d each), C and R (T x T each).
        per_replica += (2.0 * steps * d + 4.0 * d) * 8.0;
        results += 2.0 * replicas * steps * steps * 8.0;
    }
    Ok((concurrent.min(spec.replicas) as f64 * per_replica + 2.0 * results) as u64)
}

/// The field of the twin run, `eps xi(l)` with `eps` this times the weights' scale
/// `max(1, m0^2 + q0)^(1/2)`: its bias is `O(eps)`, its rounding `1e-16/eps`, both far
/// below the estimator's noise.
pub(crate) const FIELD_SCALE: f64 = 1e-6;

/// The base run's side of the two-time functions: it keeps `w(k)` at every step.
pub(crate) struct History {
    /// Row-major `(steps, d)`; a network's `(steps, K, d)`, unit `k` of step `t` at the
    /// flat row `t K + k`.
    pub(crate) w: Vec<f64>,
}

impl StepHook for History {
    fn observe(&mut self, _k: usize, w: &[f64]) {
        self.w.extend_from_slice(w);
    }
    fn push(&mut self, _k: usize, _descent: &mut [f64], _to_descent: f64) {}
}

/// Rows of `k` taken together by [`lower_dots`]: each row `l` is read from memory once
/// per block, not once per `k` (the products are memory-bound at long times).
const ROW_BLOCK: usize = 8;

/// `out(k, l, a(k)·b(l))` for the rows `a(k)`, `b(l)` (length `d`) with `l <= k`, or
/// `l < k` if `strict`.
fn lower_dots(
    a: &[f64],
    b: &[f64],
    d: usize,
    strict: bool,
    mut out: impl FnMut(usize, usize, f64),
) {
    let rows = a.len() / d.max(1);
    for first in (0..rows).step_by(ROW_BLOCK) {
        let block = first..(first + ROW_BLOCK).min(rows);
        for (l, b_l) in b.chunks_exact(d).enumerate().take(block.end) {
            for k in block.clone().filter(|&k| l < k || (l == k && !strict)) {
                out(k, l, dot(&a[k * d..(k + 1) * d], b_l));
            }
        }
    }
}

impl History {
    /// `C(k,l) = w(k)·w(l)/d - m(k) m(l)`, row-major `(steps, steps)`: with the `m` of the
    /// run, its diagonal is the run's `q` bit for bit. For a network (rows at the flat
    /// index `t K + k`, `m` its overlaps `M` flat `(t K + k) K* + j`) the blocks
    /// `C_kl(t,s) = w_k(t)·w_l(s)/d - sum_j M_kj(t) M_lj(s)`, the correlation of the weights
    /// orthogonal to the teacher's directions as in the DMFT, at `(t K + k, s K + l)`.
    pub(crate) fn correlation(&self, m: &[f64], teacher_units: usize) -> Vec<f64> {
        let rows = m.len() / teacher_units;
        let d = self.w.len() / rows.max(1);
        let along = |a: usize| &m[a * teacher_units..(a + 1) * teacher_units];
        let mut c = vec![0.0; rows * rows];
        lower_dots(&self.w, &self.w, d, false, |a, b, dot| {
            let value = dot / d as f64 - dot_product(along(a), along(b));
            c[a * rows + b] = value;
            c[b * rows + a] = value;
        });
        c
    }
}

/// `a·b` of two short vectors (the `K*` overlaps of two units).
fn dot_product(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The twin run's side (theory.md section 4.7): it pushes `w(l+1)` by `eps xi(l)`, the
/// force `eps xi(l)/dt_l`, and turns the base run's history into `w_twin(k) - w(k)`, for
/// `R(k,l) = (w_twin(k) - w(k))·xi(l)/(eps d)`.
pub(crate) struct TwinResponse<'a> {
    /// The base run's `w(k)`, replaced by `w_twin(k) - w(k)` as the twin passes step `k`.
    diff: &'a mut [f64],
    eps: f64,
    /// `xi(0..k)` so far, row-major.
    fields: Vec<f64>,
    rng: ChaCha8Rng,
}

impl<'a> TwinResponse<'a> {
    pub(crate) fn new(history: &'a mut [f64], eps: f64, rng: ChaCha8Rng) -> Self {
        TwinResponse {
            fields: Vec::with_capacity(history.len()),
            diff: history,
            eps,
            rng,
        }
    }

    /// `R`, row-major `(steps, steps)`, once the twin has run; for a network of `units =
    /// K` units the blocks `R_kl(t,s) = (w_twin,k(t) - w_k(t))·xi_l(s)/(eps d)` at the flat
    /// index `(t K + k, s K + l)`. Zero for `s >= t`.
    pub(crate) fn response(&self, steps: usize, units: usize) -> Vec<f64> {
        let rows = steps * units;
        let d = self.diff.len() / rows.max(1);
        let scale = 1.0 / (self.eps * d as f64);
        let mut r = vec![0.0; rows * rows];
        lower_dots(self.diff, &self.fields, d, true, |a, b, dot| {
            // Same step, another unit: xi(t) moves only w(t+1).
            if b / units < a / units {
                r[a * rows + b] = dot * scale;
            }
        });
        r
    }
}

impl StepHook for TwinResponse<'_> {
    fn observe(&mut self, k: usize, w: &[f64]) {
        let d = w.len();
        for (base, twin) in self.diff[k * d..(k + 1) * d].iter_mut().zip(w) {
            *base = twin - *base;
        }
    }

    fn push(&mut self, _k: usize, descent: &mut [f64], to_descent: f64) {
        let start = self.fields.len();
        let rng = &mut self.rng;
        self.fields
            .extend((0..descent.len()).map(|_| rng.sample::<f64, _>(StandardNormal)));
        axpy(to_descent * self.eps, &self.fields[start..], descent);
    }
}

/// Runs the ensemble on a local pool of `spec.threads` workers (never the global rayon
/// pool). Progress counts replica-steps (the twin runs of `record_two_time` too). The
/// numbers depend on the seed only, not on the thread count.
///
/// ```
/// use dmft_sgd::{simulate, Config, Control, EnsembleSpec, Problem};
///
/// let problem = Problem::new(Config { batch: 0.3, steps: 50, ..Config::default() }).unwrap();
/// let spec = EnsembleSpec::new(100, 4).seed(1).threads(Some(2));
/// let ens = simulate(&problem, &spec, &Control::new()).unwrap();
/// let (mean, sem) = ens.mean_sem(&ens.test_error);
/// assert!(mean[49] < 0.5 && sem[49] < 0.1);
/// ```
pub fn simulate(problem: &Problem, spec: &EnsembleSpec, control: &Control) -> Result<Ensemble> {
    simulate_with(problem, &problem.sample_loss(), spec, control)
}

/// [`simulate`] with the loss and output `sample_loss` (your own [`LossFn`] and
/// [`ActivationFn`], or built-ins) instead of the config's `loss` and `activation`.
pub fn simulate_with<L: LossFn, A: ActivationFn>(
    problem: &Problem,
    sample_loss: &SampleLoss<L, A>,
    spec: &EnsembleSpec,
    control: &Control,
) -> Result<Ensemble> {
    // The problem is checked already (once, when parsed); what is checked here is this
    // engine's reach and the run's own settings.
    let cfg = problem.config();
    cfg.check_single_unit("the single-unit simulator")?;
    cfg.check_loss(&sample_loss.loss)?;
    if spec.d == 0 {
        return Err(Error::invalid("d", "must be >= 1, got 0"));
    }
    if spec.replicas == 0 {
        return Err(Error::invalid("replicas", "must be >= 1, got 0"));
    }
    let n = cfg.samples_for(spec.d)?;
    let threads = resolve_threads(spec.threads)?;
    let hint = if spec.record_two_time {
        "use a smaller d, fewer steps, replicas or threads, or record_two_time=False"
    } else {
        "use a smaller d or fewer threads"
    };
    check_memory(ensemble_memory(cfg, spec, threads)?, hint)?;

    // Every replica runs to its end or its error; the error reported is the lowest
    // replica's, whatever the thread count (rayon's own `collect` into a `Result` would
    // return whichever failed first in time).
    let outcomes: Vec<Result<(Trajectory, Option<TwoTime>)>> = with_threads(Some(threads), || {
        (0..spec.replicas)
            .into_par_iter()
            .map(|r| run_replica(cfg, sample_loss, spec, n, r, control))
            .collect()
    })?;
    let runs = outcomes
        .into_iter()
        .collect::<Result<Vec<(Trajectory, Option<TwoTime>)>>>()?;

    let gather = |field: fn(&Trajectory) -> &Vec<f64>| -> Vec<f64> {
        runs.iter()
            .flat_map(|(t, _)| field(t).iter().copied())
            .collect()
    };
    let gather_two_time = |field: fn(&TwoTime) -> &Vec<f64>| -> Option<Vec<f64>> {
        spec.record_two_time.then(|| {
            runs.iter()
                .flat_map(|(_, two)| two.iter().flat_map(|two| field(two).iter().copied()))
                .collect()
        })
    };
    Ok(Ensemble {
        replicas: spec.replicas,
        steps: cfg.steps,
        t: cfg.times(),
        m: gather(|t| &t.m),
        q: gather(|t| &t.q),
        train_loss: gather(|t| &t.train_loss),
        test_loss: gather(|t| &t.test_loss),
        train_error: gather(|t| &t.train_error),
        test_error: gather(|t| &t.test_error),
        c: gather_two_time(|two| &two.c),
        r: gather_two_time(|two| &two.r),
    })
}

/// One replica's `C` and `R`, row-major `(steps, steps)`.
struct TwoTime {
    c: Vec<f64>,
    r: Vec<f64>,
}

/// Replica `r`: its run and, with `spec.record_two_time`, its twin run and `C`, `R`.
fn run_replica<L: LossFn, A: ActivationFn>(
    cfg: &Config,
    sample_loss: &SampleLoss<L, A>,
    spec: &EnsembleSpec,
    n: usize,
    r: usize,
    control: &Control,
) -> Result<(Trajectory, Option<TwoTime>)> {
    let mut rng = stream(spec.seed, Domain::Replica, r as u64);
    let rep = Replica::draw(cfg, spec.d, n, &mut rng);
    let data = DataSet {
        x: &rep.x,
        y: &rep.y,
        v_star: &rep.v_star,
    };
    let langevin = || LangevinNoise::Drawn(Box::new(stream(spec.seed, Domain::Langevin, r as u64)));
    let label = format!("simulation replica {r}");
    // The twin's batch chain is this chain again, from the same state.
    let twin_batches = rng.clone();
    let mut history = spec.record_two_time.then(|| History {
        w: Vec::with_capacity(cfg.steps * spec.d),
    });
    let traj = run_sgd(
        cfg,
        sample_loss,
        data,
        rep.w0.clone(),
        &mut MarkovBatches::new(cfg, rng),
        langevin(),
        Observed::of_model(cfg),
        control,
        &label,
        history.as_mut().map(|h| h as &mut dyn StepHook),
    )?;
    let Some(mut history) = history else {
        return Ok((traj, None));
    };
    let c = history.correlation(&traj.m, 1);
    let eps = FIELD_SCALE * (cfg.m0() * cfg.m0() + cfg.q0).max(1.0).sqrt();
    let field = stream(spec.seed, Domain::TwoTimeField, r as u64);
    let mut twin = TwinResponse::new(&mut history.w, eps, field);
    run_sgd(
        cfg,
        sample_loss,
        data,
        rep.w0.clone(),
        &mut MarkovBatches::new(cfg, twin_batches),
        langevin(),
        Observed::of_model(cfg),
        control,
        &format!("{label} (twin run of the response)"),
        Some(&mut twin),
    )?;
    let r = twin.response(cfg.steps, 1);
    Ok((traj, Some(TwoTime { c, r })))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The problem of a valid `cfg`.
    fn problem(cfg: &Config) -> Problem {
        Problem::new(cfg.clone()).expect("a valid setting")
    }
    use crate::resources::with_threads;
    use rand::RngExt;

    #[test]
    fn same_seed_same_numbers_for_any_thread_count() {
        let cfg = Config {
            batch: 0.3,
            tau: Some(1.0),
            steps: 20,
            ..Config::default()
        };
        let spec = EnsembleSpec::new(50, 5).seed(11);
        let run = |threads| {
            simulate(
                &problem(&cfg),
                &spec.threads(Some(threads)),
                &Control::new(),
            )
        };
        let one = run(1).unwrap();
        let three = run(3).unwrap();
        assert_eq!(one, three);
        // The spec's own pool, whatever pool the caller runs on.
        let nested = with_threads(Some(2), || run(3)).unwrap().unwrap();
        assert_eq!(nested, one);
        let other = simulate(&problem(&cfg), &spec.seed(12), &Control::new()).unwrap();
        assert_ne!(one.m, other.m);
    }

    #[test]
    fn initial_order_parameters_match_the_config() {
        let cfg = Config {
            m0: Some(0.5),
            q0: 2.0,
            steps: 1,
            ..Config::default()
        };
        let spec = EnsembleSpec::new(400, 40).seed(3);
        let e = simulate(&problem(&cfg), &spec, &Control::new()).unwrap();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        // m(0) = m0 + sqrt(q0) z·v*/d has sd sqrt(q0/d) = 0.07 per replica, 0.011 over 40.
        assert!((mean(&e.m) - 0.5).abs() < 0.045);
        // q(0) = q0 (|z|^2/d) - (m - m0)^2 ≈ q0 ± q0 sqrt(2/d) = ±0.14, ±0.022 over 40.
        assert!((mean(&e.q) - 2.0).abs() < 0.09);
    }

    #[test]
    fn cancelled_runs_stop() {
        let control = Control::new();
        control.cancel();
        let err = simulate(
            &problem(&Config::default()),
            &EnsembleSpec::new(10, 2),
            &control,
        );
        assert_eq!(err.unwrap_err(), Error::Cancelled);
    }

    #[test]
    fn bad_specs_name_the_parameter() {
        let cfg = Config::default();
        let c = Control::new();
        for (spec, name) in [
            (EnsembleSpec::new(0, 2), "d"),
            (EnsembleSpec::new(10, 0), "replicas"),
            (EnsembleSpec::new(10, 2).threads(Some(0)), "threads"),
        ] {
            let err = simulate(&problem(&cfg), &spec, &c).unwrap_err();
            assert!(
                matches!(err, Error::InvalidParameter { name: ref n, .. } if n == name),
                "{err:?}"
            );
        }
    }

    /// Full-batch GD with the square loss on the linear teacher: a linear recursion.
    fn linear_gd(steps: usize) -> Config {
        Config {
            data: crate::config::Data::Teacher(crate::config::Teacher::Linear),
            loss: Some(crate::config::Loss::Square),
            alpha: 3.0,
            lam: 0.5,
            lr: 0.1,
            batch: 1.0,
            steps,
            ..Config::default()
        }
    }

    #[test]
    fn the_response_is_the_estimator_of_the_exact_linear_propagator() {
        // w(k+1) = A w(k) + b with A = (1 - lr lam) I - lr X^T X/d: the twin differs by
        // eps sum_{l<k} A^(k-1-l) xi(l), so R_hat(k,l) = sum_{l'<k} xi(l)·A^(k-1-l') xi(l')/d,
        // recomputed here from the replica's own data and fields.
        let (d, steps, seed) = (30, 6, 4);
        let cfg = linear_gd(steps);
        let spec = EnsembleSpec::new(d, 2).seed(seed).record_two_time(true);
        let ens = simulate(&problem(&cfg), &spec, &Control::new()).unwrap();
        let (c, r) = (ens.c.as_ref().unwrap(), ens.r.as_ref().unwrap());
        let n = cfg.samples_for(d).unwrap();
        for rep in 0..2 {
            let mut rng = stream(seed, Domain::Replica, rep as u64);
            let x = Replica::draw(&cfg, d, n, &mut rng).x;
            let mut field = stream(seed, Domain::TwoTimeField, rep as u64);
            let xi: Vec<Vec<f64>> = (0..steps - 1)
                .map(|_| (0..d).map(|_| field.sample(StandardNormal)).collect())
                .collect();
            let apply = |v: &[f64]| -> Vec<f64> {
                let h: Vec<f64> = x.chunks_exact(d).map(|row| dot(row, v)).collect();
                let mut out: Vec<f64> = v.iter().map(|vi| (1.0 - 0.1 * 0.5) * vi).collect();
                for (row, h) in x.chunks_exact(d).zip(h) {
                    axpy(-0.1 * h / d as f64, row, &mut out);
                }
                out
            };
            // delta(k) / eps = sum_{l'<k} A^(k-1-l') xi(l'), stepped like the twin.
            let mut delta = vec![0.0; d];
            let block = &r[rep * steps * steps..(rep + 1) * steps * steps];
            for k in 0..steps {
                for l in 0..steps {
                    let expected = if l < k {
                        dot(&xi[l], &delta) / d as f64
                    } else {
                        0.0
                    };
                    let got = block[k * steps + l];
                    assert!((got - expected).abs() < 1e-6, "R({k},{l}) {got} {expected}");
                }
                if k + 1 < steps {
                    delta = apply(&delta);
                    delta.iter_mut().zip(&xi[k]).for_each(|(d, x)| *d += x);
                }
            }
            // C is symmetric with q on its diagonal, bit for bit.
            let block = &c[rep * steps * steps..(rep + 1) * steps * steps];
            for k in 0..steps {
                assert_eq!(block[k * steps + k], ens.q[rep * steps + k]);
                for l in 0..k {
                    assert_eq!(block[k * steps + l], block[l * steps + k]);
                }
            }
        }
    }

    #[test]
    fn two_time_recording_leaves_the_run_alone_and_needs_its_memory() {
        let cfg = Config {
            batch: 0.3,
            tau: Some(1.0),
            momentum: 0.5,
            steps: 12,
            ..Config::default()
        };
        let spec = EnsembleSpec::new(40, 3).seed(2);
        let plain = simulate(&problem(&cfg), &spec, &Control::new()).unwrap();
        assert!(plain.c.is_none() && plain.r.is_none());
        let two = spec.record_two_time(true);
        let one = simulate(&problem(&cfg), &two.threads(Some(1)), &Control::new()).unwrap();
        assert_eq!(one.named(), plain.named());
        assert_eq!(
            one,
            simulate(&problem(&cfg), &two.threads(Some(2)), &Control::new()).unwrap()
        );
        // The field enters through the gradient, as the DMFT's force: with Nesterov
        // momentum R(k+1,k) = 1 + beta (1 had it bypassed the velocity). 33 entries of
        // noise ~0.3 each at d = 40: their mean is known to ~0.05.
        let nesterov = Config {
            nesterov: true,
            ..cfg.clone()
        };
        let r = simulate(&problem(&nesterov), &two, &Control::new())
            .unwrap()
            .r
            .unwrap();
        let below: Vec<f64> = (0..3)
            .flat_map(|rep| (0..11).map(move |k| (rep, k)))
            .map(|(rep, k)| r[rep * 144 + (k + 1) * 12 + k])
            .collect();
        let mean = below.iter().sum::<f64>() / below.len() as f64;
        assert!((mean - 1.5).abs() < 0.2, "{mean}");
        let (d, steps) = (1000.0, 2000.0);
        let big = Config {
            steps: 2000,
            ..cfg.clone()
        };
        let spec = EnsembleSpec::new(1000, 50);
        let without = ensemble_memory(&big, &spec, 2).unwrap() as f64;
        let with = ensemble_memory(&big, &spec.record_two_time(true), 2).unwrap() as f64;
        // Two histories of w in flight per running replica, C and R twice for 50 replicas.
        let extra =
            2.0 * (2.0 * steps * d + 4.0 * d) * 8.0 + 2.0 * 2.0 * 50.0 * steps * steps * 8.0;
        assert_eq!(with - without, extra);
    }

    #[test]
    fn mean_and_sem_over_replicas() {
        let ens = Ensemble {
            replicas: 2,
            steps: 2,
            t: vec![0.0, 0.1],
            m: vec![1.0, 2.0, 3.0, 6.0],
            q: vec![0.0; 4],
            train_loss: vec![0.0; 4],
            test_loss: vec![0.0; 4],
            train_error: vec![0.0; 4],
            test_error: vec![0.0; 4],
            c: None,
            r: None,
        };
        let (mean, sem) = ens.mean_sem(&ens.m);
        assert_eq!(mean, vec![2.0, 4.0]);
        assert_eq!(sem, vec![1.0, 2.0]);
    }
}
