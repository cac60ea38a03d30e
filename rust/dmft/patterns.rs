//! The pattern side of the DMFT (theory.md section 3): the effective samples, each with
//! its own cluster, label, `u = c + sqrt(Delta) zeta`, batch chain and Gaussian cavity
//! field `chi`, advanced one step at a time, and their contributions to the kernel rows.
//!
//! Samples come in mirror-image pairs `(c, zeta) -> (-c, -zeta)` sharing `chi` and the
//! batch chain. Each sample keeps its correct distribution; the pair makes `E[u f]`
//! vanish exactly when `m = 0` (three clusters) and reduces its variance otherwise.
//!
//! Samples are grouped in chunks of at most [`CHUNK`]; a chunk owns its random stream, so
//! the numbers do not depend on which thread runs it. Histories are stored time-major
//! (`f[k * samples + a]`) so that every update is a vector operation across samples, and
//! in `f32` (theory.md section 4.3: their rounding, 6e-8 relative, is far below the Monte
//! Carlo error); every sum is taken in `f64`.
//!
//! The response kernel `M_R` comes from one of two estimators ([`Response`]): the exact
//! tangent row of every sample in the batch (`O(T^2)` per sample and step), or the exact
//! band of the last `W` lags plus one random probe per sample for the rest (`O(T)`).
//! Each is one [`Estimator`] (its state and its part of a step); [`EstimatorState`] is
//! where a [`Response`] picks one, once per chunk and step, and the step is compiled once
//! per estimator, so the loops over samples and lags dispatch nothing.

#[cfg(test)]
use super::matrix::TimeMatrix;
use super::matrix::Triangle;
use super::profile::{Laps, StageSeconds};
use super::Response;
use crate::config::Config;
use crate::data::DataModel;
use crate::losses::{ActivationFn, LossFn, SampleLoss};
use crate::minibatch::BatchChain;
use crate::simd::{axpy, combine_rows, dot, Scaling};
use rand::{Rng, RngExt};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::cell::RefCell;

/// Samples per chunk (an even number: mirror pairs never straddle two chunks).
pub const CHUNK: usize = 256;

/// Rows of the tangent's backward sweep solved one by one (the rest is matrix products).
const LEAF: usize = 16;

/// Tangent entries below this are set to zero. `G(k,l)` decays with the lag `k - l` and
/// would otherwise reach subnormal numbers, whose arithmetic is ~100 times slower;
/// against kernels of order one such entries are nothing.
const TANGENT_FLOOR: f64 = 1e-150;

/// Constants of the pattern process, with the sample loss `l(y, h)` it differentiates.
#[derive(Debug)]
pub struct PatternParams<'a, L, A> {
    /// `sqrt(Delta)`.
    pub sqrt_delta: f64,
    /// Time step `dt`.
    pub dt: f64,
    /// `l(y, h)` and its derivatives.
    pub sample_loss: &'a SampleLoss<L, A>,
    /// The mini-batch chain.
    pub chain: BatchChain,
    /// The factor of its switching probabilities after each step (a schedule's; 1
    /// without one, see [`Config::chain_scales`]).
    pub chain_scales: &'a [f64],
    /// The data model.
    pub model: DataModel,
    /// The weight of a sample in the batch (`1/b` under `normalize_batch`, else 1).
    pub batch_weight: f64,
    /// Whether labels are ±1 (the training error is counted).
    pub classify: bool,
    /// The estimator of `M_R` (resolved: never [`Response::Auto`]).
    pub response: Response,
}

// Copied into every group: a few numbers and a reference (no bounds on L, A needed).
impl<L, A> Clone for PatternParams<'_, L, A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<L, A> Copy for PatternParams<'_, L, A> {}

impl<'a, L: LossFn, A: ActivationFn> PatternParams<'a, L, A> {
    /// The constants of `cfg` with the sample loss `sample_loss` and the resolved
    /// response estimator.
    pub fn new(
        cfg: &Config,
        sample_loss: &'a SampleLoss<L, A>,
        chain_scales: &'a [f64],
        response: Response,
    ) -> Self {
        PatternParams {
            chain_scales,
            sqrt_delta: cfg.model().delta().sqrt(),
            dt: cfg.lr,
            sample_loss,
            chain: BatchChain::new(cfg),
            model: cfg.model(),
            batch_weight: cfg.batch_weight(),
            classify: cfg.labels_are_signs(),
            response,
        }
    }

    /// `c_dt = sqrt(Delta) dt`, the factor of the memory terms (eq. 3.1).
    fn c_dt(&self) -> f64 {
        self.sqrt_delta * self.dt
    }
}

/// One chunk's (or, after [`StepSums::merge`], a group's) contributions at step `k`.
#[derive(Clone, Debug, PartialEq)]
pub struct StepSums {
    /// `sum_a f_a(k) f_a(l)` for `l <= k`.
    pub f_f: Vec<f64>,
    /// `sum_a phi_a(k) G_a(k,l)` for `l <= k` over the response samples (an unbiased
    /// estimate of it with the probe estimator).
    pub phi_g: Vec<f64>,
    /// `sum_a u_a f_a(k)`.
    pub u_f: f64,
    /// `sum_a l(y_a, h_a(k))`.
    pub loss: f64,
    /// `sum_a 1[y_a o(h_a(k)) <= 0]`.
    pub errors: f64,
    /// Whether every field and loss was finite.
    pub finite: bool,
    /// The seconds of each stage of the step.
    pub seconds: StageSeconds,
}

impl StepSums {
    fn zeros(k: usize) -> Self {
        StepSums {
            f_f: vec![0.0; k + 1],
            phi_g: vec![0.0; k + 1],
            u_f: 0.0,
            loss: 0.0,
            errors: 0.0,
            finite: true,
            seconds: StageSeconds::default(),
        }
    }

    /// Adds another chunk's sums (callers merge in chunk order: reproducible rounding).
    pub fn merge(&mut self, other: &StepSums) {
        let add = |a: &mut Vec<f64>, b: &Vec<f64>| a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        add(&mut self.f_f, &other.f_f);
        add(&mut self.phi_g, &other.phi_g);
        self.u_f += other.u_f;
        self.loss += other.loss;
        self.errors += other.errors;
        self.finite &= other.finite;
        self.seconds.add(&other.seconds);
    }
}

/// A chunk of effective samples with their whole history, and its response estimator.
pub struct Chunk {
    paths: SamplePaths,
    estimator: EstimatorState,
    /// On a coarser level of a ladder: how its draws follow the next finer level's.
    coupling: Option<Coupling>,
}

/// Where a chunk's randomness of a step comes from.
pub enum StepDraws<'a> {
    /// Its own random stream (a plain solve, and the finest level of a ladder).
    Own,
    /// The same chunk of the next finer level of a ladder, just stepped to the same time
    /// (theory.md section 6.2), and row `k` of the factor `L_sub` of the covariance of
    /// that level's `chi` on this level's grid.
    Finer {
        /// The finer level's chunk.
        chunk: &'a Chunk,
        /// `L_sub(k, 0..=k)`.
        whiten_row: &'a [f64],
    },
}

/// The state of a chunk that takes its draws from the next finer level (theory.md
/// section 6.2).
struct Coupling {
    /// `P(s(t + dt) = 1 | s(t) = 0)` of the finer chain over one step of this level.
    q_on: f64,
    /// `P(s(t + dt) = 0 | s(t) = 1)` of the finer chain over one step of this level.
    q_off: f64,
    /// The finer level's `s` at this level's previous step, per pair.
    finer_before: Vec<bool>,
    /// Scratch: `sum_{j<k} L_sub(k,j) xi(j)` per pair.
    predicted: Vec<f64>,
}

impl Chunk {
    /// Draws `samples` (even) samples for `steps` steps; the first `responders` of them
    /// also carry the response estimator's process. `rng` draws the samples, `probe_rng`
    /// the probe signs.
    pub fn new<L: LossFn, A: ActivationFn>(
        params: &PatternParams<'_, L, A>,
        rng: ChaCha8Rng,
        probe_rng: ChaCha8Rng,
        samples: usize,
        responders: usize,
        steps: usize,
    ) -> Self {
        Chunk {
            paths: SamplePaths::new(params, rng, samples, responders, steps),
            estimator: EstimatorState::new(params.response, probe_rng, responders, steps),
            coupling: None,
        }
    }

    /// This chunk on a coarser level of a ladder: after the static draws (which it
    /// shares with the finer level), its own draws come from `step_rng`, and the finer
    /// chain switches state over one step of this level with probabilities `q_on`
    /// (`0 -> 1`) and `q_off` (`1 -> 0`).
    pub fn coupled(mut self, step_rng: ChaCha8Rng, q_on: f64, q_off: f64) -> Self {
        self.paths.rng = step_rng;
        let pairs = self.paths.samples / 2;
        self.coupling = Some(Coupling {
            q_on,
            q_off,
            finer_before: vec![false; pairs],
            predicted: vec![0.0; pairs],
        });
        self
    }

    /// Advances every sample to step `k` given `L(k, 0..=k)`, the response `R` (rows
    /// `<= k`) and `m(k)`, with the step's randomness from `draws`; returns the chunk's
    /// contributions to the kernel rows `k` (theory.md section 4.1, steps 2-4).
    #[allow(clippy::too_many_arguments)] // the step's inputs, each used once
    pub fn step<L: LossFn, A: ActivationFn>(
        &mut self,
        k: usize,
        chol_row: &[f64],
        r: &Triangle,
        m_k: f64,
        params: &PatternParams<'_, L, A>,
        draws: StepDraws<'_>,
    ) -> StepSums {
        let mut laps = Laps::start();
        let paths = &mut self.paths;
        match (draws, self.coupling.as_mut()) {
            (StepDraws::Finer { chunk, whiten_row }, Some(coupling)) => {
                paths.draw_from_finer(k, params, &chunk.paths, whiten_row, chol_row, coupling)
            }
            _ => {
                paths.draw(k, params);
                paths.cavity_field(chol_row);
            }
        }
        let noise = laps.lap();
        let mut sums = match &mut self.estimator {
            EstimatorState::Tangent(tangent) => paths.step(tangent, k, r, m_k, params, laps),
            EstimatorState::Probe(probe) => paths.step(&mut **probe, k, r, m_k, params, laps),
        };
        sums.seconds.noise += noise;
        sums
    }
}

/// The estimator a chunk carries for its first `responders` samples: the one place where
/// a (resolved) [`Response`] chooses its [`Estimator`] and where a step is dispatched to
/// it, once per chunk and step. A new estimator is one more [`Estimator`], one more
/// variant here and its line in the two byte counts below.
enum EstimatorState {
    /// [`Response::Tangent`].
    Tangent(TangentState),
    /// [`Response::Probe`].
    Probe(Box<ProbeState>),
}

impl EstimatorState {
    fn new(response: Response, probe_rng: ChaCha8Rng, responders: usize, steps: usize) -> Self {
        match response {
            Response::Probe { band } => EstimatorState::Probe(Box::new(ProbeState::new(
                probe_rng, band, responders, steps,
            ))),
            _ => EstimatorState::Tangent(TangentState::new(responders, steps)),
        }
    }
}

/// Bytes of history one chunk keeps per time step: `xi` per pair, `f` per sample and the
/// response estimator's history per response sample.
/// (`phi` in `f64` for the tangent; `p` in `i8` and `phi v` in `f32` for the probe.)
pub fn history_bytes_per_step(samples: usize, responders: usize, response: Response) -> usize {
    let per_responder = match response {
        Response::Probe { .. } => ProbeState::HISTORY_BYTES,
        _ => TangentState::HISTORY_BYTES,
    };
    2 * samples + 4 * samples + per_responder * responders
}

/// Bytes of the response estimator's scratch in a run of `steps` steps with
/// `responders` response samples on `threads` threads: the tangent's per-thread
/// [`TangentScratch`] for a chunk, or the probe's recent `phi` (`band` values each).
pub fn estimator_scratch_bytes(
    response: Response,
    steps: f64,
    responders: usize,
    threads: usize,
) -> f64 {
    match response {
        Response::Probe { band } => 8.0 * band as f64 * responders as f64,
        _ => threads as f64 * 3.0 * 8.0 * steps * CHUNK as f64,
    }
}

/// A response estimator (theory.md section 4.2): what a chunk keeps for its first
/// `responders` samples, and its part of every step. [`SamplePaths::step`] is generic
/// over it, so each estimator's step is compiled on its own and these methods inline into
/// the loops over samples and lags (no dispatch inside them).
trait Estimator {
    /// Draws step `k`'s own randomness (after the samples' draws of the step).
    #[inline]
    fn draw(&mut self, _k: usize) {}

    /// Clears the estimator's memory term before the pass over the lags of a step.
    #[inline]
    fn clear_memory(&mut self) {}

    /// Adds `R(k,j)` times lag `j`'s history to the estimator's memory term.
    #[inline]
    fn add_memory(&mut self, _j: usize, _r_kj: f64) {}

    /// Records `phi(k) = -sqrt(Delta) s(k) l''(y, h(k))` of response sample `a` (`c_dt`:
    /// the factor of the memory terms).
    fn record(&mut self, k: usize, a: usize, phi: f64, c_dt: f64);

    /// Adds to `phi_g` the part of `sum_a phi_a(k) G_a(k,l)` that needs no pass over
    /// the samples' `f` history.
    fn response_row(&mut self, k: usize, r: &Triangle, c_dt: f64, phi_g: &mut [f64]);

    /// The lags `l < history_lags(k)` whose `phi_g(l)` takes [`Estimator::history_term`]
    /// in the pass over the histories at step `k`.
    #[inline]
    fn history_lags(&self, _k: usize) -> usize {
        0
    }

    /// That term at lag `l`.
    #[inline]
    fn history_term(&self, _l: usize) -> f64 {
        0.0
    }
}

/// The exact tangent: every `phi(j)` of the response samples, time-major (theory.md
/// section 4.2, eq. 4.2).
struct TangentState {
    responders: usize,
    phi: Vec<f64>,
}

impl TangentState {
    /// `phi` in `f64`.
    const HISTORY_BYTES: usize = 8;

    fn new(responders: usize, steps: usize) -> Self {
        TangentState {
            responders,
            phi: vec![0.0; steps * responders],
        }
    }
}

impl Estimator for TangentState {
    #[inline]
    fn record(&mut self, k: usize, a: usize, phi: f64, _c_dt: f64) {
        self.phi[k * self.responders + a] = phi;
    }

    fn response_row(&mut self, k: usize, r: &Triangle, c_dt: f64, phi_g: &mut [f64]) {
        tangent_response(k, r, c_dt, self.responders, &self.phi, phi_g)
    }
}

/// The probe process of each response sample: a random sign `p(j)` per step and the
/// forward tangent along it, `v(k) = sum_l G(k,l) p(l) = p(k) + c_dt sum_{j<k} R(k,j) phi(j) v(j)`
/// (eq. 4.3).
struct ProbeState {
    /// The probes' own random stream: the samples' paths do not depend on the estimator.
    rng: ChaCha8Rng,
    /// Lags computed exactly: `G(k,l)` for `k - band < l <= k`.
    band: usize,
    /// The chunk's response samples.
    responders: usize,
    /// `p(j) = ±1`, time-major.
    probe: Vec<i8>,
    /// `phi(j) v(j)`, time-major: the history the forward tangent needs.
    phi_v: Vec<f32>,
    /// `phi(j)` of the last `band` steps, row `j % band`: what the exact band needs.
    phi_recent: Vec<f64>,
    /// Scratch: `sum_{j<k} R(k,j) phi(j) v(j)` per sample.
    memory: Vec<f64>,
    /// Scratch: `v(k)`, then the weight `phi(k) (v(k) - band part)` of the off-band sums.
    weight: Vec<f64>,
    /// Scratch: `G(k, k - i)` for `i < band` of one sample.
    band_row: Vec<f64>,
    /// Whether any weight is nonzero (some sample in the batch) at this step.
    any_weight: bool,
}

impl ProbeState {
    /// `p` in `i8` and `phi v` in `f32`.
    const HISTORY_BYTES: usize = 5;

    fn new(rng: ChaCha8Rng, band: usize, responders: usize, steps: usize) -> Self {
        ProbeState {
            rng,
            band,
            responders,
            probe: vec![0; steps * responders],
            phi_v: vec![0.0; steps * responders],
            phi_recent: vec![0.0; band * responders],
            memory: vec![0.0; responders],
            weight: vec![0.0; responders],
            band_row: vec![0.0; band],
            any_weight: false,
        }
    }
}

impl Estimator for ProbeState {
    /// The probe signs `p(k)`, 64 from each draw.
    #[inline]
    fn draw(&mut self, k: usize) {
        let nr = self.responders;
        for block in self.probe[k * nr..(k + 1) * nr].chunks_mut(64) {
            let bits = self.rng.next_u64();
            for (i, p) in block.iter_mut().enumerate() {
                *p = if bits >> i & 1 == 1 { 1 } else { -1 };
            }
        }
    }

    #[inline]
    fn clear_memory(&mut self) {
        self.memory.fill(0.0);
    }

    /// `sum_{j<k} R(k,j) phi(j) v(j)` (eq. 4.3), term `j`.
    #[inline]
    fn add_memory(&mut self, j: usize, r_kj: f64) {
        let nr = self.responders;
        axpy(r_kj, &self.phi_v[j * nr..(j + 1) * nr], &mut self.memory);
    }

    /// `v(k) = p(k) + c_dt sum_{j<k} R(k,j) phi(j) v(j)` and the histories of `phi`.
    #[inline]
    fn record(&mut self, k: usize, a: usize, phi: f64, c_dt: f64) {
        let nr = self.responders;
        let v = self.probe[k * nr + a] as f64 + c_dt * self.memory[a];
        self.weight[a] = v;
        self.phi_v[k * nr + a] = (phi * v) as f32;
        self.phi_recent[(k % self.band) * nr + a] = phi;
    }

    /// The exact band of the probe estimate of `sum_a phi_a(k) G_a(k,l)` (theory.md
    /// section 4.2), added to `phi_g`, and the weight `phi(k) [v(k) - sum_{band} G(k,l')
    /// p(l')]` of each sample for the older lags, where `phi(k) (v(k) - band part) p(l)` is unbiased
    /// (the band part is a control variate: it removes the largest terms of the noise).
    fn response_row(&mut self, k: usize, r: &Triangle, c_dt: f64, phi_g: &mut [f64]) {
        let nr = self.weight.len();
        let lo = (k + 1).saturating_sub(self.band);
        let phi = |j: usize, a: usize| self.phi_recent[(j % self.band) * nr + a];
        self.any_weight = false;
        for a in 0..nr {
            let phi_k = phi(k, a);
            if phi_k == 0.0 {
                self.weight[a] = 0.0;
                continue;
            }
            self.any_weight = true;
            // Backward recursion (eq. 4.2) on the band: band_row[i] = G(k, k - i).
            let row = &mut self.band_row;
            row[0] = 1.0;
            for l in (lo..k).rev() {
                let sum: f64 = (l + 1..=k).map(|j| row[k - j] * r.at(j, l)).sum();
                row[k - l] = c_dt * phi(l, a) * sum;
            }
            let mut band_part = 0.0;
            for l in lo..=k {
                phi_g[l] += phi_k * row[k - l];
                band_part += row[k - l] * self.probe[l * nr + a] as f64;
            }
            self.weight[a] = phi_k * (self.weight[a] - band_part);
        }
    }

    /// The off-band lags `l <= k - band`, when some sample is in the batch.
    #[inline]
    fn history_lags(&self, k: usize) -> usize {
        if self.any_weight {
            (k + 1).saturating_sub(self.band)
        } else {
            0
        }
    }

    /// `sum_a phi_a(k) (v_a(k) - band part) p_a(l)` (eq. 4.4).
    #[inline]
    fn history_term(&self, l: usize) -> f64 {
        let nr = self.responders;
        dot(&self.probe[l * nr..(l + 1) * nr], &self.weight)
    }
}

/// The samples of a chunk and their histories, whatever the response estimator.
struct SamplePaths {
    rng: ChaCha8Rng,
    samples: usize,
    responders: usize,
    u: Vec<f64>,
    y: Vec<f64>,
    /// `s(k)` per pair.
    in_batch: Vec<bool>,
    /// `xi(j)` per pair, time-major: `chi(k) = sum_j L(k,j) xi(j)`.
    xi: Vec<f32>,
    /// `f(j) = -s(j) l'(y, h(j))` per sample, time-major.
    f: Vec<f32>,
    /// Scratch: `chi(k)` per pair, the memory term and `f(k)` per sample.
    chi: Vec<f64>,
    memory: Vec<f64>,
    f_now: Vec<f64>,
}

/// Scratch of the tangent sweep: the gathered `phi` histories, the row `G(k, .)` of each
/// sample and its accumulator. One per thread, reused from chunk to chunk so that it
/// stays in cache.
#[derive(Default)]
struct TangentScratch {
    phi: Vec<f64>,
    tangent: Vec<f64>,
    acc: Vec<f64>,
}

impl TangentScratch {
    fn ensure(&mut self, len: usize) {
        if self.tangent.len() < len {
            self.phi.resize(len, 0.0);
            self.tangent.resize(len, 0.0);
            self.acc.resize(len, 0.0);
        }
    }
}

thread_local! {
    static TANGENT_SCRATCH: RefCell<TangentScratch> = RefCell::new(TangentScratch::default());
}

impl SamplePaths {
    /// Draws `samples` (even) samples for `steps` steps, the first `responders` of them
    /// carrying the response.
    fn new<L: LossFn, A: ActivationFn>(
        params: &PatternParams<'_, L, A>,
        mut rng: ChaCha8Rng,
        samples: usize,
        responders: usize,
        steps: usize,
    ) -> Self {
        debug_assert!(samples % 2 == 0 && responders <= samples);
        let pairs = samples / 2;
        let (mut u, mut y) = (Vec::with_capacity(samples), Vec::with_capacity(samples));
        let mut in_batch = Vec::with_capacity(pairs);
        for _ in 0..pairs {
            let [(u1, y1), (u2, y2)] = params.model.effective_pair(&mut rng);
            u.extend([u1, u2]);
            y.extend([y1, y2]);
            in_batch.push(params.chain.start(rng.random()));
        }
        SamplePaths {
            rng,
            samples,
            responders,
            u,
            y,
            in_batch,
            xi: vec![0.0; steps * pairs],
            f: vec![0.0; steps * samples],
            chi: vec![0.0; pairs],
            memory: vec![0.0; samples],
            f_now: vec![0.0; samples],
        }
    }

    /// [`Chunk::step`] with the estimator `est`.
    fn step<E: Estimator, L: LossFn, A: ActivationFn>(
        &mut self,
        est: &mut E,
        k: usize,
        r: &Triangle,
        m_k: f64,
        params: &PatternParams<'_, L, A>,
        mut laps: Laps,
    ) -> StepSums {
        let mut sums = StepSums::zeros(k);
        est.draw(k);
        sums.seconds.noise = laps.lap();
        self.memory_terms(k, r, est);
        sums.seconds.memory = laps.lap();
        self.advance(k, m_k, params, est, &mut sums);
        sums.seconds.samples = laps.lap();
        est.response_row(k, r, params.c_dt(), &mut sums.phi_g);
        sums.seconds.response = laps.lap();
        self.kernel_row_pass(k, est, &mut sums);
        sums.seconds.kernel_rows = laps.lap();
        sums
    }

    /// The randomness of step `k`: the batch chain `s(k)` and `xi(k)` pair by pair (the
    /// estimator draws its own after them).
    fn draw<L, A>(&mut self, k: usize, params: &PatternParams<'_, L, A>) {
        if k > 0 {
            for s in self.in_batch.iter_mut() {
                *s = params
                    .chain
                    .next(*s, self.rng.random(), params.chain_scales[k - 1]);
            }
        }
        let pairs = self.samples / 2;
        for xi in &mut self.xi[k * pairs..(k + 1) * pairs] {
            *xi = self.rng.sample::<f64, _>(StandardNormal) as f32;
        }
    }

    /// The randomness of step `k` from the next finer level `finer` of a ladder, just
    /// stepped to the same time (theory.md section 6.2, eqs. 6.3-6.4):
    ///
    /// - `s(k)`: the pair switches state iff `V < P(switch)`, `U` uniform and `q` the
    ///   finer chain's probability to switch over this step. While the two chains are
    ///   in the same state, `V = q U` if the finer one switched and `q + (1 - q) U` if
    ///   not: they switch together but with probability `|q - P(switch)| = O(dt^2)`.
    ///   While apart, `V = (1 - q) U` if the finer one did not switch and
    ///   `1 - q + q U` if it did: this chain switches when the other does not, so they
    ///   meet again within a step with probability `P(switch) + q` (the most any
    ///   coupling allows). `V` is uniform whatever the past, so `s` keeps its law;
    /// - `xi(k) = (chi_finer - sum_{j<k} L_sub(k,j) xi(j)) / L_sub(k,k)`: the finer
    ///   field's standardised innovation on this grid, independent standard normals (a
    ///   fresh one where `L_sub(k,k) = 0`);
    ///
    /// and the cavity field `chi(k) = sum_{j<=k} L(k,j) xi(j)` in the same pass over the
    /// history (as [`SamplePaths::cavity_field`]).
    fn draw_from_finer<L, A>(
        &mut self,
        k: usize,
        params: &PatternParams<'_, L, A>,
        finer: &SamplePaths,
        whiten_row: &[f64],
        chol_row: &[f64],
        coupling: &mut Coupling,
    ) {
        if k > 0 {
            let transitions = self.in_batch.iter_mut().zip(&finer.in_batch);
            for ((s, &now), before) in transitions.zip(&coupling.finer_before) {
                let q = if *before {
                    coupling.q_off
                } else {
                    coupling.q_on
                };
                let v = coupled_uniform(*s == *before, now != *before, q, self.rng.random());
                *s = params.chain.next(*s, v, 1.0);
            }
        }
        coupling.finer_before.copy_from_slice(&finer.in_batch);
        let pairs = self.samples / 2;
        coupling.predicted.fill(0.0);
        self.chi.fill(0.0);
        for (j, (&sub_kj, &l_kj)) in whiten_row[..k].iter().zip(chol_row).enumerate() {
            let xi_j = &self.xi[j * pairs..(j + 1) * pairs];
            if sub_kj != 0.0 {
                axpy(sub_kj, xi_j, &mut coupling.predicted);
            }
            if l_kj != 0.0 {
                axpy(l_kj, xi_j, &mut self.chi);
            }
        }
        let (pivot, l_kk) = (whiten_row[k], chol_row[k]);
        let xi_k = &mut self.xi[k * pairs..(k + 1) * pairs];
        let finer_fields = finer.chi.iter().zip(&coupling.predicted);
        for ((xi, chi), (&chi_finer, &predicted)) in
            xi_k.iter_mut().zip(&mut self.chi).zip(finer_fields)
        {
            *xi = if pivot > 0.0 {
                ((chi_finer - predicted) / pivot) as f32
            } else {
                self.rng.sample::<f64, _>(StandardNormal) as f32
            };
            *chi += l_kk * *xi as f64;
        }
    }

    /// `chi(k) = sum_{j<=k} L(k,j) xi(j)` (eq. 4.1): the new value of each pair's cavity
    /// field conditioned on its own past. Row by row: the history streams through once.
    fn cavity_field(&mut self, chol_row: &[f64]) {
        let pairs = self.samples / 2;
        self.chi.fill(0.0);
        for (j, &l_kj) in chol_row.iter().enumerate() {
            if l_kj != 0.0 {
                axpy(l_kj, &self.xi[j * pairs..(j + 1) * pairs], &mut self.chi);
            }
        }
    }

    /// The memory terms `sum_{j<k} R(k,j) f(j)` (eq. 3.1) and the estimator's (for the
    /// probe, `sum_{j<k} R(k,j) phi(j) v(j)`, eq. 4.3), in one pass over the histories.
    fn memory_terms<E: Estimator>(&mut self, k: usize, r: &Triangle, est: &mut E) {
        let n = self.samples;
        self.memory.fill(0.0);
        est.clear_memory();
        for (j, &r_kj) in r.row(k)[..k].iter().enumerate() {
            axpy(r_kj, &self.f[j * n..(j + 1) * n], &mut self.memory);
            est.add_memory(j, r_kj);
        }
    }

    /// Every sample at step `k` (eq. 3.1): `g = chi + c_dt sum_{j<k} R(k,j) f(j)`,
    /// `h = u m(k) + sqrt(Delta) g`, `f = -s l'(y, h)`, `phi = -sqrt(Delta) s l''(y, h)`
    /// (with `s = 1/b` in the batch under `normalize_batch`), recorded by the estimator
    /// (the probe's `v(k) = p(k) + c_dt sum_{j<k} R(k,j) phi(j) v(j)`).
    fn advance<E: Estimator, L: LossFn, A: ActivationFn>(
        &mut self,
        k: usize,
        m_k: f64,
        params: &PatternParams<'_, L, A>,
        est: &mut E,
        sums: &mut StepSums,
    ) {
        let (n, nr, pairs) = (self.samples, self.responders, self.samples / 2);
        let (sd, c_dt, weight) = (params.sqrt_delta, params.c_dt(), params.batch_weight);
        for p in 0..pairs {
            let s = self.in_batch[p];
            for a in [2 * p, 2 * p + 1] {
                let g = self.chi[p] + c_dt * self.memory[a];
                let h = self.u[a] * m_k + sd * g;
                let (loss, slope) = params.sample_loss.value_and_slope(self.y[a], h);
                // Stored in f32; f(k) is used as stored, so every kernel sees one process.
                let f = if s { (-weight * slope) as f32 } else { 0.0 };
                self.f[k * n + a] = f;
                self.f_now[a] = f as f64;
                if a < nr {
                    let phi = if s {
                        -sd * weight * params.sample_loss.curvature(self.y[a], h)
                    } else {
                        0.0
                    };
                    est.record(k, a, phi, c_dt);
                }
                sums.loss += loss;
                if params.classify {
                    sums.errors += params.sample_loss.misclassified(self.y[a], h) as u8 as f64;
                }
                sums.u_f += self.u[a] * f as f64;
                sums.finite &= h.is_finite() && loss.is_finite();
            }
        }
    }

    /// The chunk's part of kernel row `k` that needs the histories (eq. 3.3), in one pass
    /// over them: `sum_a f_a(k) f_a(l)` for `l <= k` and the estimator's terms (for the
    /// probe, the off-band `sum_a phi_a(k) (v_a(k) - band part) p_a(l)` for
    /// `l <= k - band`, eq. 4.4).
    fn kernel_row_pass<E: Estimator>(&self, k: usize, est: &E, sums: &mut StepSums) {
        let n = self.samples;
        let any_f = self.f_now.iter().any(|&v| v != 0.0);
        let history_lags = est.history_lags(k);
        for l in 0..=k {
            if any_f {
                sums.f_f[l] = dot(&self.f[l * n..(l + 1) * n], &self.f_now);
            }
            if l < history_lags {
                sums.phi_g[l] += est.history_term(l);
            }
        }
    }
}

/// The uniform number `V` that drives a coarser level's batch chain over one of its
/// steps (theory.md eq. 6.3), from a uniform `u`, whether the chain is in the same state
/// as the finer one was (`together`), whether the finer one `switched` over the step, and
/// its probability `q` to switch. Together, small `V` means the finer chain switched;
/// apart, that it did not, so that the two meet again as often as their laws allow. Given
/// the past, `V` is uniform.
#[inline]
fn coupled_uniform(together: bool, switched: bool, q: f64, u: f64) -> f64 {
    match (together, switched) {
        (true, true) => q * u,
        (true, false) => q + (1.0 - q) * u,
        (false, false) => (1.0 - q) * u,
        (false, true) => (1.0 - q) + q * u,
    }
}

/// The exact `sum_a phi_a(k) G_a(k,l)`: samples out of the batch at step `k` have
/// `phi(k) = 0` and contribute nothing, so only the others get their tangent row (a
/// fraction `b` of the work under SGD), with their `phi` histories gathered side by side.
fn tangent_response(k: usize, r: &Triangle, c_dt: f64, nr: usize, phi: &[f64], phi_g: &mut [f64]) {
    let phi_k = &phi[k * nr..(k + 1) * nr];
    let active: Vec<usize> = (0..nr).filter(|&a| phi_k[a] != 0.0).collect();
    let width = active.len();
    if width == 0 {
        return;
    }
    TANGENT_SCRATCH.with_borrow_mut(|scratch| {
        scratch.ensure((k + 1) * width);
        for l in 0..=k {
            let (src, dst) = (&phi[l * nr..], &mut scratch.phi[l * width..(l + 1) * width]);
            for (d, &a) in dst.iter_mut().zip(&active) {
                *d = src[a];
            }
        }
        tangent_row(k, r, c_dt, width, scratch);
        let phi_k = &scratch.phi[k * width..(k + 1) * width];
        for (l, out) in phi_g.iter_mut().enumerate() {
            *out = dot(phi_k, &scratch.tangent[l * width..(l + 1) * width]);
        }
    });
}

/// Row `k` of the tangent `G(k, l) = dg(k)/dchi(l)` of `width` samples whose `phi`
/// histories are in `scratch.phi` (time-major), into `scratch.tangent[l * width + a]`,
/// by the backward recursion (eq. 4.2) of `G = I + c_dt G R Phi`:
///
/// `G(k,k) = 1`, `G(k,l) = c_dt phi(l) sum_{l<j<=k} G(k,j) R(j,l)` for `l < k`.
///
/// It is the same row as the forward recursion of theory.md but needs only `phi`'s
/// history, not every sample's past tangent; see [`BackwardSweep`] for its blocking.
fn tangent_row(k: usize, r: &Triangle, c_dt: f64, width: usize, scratch: &mut TangentScratch) {
    // acc(l) = sum over solved rows j of R(j,l) G(k,j); first row k, where G(k,k) = 1.
    for l in 0..k {
        scratch.acc[l * width..(l + 1) * width].fill(r.at(k, l));
    }
    scratch.tangent[k * width..(k + 1) * width].fill(1.0);
    let mut sweep = BackwardSweep {
        r,
        c_dt,
        width,
        phi: &scratch.phi,
        tangent: &mut scratch.tangent,
        acc: &mut scratch.acc,
        coefs: Vec::with_capacity(LEAF),
        block: Vec::new(),
    };
    sweep.solve(0, k);
}

/// The triangular solve of [`tangent_row`], blocked recursively: to solve rows
/// `p0..p1` (given the contributions of rows `>= p1`), solve the upper half, add its
/// contribution to the lower half in one matrix product (the shared `R` times
/// sample-wide rows), then solve the lower half. Only blocks of [`LEAF`] rows are swept
/// row by row, so almost all the `O(k^2)` work per sample is matrix multiplication.
struct BackwardSweep<'a> {
    r: &'a Triangle,
    c_dt: f64,
    width: usize,
    phi: &'a [f64],
    tangent: &'a mut [f64],
    acc: &'a mut [f64],
    coefs: Vec<f64>,
    /// A block of `R`, contiguous for the matrix product.
    block: Vec<f64>,
}

impl BackwardSweep<'_> {
    fn solve(&mut self, p0: usize, p1: usize) {
        let width = self.width;
        if p1 - p0 <= LEAF {
            for l in (p0..p1).rev() {
                // G(k,l) = c_dt phi(l) [acc(l) + sum_{l<j<p1} R(j,l) G(k,j)].
                self.coefs.clear();
                self.coefs.extend((l + 1..p1).map(|j| self.r.at(j, l)));
                let (head, solved) = self.tangent.split_at_mut((l + 1) * width);
                let scaling = Scaling {
                    factor: self.c_dt,
                    scale: &self.phi[l * width..(l + 1) * width],
                    floor: TANGENT_FLOOR,
                };
                let base = &self.acc[l * width..(l + 1) * width];
                combine_rows(
                    Some(base),
                    &self.coefs,
                    solved,
                    Some(scaling),
                    &mut head[l * width..],
                );
            }
            return;
        }
        let mid = p0 + (p1 - p0) / 2;
        self.solve(mid, p1);
        // acc(l, a) += sum_{j=mid}^{p1-1} R(j,l) G(k,j)_a  for l in p0..mid, with the
        // block R(mid..p1, p0..mid) gathered row by row from the packed triangle.
        let cols = mid - p0;
        self.block.clear();
        for j in mid..p1 {
            self.block.extend_from_slice(&self.r.row(j)[p0..mid]);
        }
        // SAFETY: the operands lie inside `block` ((p1 - mid) rows of `cols`),
        // `tangent` (rows mid..p1) and `acc` (rows p0..mid), with the strides given; the
        // output does not alias the inputs.
        unsafe {
            matrixmultiply::dgemm(
                cols,
                p1 - mid,
                width,
                1.0,
                self.block.as_ptr(),
                1,
                cols as isize,
                self.tangent.as_ptr().add(mid * width),
                width as isize,
                1,
                1.0,
                self.acc.as_mut_ptr().add(p0 * width),
                width as isize,
                1,
            );
        }
        self.solve(p0, mid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// The forward recursion of theory.md, per sample: G(k,l) = [k==l] + c sum_{l<=j<k} R(k,j) phi(j) G(j,l).
    fn forward_tangent(r: &Triangle, phi: &[f64], c: f64, t: usize) -> TimeMatrix {
        let mut g = TimeMatrix::zeros(t);
        for k in 0..t {
            for l in 0..=k {
                let mut v = if k == l { 1.0 } else { 0.0 };
                for (j, &phi_j) in phi.iter().enumerate().take(k).skip(l) {
                    v += c * r.at(k, j) * phi_j * g.at(j, l);
                }
                g.set(k, l, v);
            }
        }
        g
    }

    #[test]
    fn backward_tangent_equals_the_forward_recursion() {
        let t = 75; // several leaf blocks and matrix-product levels
        let mut r = Triangle::zeros(t);
        for k in 0..t {
            for l in 0..k {
                r.set(k, l, ((k * 7 + l * 3) % 11) as f64 / 11.0 - 0.3);
            }
        }
        let phi: Vec<f64> = (0..t * 3)
            .map(|i| ((i * 5) % 13) as f64 / 13.0 - 0.6)
            .collect();
        let c = 0.3;
        let k = t - 1;
        let mut scratch = TangentScratch::default();
        scratch.ensure(t * 3);
        scratch.phi.copy_from_slice(&phi);
        tangent_row(k, &r, c, 3, &mut scratch);
        for a in 0..3 {
            let phi_a: Vec<f64> = (0..t).map(|j| phi[j * 3 + a]).collect();
            let g = forward_tangent(&r, &phi_a, c, t);
            for l in 0..=k {
                let got = scratch.tangent[l * 3 + a];
                assert!(
                    (got - g.at(k, l)).abs() < 1e-12 * (1.0 + g.at(k, l).abs()),
                    "a={a} l={l}"
                );
            }
        }
    }

    #[test]
    fn a_coupled_chain_keeps_its_law_and_follows_the_finer_one() {
        // A finer chain of two steps of dt/2 per coarse step dt, and a coarse chain driven
        // by coupled_uniform: the coarse chain's switching frequencies are its own
        // probabilities, and it spends most of the time in the finer chain's state.
        let (p_on, p_off) = (0.1, 0.2);
        let (f_on, f_off) = (p_on / 2.0, p_off / 2.0);
        let two_steps = |a: f64, c: f64| a * (1.0 - c) + (1.0 - a) * a;
        let (q_on, q_off) = (two_steps(f_on, f_off), two_steps(f_off, f_on));
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (mut fine, mut coarse) = (false, false);
        let (mut tries, mut switches, mut apart) = ([0.0; 2], [0.0; 2], 0.0);
        let n = 400_000;
        for _ in 0..n {
            let before = fine;
            for _ in 0..2 {
                let p = if fine { f_off } else { f_on };
                fine ^= rng.random::<f64>() < p;
            }
            let q = if before { q_off } else { q_on };
            let v = coupled_uniform(coarse == before, fine != before, q, rng.random());
            let p = if coarse { p_off } else { p_on };
            tries[coarse as usize] += 1.0;
            if v < p {
                switches[coarse as usize] += 1.0;
                coarse = !coarse;
            }
            apart += (coarse != fine) as u8 as f64;
        }
        for (i, p) in [p_on, p_off].into_iter().enumerate() {
            let rate = switches[i] / tries[i];
            let se = (p * (1.0 - p) / tries[i]).sqrt();
            assert!((rate - p).abs() < 5.0 * se, "state {i}: {rate} vs {p}");
        }
        // They part with probability |q - p| ~ 0.01 per step and meet again with
        // probability p + q ~ 0.25: apart ~4% of the steps (measured 3.4%). Driving the
        // apart state like the together one would keep them apart ~10 times longer.
        assert!(apart / n as f64 <= 0.05, "apart {}", apart / n as f64);
    }

    #[test]
    fn mirror_pairs_cancel_u_f_when_m_is_zero() {
        let cfg = Config {
            clusters: crate::config::Clusters::Three { rho: 0.4 },
            activation: Some(crate::config::Activation::Door { threshold: 1.0 }),
            batch: 0.5,
            lr: 0.1,
            tau: Some(0.2),
            ..Config::default()
        };
        let (loss, scales) = (cfg.sample_loss(), cfg.chain_scales());
        let params = PatternParams::new(&cfg, &loss, &scales, Response::Tangent);
        let rng = || ChaCha8Rng::seed_from_u64(2);
        let mut chunk = Chunk::new(&params, rng(), rng(), CHUNK, CHUNK, 3);
        let mut r = Triangle::zeros(3);
        r.set(1, 0, 1.0);
        let sums = chunk.step(0, &[1.0], &r, 0.0, &params, StepDraws::Own);
        assert_eq!(sums.u_f, 0.0);
        let sums = chunk.step(1, &[0.5, 0.8], &r, 0.0, &params, StepDraws::Own);
        assert_eq!(sums.u_f, 0.0);
        assert!(sums.f_f[1] > 0.0);
    }
}
