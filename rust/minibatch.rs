//! The mini-batch process (theory.md section 1): every sample carries `s(t) ∈ {0, 1}`, a
//! two-state Markov chain with `P(0->1) = dt/tau`, `P(1->0) = dt (1-b)/(b tau)` and
//! `s(0) ~ Bernoulli(b)`, so the stationary occupation is `b`.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::resources::check_memory;
use rand::{Rng, RngExt};

/// Transition probabilities of one sample's batch chain (at the reference step `lr`; a
/// schedule scales them step by step, see [`Config::chain_scales`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchChain {
    /// Stationary occupation `b`.
    pub batch: f64,
    /// `P(0 -> 1) = dt / tau`.
    pub p_on: f64,
    /// `P(1 -> 0) = dt (1 - b) / (b tau)`.
    pub p_off: f64,
}

impl BatchChain {
    /// The chain of a validated config (probabilities clipped to 1 against rounding).
    pub fn new(cfg: &Config) -> Self {
        let tau = cfg.tau();
        BatchChain {
            batch: cfg.batch,
            p_on: (cfg.lr / tau).min(1.0),
            p_off: (cfg.lr * (1.0 - cfg.batch) / (cfg.batch * tau)).min(1.0),
        }
    }

    /// `s(0)` from a uniform number `u ∈ [0, 1)`.
    #[inline]
    pub fn start(&self, u: f64) -> bool {
        u < self.batch
    }

    /// `s(k+1)` given `s(k)` and a uniform number `u ∈ [0, 1)`, with the step's factor
    /// `scale` of the probabilities ([`Config::chain_scales`]; 1 without a schedule).
    #[inline]
    pub fn next(&self, s: bool, u: f64, scale: f64) -> bool {
        if scale == 1.0 {
            if s {
                u >= self.p_off
            } else {
                u < self.p_on
            }
        } else if s {
            u >= (self.p_off * scale).min(1.0)
        } else {
            u < (self.p_on * scale).min(1.0)
        }
    }
}

/// Where the mini-batch of every step comes from.
pub trait BatchSchedule {
    /// Checks up front that the schedule can give `steps` steps of `n` samples, so that
    /// [`BatchSchedule::fill`] cannot fail during the run.
    fn covers(&self, _steps: usize, _n: usize) -> Result<()> {
        Ok(())
    }

    /// Writes `s_mu(k)` for all samples into `s` (steps are asked for in order 0, 1, ...).
    fn fill(&mut self, k: usize, s: &mut [bool]);
}

/// Batches drawn from the Markov chain with a given random stream.
pub struct MarkovBatches<R> {
    chain: BatchChain,
    scales: Vec<f64>,
    rng: R,
}

impl<R: Rng> MarkovBatches<R> {
    /// The chain of `cfg`, driven by `rng`.
    pub fn new(cfg: &Config, rng: R) -> Self {
        MarkovBatches {
            chain: BatchChain::new(cfg),
            scales: cfg.chain_scales(),
            rng,
        }
    }
}

impl<R: Rng> BatchSchedule for MarkovBatches<R> {
    fn fill(&mut self, k: usize, s: &mut [bool]) {
        for s_mu in s.iter_mut() {
            let u: f64 = self.rng.random();
            *s_mu = if k == 0 {
                self.chain.start(u)
            } else {
                self.chain.next(*s_mu, u, self.scales[k - 1])
            };
        }
    }
}

/// Batches given as a row-major `(steps, n)` mask, checked to cover every step.
pub(crate) struct GivenBatches<'a> {
    /// `mask[k * n + mu] = s_mu(k)`.
    mask: &'a [bool],
    /// Number of samples `n` (the length of every row).
    n: usize,
}

impl<'a> GivenBatches<'a> {
    /// The mask of `steps` steps of `n` samples; an error names `batches` if the mask
    /// has another length.
    pub(crate) fn new(mask: &'a [bool], steps: usize, n: usize) -> Result<Self> {
        if steps.checked_mul(n) != Some(mask.len()) {
            return Err(Error::invalid(
                "batches",
                format!(
                    "must have shape (steps, n) = ({steps}, {n}), got {} entries",
                    mask.len()
                ),
            ));
        }
        Ok(GivenBatches { mask, n })
    }
}

impl BatchSchedule for GivenBatches<'_> {
    fn covers(&self, steps: usize, n: usize) -> Result<()> {
        if n != self.n || (n > 0 && self.mask.len() / n < steps) {
            return Err(Error::invalid(
                "batches",
                format!(
                    "must have shape (steps, n) = ({steps}, {n}), got {} entries in rows of {}",
                    self.mask.len(),
                    self.n
                ),
            ));
        }
        Ok(())
    }

    fn fill(&mut self, k: usize, s: &mut [bool]) {
        // `covers` has checked the shape before the run.
        let n = self.n;
        s.copy_from_slice(&self.mask[k * n..(k + 1) * n]);
    }
}

/// The `(steps, n)` row-major batch mask that [`sgd_on_data`](crate::sgd_on_data) draws
/// for `seed`: `mask[k * n + mu]` is whether sample `mu` is in the batch at step `k`.
/// Validates `cfg` first; a mask too large for memory is an error, not an abort.
pub fn batch_mask(cfg: &Config, n: usize, seed: u64) -> Result<Vec<bool>> {
    cfg.validate()?;
    let len = cfg.steps.checked_mul(n).ok_or_else(|| {
        Error::invalid(
            "n",
            format!("is too large: steps * n overflows, got n = {n}"),
        )
    })?;
    check_memory(
        len.saturating_add(n) as u64,
        "use fewer samples or fewer steps",
    )?;
    let mut sched = MarkovBatches::new(cfg, user_batch_stream(seed));
    let mut mask = vec![false; len];
    let mut s = vec![false; n];
    for k in 0..cfg.steps {
        sched.fill(k, &mut s);
        mask[k * n..(k + 1) * n].copy_from_slice(&s);
    }
    Ok(mask)
}

/// The random stream of the batch chain on user data.
pub(crate) fn user_batch_stream(seed: u64) -> rand_chacha::ChaCha8Rng {
    crate::rng::stream(seed, crate::rng::Domain::UserBatches, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn plain_sgd_redraws_every_step_and_gd_keeps_everything() {
        let cfg = Config {
            lr: 0.2,
            batch: 0.25,
            tau: Some(0.8),
            ..Config::default()
        };
        let c = BatchChain::new(&cfg);
        assert!((c.p_on - 0.25).abs() < 1e-15 && (c.p_off - 0.75).abs() < 1e-15);
        let gd = BatchChain::new(&Config::default());
        assert_eq!((gd.p_on, gd.p_off), (1.0, 0.0));
    }

    #[test]
    fn occupation_is_stationary_at_b() {
        let cfg = Config {
            lr: 0.1,
            batch: 0.3,
            tau: Some(2.0),
            steps: 50,
            ..Config::default()
        };
        let mut sched = MarkovBatches::new(&cfg, rand_chacha::ChaCha8Rng::seed_from_u64(7));
        let n = 20_000;
        let mut s = vec![false; n];
        for k in 0..50 {
            sched.fill(k, &mut s);
            let occ = s.iter().filter(|&&x| x).count() as f64 / n as f64;
            // Binomial standard error sqrt(b(1-b)/n) = 0.0032; allow 5 of them.
            assert!((occ - 0.3).abs() < 0.0165, "step {k}: {occ}");
        }
    }
}
