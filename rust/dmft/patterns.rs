//! The pattern side of the DMFT (theory.md section 3): the effective samples, each with
//! its own cluster, label, `u = c + sqrt(Delta) zeta`, batch chain and Gaussian cavity
//! field `chi`, advanced one step at a time, and their contributions to the kernel rows.
//!
//! Samples come in mirror-image pairs `(c, zeta) -> (-c, -zeta)` sharing `chi` and the
//! batch chain. Each sample keeps its correct distribution; the pair makes `E[u f]`
//! vanish exactly when `m = 0` (three clusters) and reduces its variance otherwise.
//! Standard errors treat the pair as the independent unit.
//!
//! Samples are grouped in chunks of [`CHUNK`]; a chunk owns its random stream, so the
//! numbers do not depend on which thread runs it. Quantities are stored time-major
//! (`f[k * samples + a]`) so that every update is a vector operation across samples.

use super::matrix::TimeMatrix;
use crate::config::{Clusters, Config};
use crate::kernels::{axpy, combine_rows, dot, Scaling};
use crate::losses::SampleLoss;
use crate::minibatch::BatchChain;
use rand::RngExt;
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

/// Constants of the pattern process.
#[derive(Clone, Copy, Debug)]
pub struct PatternParams {
    /// `sqrt(Delta)`.
    pub sqrt_delta: f64,
    /// Time step `dt`.
    pub dt: f64,
    /// `l(y, h)` and its derivatives.
    pub sample_loss: SampleLoss,
    /// The mini-batch chain.
    pub chain: BatchChain,
    /// The data model.
    pub clusters: Clusters,
}

impl PatternParams {
    /// The constants of `cfg`.
    pub fn new(cfg: &Config) -> Self {
        PatternParams {
            sqrt_delta: cfg.delta.sqrt(),
            dt: cfg.lr,
            sample_loss: SampleLoss {
                loss: cfg.loss,
                activation: cfg.activation(),
            },
            chain: BatchChain::new(cfg),
            clusters: cfg.clusters,
        }
    }
}

/// Sum and sum of squares of per-pair means: enough for a mean and its standard error.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    /// Sum of the pair means.
    pub sum: f64,
    /// Sum of their squares.
    pub sum_sq: f64,
}

impl Moments {
    fn push(&mut self, x: f64) {
        self.sum += x;
        self.sum_sq += x * x;
    }

    fn merge(&mut self, other: &Moments) {
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
    }

    /// `(mean, standard error of the mean)` over `units` independent pairs.
    pub fn mean_sem(&self, units: usize) -> (f64, f64) {
        let n = units as f64;
        let mean = self.sum / n;
        if units < 2 {
            return (mean, f64::NAN);
        }
        let var = ((self.sum_sq - n * mean * mean) / (n - 1.0)).max(0.0);
        (mean, (var / n).sqrt())
    }
}

/// One chunk's (or, after [`StepSums::merge`], all chunks') contributions at step `k`.
#[derive(Clone, Debug, PartialEq)]
pub struct StepSums {
    /// `sum_a f_a(k) f_a(l)` for `l <= k`.
    pub f_f: Vec<f64>,
    /// `sum_a phi_a(k) G_a(k,l)` for `l <= k`, over the response samples.
    pub phi_g: Vec<f64>,
    /// `sum_a u_a f_a(k)`.
    pub u_f: f64,
    /// Training loss `l(y, h(k))` per pair.
    pub loss: Moments,
    /// Training error `1[y o(h(k)) <= 0]` per pair.
    pub error: Moments,
    /// Whether every field and loss was finite.
    pub finite: bool,
}

impl StepSums {
    fn zeros(k: usize) -> Self {
        StepSums {
            f_f: vec![0.0; k + 1],
            phi_g: vec![0.0; k + 1],
            u_f: 0.0,
            loss: Moments::default(),
            error: Moments::default(),
            finite: true,
        }
    }

    /// Adds another chunk's sums (callers merge in chunk order: reproducible rounding).
    pub fn merge(&mut self, other: &StepSums) {
        self.f_f
            .iter_mut()
            .zip(&other.f_f)
            .for_each(|(a, b)| *a += b);
        self.phi_g
            .iter_mut()
            .zip(&other.phi_g)
            .for_each(|(a, b)| *a += b);
        self.u_f += other.u_f;
        self.loss.merge(&other.loss);
        self.error.merge(&other.error);
        self.finite &= other.finite;
    }
}

/// A chunk of effective samples with their whole history.
pub struct Chunk {
    rng: ChaCha8Rng,
    samples: usize,
    responders: usize,
    u: Vec<f64>,
    y: Vec<f64>,
    /// `s(k)` per pair.
    in_batch: Vec<bool>,
    /// `xi(j)` per pair, time-major: `chi(k) = sum_j L(k,j) xi(j)`.
    xi: Vec<f64>,
    /// `f(j) = -s(j) l'(y, h(j))` per sample, time-major.
    f: Vec<f64>,
    /// `phi(j) = -sqrt(Delta) s(j) l''(y, h(j))` per response sample, time-major.
    phi: Vec<f64>,
    /// Scratch: `chi(k)` per pair, the memory term per sample.
    chi: Vec<f64>,
    memory: Vec<f64>,
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

impl Chunk {
    /// Draws `samples` (even) samples for `steps` steps; the first `responders` of them
    /// also carry the tangent process.
    pub fn new(
        params: &PatternParams,
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
            let (c, label) = params.clusters.draw(rng.random());
            let zeta: f64 = rng.sample(StandardNormal);
            let u_pair = c + params.sqrt_delta * zeta;
            u.extend([u_pair, -u_pair]);
            y.extend([label, params.clusters.label(-c)]);
            in_batch.push(params.chain.start(rng.random()));
        }
        Chunk {
            rng,
            samples,
            responders,
            u,
            y,
            in_batch,
            xi: vec![0.0; steps * pairs],
            f: vec![0.0; steps * samples],
            phi: vec![0.0; steps * responders],
            chi: vec![0.0; pairs],
            memory: vec![0.0; samples],
        }
    }

    /// Advances every sample to step `k` given `L(k, 0..=k)`, the response `R` (rows
    /// `<= k`) and `m(k)`; returns the chunk's contributions to the kernel rows `k`.
    pub fn step(
        &mut self,
        k: usize,
        chol_row: &[f64],
        r: &TimeMatrix,
        m_k: f64,
        params: &PatternParams,
    ) -> StepSums {
        let (n, pairs) = (self.samples, self.samples / 2);
        let mut sums = StepSums::zeros(k);

        // Batch chain s(k) and fresh normals xi(k), pair by pair.
        if k > 0 {
            for s in self.in_batch.iter_mut() {
                *s = params.chain.next(*s, self.rng.random());
            }
        }
        for xi in &mut self.xi[k * pairs..(k + 1) * pairs] {
            *xi = self.rng.sample(StandardNormal);
        }

        // chi(k) = sum_{j<=k} L(k,j) xi(j): conditioned on the pair's own past. (Row by
        // row: the history streams through once, in order.)
        self.chi.fill(0.0);
        for (j, &l_kj) in chol_row.iter().enumerate() {
            if l_kj != 0.0 {
                axpy(l_kj, &self.xi[j * pairs..(j + 1) * pairs], &mut self.chi);
            }
        }
        // Memory term sum_{j<k} R(k,j) f(j).
        self.memory.fill(0.0);
        for (j, &r_kj) in r.row(k)[..k].iter().enumerate() {
            axpy(r_kj, &self.f[j * n..(j + 1) * n], &mut self.memory);
        }

        // g(k) = chi(k) + sqrt(Delta) dt sum_{j<k} R(k,j) f(j), h(k) = u m(k) + sqrt(Delta) g(k),
        // f(k) = -s(k) l'(y, h(k)), phi(k) = -sqrt(Delta) s(k) l''(y, h(k)).
        let (sd, dt) = (params.sqrt_delta, params.dt);
        for p in 0..pairs {
            let s = self.in_batch[p];
            let (mut pair_loss, mut pair_errors, mut pair_u_f) = (0.0, 0.0, 0.0);
            for a in [2 * p, 2 * p + 1] {
                let g = self.chi[p] + sd * dt * self.memory[a];
                let h = self.u[a] * m_k + sd * g;
                let (loss, slope) = params.sample_loss.value_and_slope(self.y[a], h);
                let f = if s { -slope } else { 0.0 };
                self.f[k * n + a] = f;
                if a < self.responders {
                    let phi = if s {
                        -sd * params.sample_loss.curvature(self.y[a], h)
                    } else {
                        0.0
                    };
                    self.phi[k * self.responders + a] = phi;
                }
                pair_loss += loss;
                pair_errors += params.sample_loss.misclassified(self.y[a], h) as u8 as f64;
                pair_u_f += self.u[a] * f;
                sums.finite &= h.is_finite() && loss.is_finite();
            }
            sums.loss.push(0.5 * pair_loss);
            sums.error.push(0.5 * pair_errors);
            sums.u_f += pair_u_f;
        }

        // sum_a f_a(k) f_a(l), l <= k.
        let f_k = &self.f[k * n..(k + 1) * n];
        for (l, out) in sums.f_f.iter_mut().enumerate() {
            *out = dot(f_k, &self.f[l * n..(l + 1) * n]);
        }

        // sum_a phi_a(k) G_a(k,l): samples out of the batch at step k have phi(k) = 0 and
        // contribute nothing, so only the others need their tangent row (a fraction b of
        // the work under SGD). Their phi histories are gathered side by side first.
        let nr = self.responders;
        let phi_k = &self.phi[k * nr..(k + 1) * nr];
        let active: Vec<usize> = (0..nr).filter(|&a| phi_k[a] != 0.0).collect();
        let width = active.len();
        if width > 0 {
            TANGENT_SCRATCH.with_borrow_mut(|scratch| {
                scratch.ensure((k + 1) * width);
                for l in 0..=k {
                    let (src, dst) = (
                        &self.phi[l * nr..],
                        &mut scratch.phi[l * width..(l + 1) * width],
                    );
                    for (d, &a) in dst.iter_mut().zip(&active) {
                        *d = src[a];
                    }
                }
                tangent_row(k, r, params.sqrt_delta * params.dt, width, scratch);
                let phi_k = &scratch.phi[k * width..(k + 1) * width];
                for (l, out) in sums.phi_g.iter_mut().enumerate() {
                    *out = dot(phi_k, &scratch.tangent[l * width..(l + 1) * width]);
                }
            });
        }
        sums
    }
}

/// Row `k` of the tangent `G(k, l) = dg(k)/dchi(l)` of `width` samples whose `phi`
/// histories are in `scratch.phi` (time-major), into `scratch.tangent[l * width + a]`,
/// by the backward recursion of `G = I + c G R Phi`:
///
/// `G(k,k) = 1`, `G(k,l) = c phi(l) sum_{l<j<=k} G(k,j) R(j,l)` for `l < k`, `c = sqrt(Delta) dt`.
///
/// It is the same row as the forward recursion of theory.md but needs only `phi`'s
/// history, not every sample's past tangent; see [`BackwardSweep`] for its blocking.
fn tangent_row(k: usize, r: &TimeMatrix, c: f64, width: usize, scratch: &mut TangentScratch) {
    // acc(l) = sum over solved rows j of R(j,l) G(k,j); first row k, where G(k,k) = 1.
    for l in 0..k {
        scratch.acc[l * width..(l + 1) * width].fill(r.at(k, l));
    }
    scratch.tangent[k * width..(k + 1) * width].fill(1.0);
    let mut sweep = BackwardSweep {
        r,
        c,
        width,
        phi: &scratch.phi,
        tangent: &mut scratch.tangent,
        acc: &mut scratch.acc,
        coefs: Vec::with_capacity(LEAF),
    };
    sweep.solve(0, k);
}

/// The triangular solve of [`tangent_row`], blocked recursively: to solve rows
/// `p0..p1` (given the contributions of rows `>= p1`), solve the upper half, add its
/// contribution to the lower half in one matrix product (the shared `R` times
/// sample-wide rows), then solve the lower half. Only blocks of [`LEAF`] rows are swept
/// row by row, so almost all the `O(k^2)` work per sample is matrix multiplication.
struct BackwardSweep<'a> {
    r: &'a TimeMatrix,
    c: f64,
    width: usize,
    phi: &'a [f64],
    tangent: &'a mut [f64],
    acc: &'a mut [f64],
    coefs: Vec<f64>,
}

impl BackwardSweep<'_> {
    fn solve(&mut self, p0: usize, p1: usize) {
        let nr = self.width;
        if p1 - p0 <= LEAF {
            for l in (p0..p1).rev() {
                // G(k,l) = c phi(l) [acc(l) + sum_{l<j<p1} R(j,l) G(k,j)].
                self.coefs.clear();
                self.coefs.extend((l + 1..p1).map(|j| self.r.at(j, l)));
                let (head, solved) = self.tangent.split_at_mut((l + 1) * nr);
                let scaling = Scaling {
                    c: self.c,
                    scale: &self.phi[l * nr..(l + 1) * nr],
                    floor: TANGENT_FLOOR,
                };
                let base = &self.acc[l * nr..(l + 1) * nr];
                combine_rows(
                    Some(base),
                    &self.coefs,
                    solved,
                    Some(scaling),
                    &mut head[l * nr..],
                );
            }
            return;
        }
        let mid = p0 + (p1 - p0) / 2;
        self.solve(mid, p1);
        // acc(l, a) += sum_{j=mid}^{p1-1} R(j,l) G(k,j)_a  for l in p0..mid.
        let t = self.r.n();
        // SAFETY: the operands lie inside `r` (rows mid..p1 < t, columns p0..mid),
        // `tangent` (rows mid..p1) and `acc` (rows p0..mid), with the strides given; the
        // output does not alias the inputs.
        unsafe {
            matrixmultiply::dgemm(
                mid - p0,
                p1 - mid,
                nr,
                1.0,
                self.r.as_slice().as_ptr().add(mid * t + p0),
                1,
                t as isize,
                self.tangent.as_ptr().add(mid * nr),
                nr as isize,
                1,
                1.0,
                self.acc.as_mut_ptr().add(p0 * nr),
                nr as isize,
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
    fn forward_tangent(r: &TimeMatrix, phi: &[f64], c: f64, t: usize) -> TimeMatrix {
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
        let t = 75; // more than two panels
        let params = PatternParams::new(&Config::default());
        let mut chunk = Chunk::new(&params, ChaCha8Rng::seed_from_u64(1), 4, 3, t);
        let mut r = TimeMatrix::zeros(t);
        for k in 0..t {
            for l in 0..k {
                r.set(k, l, ((k * 7 + l * 3) % 11) as f64 / 11.0 - 0.3);
            }
        }
        for (i, phi) in chunk.phi.iter_mut().enumerate() {
            *phi = ((i * 5) % 13) as f64 / 13.0 - 0.6;
        }
        let c = 0.3;
        let k = t - 1;
        let mut scratch = TangentScratch::default();
        scratch.ensure(t * 3);
        scratch.phi.copy_from_slice(&chunk.phi);
        tangent_row(k, &r, c, 3, &mut scratch);
        for a in 0..3 {
            let phi_a: Vec<f64> = (0..t).map(|j| chunk.phi[j * 3 + a]).collect();
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
    fn mirror_pairs_cancel_u_f_when_m_is_zero() {
        let cfg = Config {
            clusters: Clusters::Three { rho: 0.4 },
            activation: Some(crate::config::Activation::Door { threshold: 1.0 }),
            batch: 0.5,
            lr: 0.1,
            tau: Some(0.2),
            ..Config::default()
        };
        let params = PatternParams::new(&cfg);
        let mut chunk = Chunk::new(&params, ChaCha8Rng::seed_from_u64(2), CHUNK, CHUNK, 3);
        let mut r = TimeMatrix::zeros(3);
        r.set(1, 0, 1.0);
        let sums = chunk.step(0, &[1.0], &r, 0.0, &params);
        assert_eq!(sums.u_f, 0.0);
        let sums = chunk.step(1, &[0.5, 0.8], &r, 0.0, &params);
        assert_eq!(sums.u_f, 0.0);
        assert!(sums.f_f[1] > 0.0);
    }
}
