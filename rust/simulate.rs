//! The finite-d ensemble: independent replicas of the learning problem of theory.md
//! section 1, each with its own teacher, data set, initial weights and batch chain, run in
//! parallel on the run's own rayon pool.

use crate::config::Config;
use crate::control::Control;
use crate::error::{Error, Result};
use crate::losses::{ActivationFn, LossFn, SampleLoss};
use crate::minibatch::MarkovBatches;
use crate::resources::{check_memory, resolve_threads, with_threads};
use crate::rng::{stream, Domain};
use crate::sgd::{run_sgd, DataSet, LangevinNoise, Observed, Trajectory};
use crate::simd::dot;
use rand::{Rng, RngExt};
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
}

impl EnsembleSpec {
    /// `replicas` runs at dimension `d`, seed 0, all cores.
    pub fn new(d: usize, replicas: usize) -> Self {
        EnsembleSpec {
            d,
            replicas,
            seed: 0,
            threads: None,
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
    let d = spec.d as f64;
    let per_replica = n * d * 4.0 + (3.0 * d + 2.0 * n) * 8.0;
    let results = 6.0 * spec.replicas as f64 * cfg.steps as f64 * 8.0;
    Ok((concurrent.min(spec.replicas) as f64 * per_replica + 2.0 * results) as u64)
}

/// Runs the ensemble on a local pool of `spec.threads` workers (never the global rayon
/// pool). Progress counts replica-steps. The numbers depend on the seed only, not on the
/// thread count.
///
/// ```
/// use dmft_sgd::{simulate, Config, Control, EnsembleSpec};
///
/// let cfg = Config { batch: 0.3, steps: 50, ..Config::default() };
/// let spec = EnsembleSpec::new(100, 4).seed(1).threads(Some(2));
/// let ens = simulate(&cfg, &spec, &Control::new()).unwrap();
/// let (mean, sem) = ens.mean_sem(&ens.test_error);
/// assert!(mean[49] < 0.5 && sem[49] < 0.1);
/// ```
pub fn simulate(cfg: &Config, spec: &EnsembleSpec, control: &Control) -> Result<Ensemble> {
    simulate_with(cfg, &cfg.sample_loss(), spec, control)
}

/// [`simulate`] with the loss and output `sample_loss` (your own [`LossFn`] and
/// [`ActivationFn`], or built-ins) instead of the config's `loss` and `activation`.
pub fn simulate_with<L: LossFn, A: ActivationFn>(
    cfg: &Config,
    sample_loss: &SampleLoss<L, A>,
    spec: &EnsembleSpec,
    control: &Control,
) -> Result<Ensemble> {
    cfg.validate()?;
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
    check_memory(
        ensemble_memory(cfg, spec, threads)?,
        "use a smaller d or fewer threads",
    )?;

    // Every replica runs to its end or its error; the error reported is the lowest
    // replica's, whatever the thread count (rayon's own `collect` into a `Result` would
    // return whichever failed first in time).
    let outcomes: Vec<Result<Trajectory>> = with_threads(Some(threads), || {
        (0..spec.replicas)
            .into_par_iter()
            .map(|r| {
                let mut rng = stream(spec.seed, Domain::Replica, r as u64);
                let rep = Replica::draw(cfg, spec.d, n, &mut rng);
                let data = DataSet {
                    x: &rep.x,
                    y: &rep.y,
                    v_star: &rep.v_star,
                };
                let mut batches = MarkovBatches::new(cfg, rng);
                let langevin =
                    LangevinNoise::Drawn(Box::new(stream(spec.seed, Domain::Langevin, r as u64)));
                let label = format!("simulation replica {r}");
                run_sgd(
                    cfg,
                    sample_loss,
                    data,
                    rep.w0.clone(),
                    &mut batches,
                    langevin,
                    Observed::of_model(cfg),
                    control,
                    &label,
                )
            })
            .collect()
    })?;
    let runs = outcomes.into_iter().collect::<Result<Vec<Trajectory>>>()?;

    let gather = |field: fn(&Trajectory) -> &Vec<f64>| -> Vec<f64> {
        runs.iter().flat_map(|t| field(t).iter().copied()).collect()
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::with_threads;

    #[test]
    fn same_seed_same_numbers_for_any_thread_count() {
        let cfg = Config {
            batch: 0.3,
            tau: Some(1.0),
            steps: 20,
            ..Config::default()
        };
        let spec = EnsembleSpec::new(50, 5).seed(11);
        let run = |threads| simulate(&cfg, &spec.threads(Some(threads)), &Control::new());
        let one = run(1).unwrap();
        let three = run(3).unwrap();
        assert_eq!(one, three);
        // The spec's own pool, whatever pool the caller runs on.
        let nested = with_threads(Some(2), || run(3)).unwrap().unwrap();
        assert_eq!(nested, one);
        let other = simulate(&cfg, &spec.seed(12), &Control::new()).unwrap();
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
        let e = simulate(&cfg, &spec, &Control::new()).unwrap();
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
        let err = simulate(&Config::default(), &EnsembleSpec::new(10, 2), &control);
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
            let err = simulate(&cfg, &spec, &c).unwrap_err();
            assert!(
                matches!(err, Error::InvalidParameter { name: ref n, .. } if n == name),
                "{err:?}"
            );
        }
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
        };
        let (mean, sem) = ens.mean_sem(&ens.m);
        assert_eq!(mean, vec![2.0, 4.0]);
        assert_eq!(sem, vec![1.0, 2.0]);
    }
}
