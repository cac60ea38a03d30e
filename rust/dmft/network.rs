//! The DMFT of two-layer networks (theory.md section 8.2): every scalar of the
//! single-unit solver becomes a `K`-vector or a `K x K` block. One causal pass in time,
//! independent groups of effective samples side by side (their spread is the error bar),
//! the exact (tangent) response. Block `(k, l)` of a two-time matrix at times `(t, s)`
//! sits at flat index `(t K + k, s K + l)` of a [`TimeMatrix`] of side `T K`, so the cavity
//! field's incremental Cholesky factor is the single unit's, on the flat index.
//!
//! Pattern side, per effective sample (static `u`, label `y`, batch chain `s(t)`):
//!
//! `g(t) = chi(t) + c_dt sum_{s<t} R(t,s) f(s)`, `h(t) = M(t) u + sqrt(Delta) g(t)`,
//! `f(t) = -s(t) grad_h l`, `Phi(t) = -sqrt(Delta) s(t) Hess_h l` (eq. 8.3), and the
//! tangent row `G(t,t) = I`, `G(t,s) = c_dt [sum_{s<j<=t} G(t,j) R(j,s)] Phi(s)` (eq. 8.4).
//!
//! Kernels: `M_C(t,s) = alpha Delta E[f(t) f(s)^T]`, `M_R(t,s) = alpha sqrt(Delta)
//! E[Phi(t) G(t,s)]`, `mu(t) = E[f(t) u^T]` (eq. 8.5). Weight side, the `K`-vector process
//! `w(t+1) = sum_j A_j w(j) + dt eta(t)`, `A_j = dt M_R(t,j) + (1 - dt lambda) [j = t] I`
//! (eq. 8.6).

// The block algebra reads as the equations do, with explicit indices (k, l, j, s).
#![allow(clippy::needless_range_loop)]

use super::cholesky::IncrementalCholesky;
use super::matrix::TimeMatrix;
use crate::control::Control;
use crate::divergence::DivergenceGuard;
use crate::error::{Error, Result};
use crate::losses::{ActivationFn, LossFn};
use crate::minibatch::{BatchSchedule, MarkovBatches};
use crate::network::{BuiltinTarget, Network, NetworkRuns, TargetFn, TestDraws};
use crate::problem::Problem;
use crate::resources::{check_memory, with_threads};
use crate::rng::{stream, Domain};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

/// How the network solver estimates the response `M_R`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum NetworkResponse {
    /// The tangent (eq. 8.4) for smooth units and losses, integration by parts for kinks.
    #[default]
    Auto,
    /// The exact tangent (refused for a kinked unit or loss).
    Tangent,
    /// Gaussian integration by parts (eq. 8.7): `O(t K^2)` per sample and step instead of
    /// the tangent's `O(t^2 K^3)`, noisier where the cavity field is nearly degenerate.
    Stein,
}

/// Monte Carlo size, seed, threads and response estimator of a network solve.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct NetworkDmftOptions {
    /// Effective samples, in all.
    pub samples: usize,
    /// Independent groups (their spread is the error bar).
    pub groups: usize,
    /// Seed; group `g` draws from its own streams of it.
    pub seed: u64,
    /// Worker threads (`None`: all cores).
    pub threads: Option<usize>,
    /// The response estimator.
    pub response: NetworkResponse,
    /// Keep each group's `C` and `R` blocks (`2 groups (T K)^2` numbers); `None`: while
    /// that is at most [`NetworkDmftOptions::KEEP_TWO_TIME_ENTRIES`].
    pub keep_two_time: Option<bool>,
}

impl Default for NetworkDmftOptions {
    fn default() -> Self {
        NetworkDmftOptions {
            samples: 20_000,
            groups: 8,
            seed: 0,
            threads: None,
            response: NetworkResponse::Auto,
            keep_two_time: None,
        }
    }
}

impl NetworkDmftOptions {
    /// Most numbers of the groups' `C` and `R` blocks kept by default (160 MB).
    pub const KEEP_TWO_TIME_ENTRIES: usize = 10_000_000;

    /// These options with `samples` effective samples in `groups` groups.
    pub fn sized(samples: usize, groups: usize) -> Self {
        NetworkDmftOptions {
            samples,
            groups,
            ..Self::default()
        }
    }
}

/// Solves the DMFT of the network `problem` with the labels of `target` (`None`: the
/// config's teacher): `opts.samples` effective samples in `opts.groups` groups, each
/// solved on its own, side by side, on a pool of `opts.threads` workers; same seed, same
/// numbers, whatever the thread count. Progress counts time steps. Full-batch GD, plain
/// and persistent SGD, with a constant learning rate or a schedule (eq. 3.10), ridge,
/// momentum and Langevin noise.
pub fn solve_network_dmft(
    problem: &Problem,
    target: Option<&dyn TargetFn>,
    opts: &NetworkDmftOptions,
    control: &Control,
) -> Result<NetworkRuns> {
    let NetworkDmftOptions {
        samples,
        groups,
        seed,
        threads,
        response,
        keep_two_time,
    } = *opts;
    let cfg = problem.config();
    if groups == 0 || samples < 2 * groups {
        return Err(Error::invalid(
            "samples",
            format!("must be at least 2 per group ({groups} groups), got {samples}"),
        ));
    }
    // A kink (ReLU's sigma'' or a hinge's ell_oo is a delta) has no pointwise curvature:
    // the response is then estimated by Gaussian integration by parts (eq. 8.7), which
    // needs f alone, instead of the tangent (eq. 8.4).
    let kinked = !problem.activation().is_smooth() || !problem.loss().has_curvature();
    let stein = match response {
        NetworkResponse::Tangent if kinked => {
            return Err(Error::invalid(
                "response",
                "'tangent' needs a smooth unit and loss (a kink's second derivative is a \
                 delta); use 'auto' or 'stein'",
            ))
        }
        NetworkResponse::Tangent => false,
        NetworkResponse::Stein => true,
        _ => kinked,
    };
    let (k, t) = (cfg.hidden, cfg.steps);
    let ks = crate::network::teacher_units(cfg);
    let per_sample = 8.0 * (t * k * (2 + k)) as f64;
    // C and R square, the Cholesky factor a packed triangle.
    let per_group = 8.0 * (2.5 * ((t * k) * (t * k)) as f64) + 8.0 * (t * k * k * t) as f64;
    check_memory(
        (samples as f64 * per_sample + groups as f64 * per_group) as u64,
        "use fewer samples, fewer steps or fewer groups",
    )?;
    let entries = 2 * groups * (t * k) * (t * k);
    let keep = keep_two_time.unwrap_or(entries <= NetworkDmftOptions::KEEP_TWO_TIME_ENTRIES);
    let network = Network::of(problem);
    let builtin = BuiltinTarget(&network);
    let target = target.unwrap_or(&builtin);
    // Groups of (nearly) equal size: the first `samples % groups` get one more.
    let sizes: Vec<usize> = (0..groups)
        .map(|g| samples / groups + usize::from(g < samples % groups))
        .collect();
    let mut states: Vec<GroupState> = (0..groups)
        .map(|g| GroupState::new(problem, &network, target, sizes[g], seed, g, stein))
        .collect::<Result<_>>()?;
    with_threads(threads, || -> Result<()> {
        for step in 0..t {
            let outcomes: Vec<Result<()>> = states
                .par_iter_mut()
                .map(|group| group.step(problem, &network, step))
                .collect();
            outcomes.into_iter().collect::<Result<()>>()?;
            control.checkpoint(1)?;
        }
        Ok(())
    })??;
    let gather = |field: fn(&GroupState) -> &Vec<f64>| -> Vec<f64> {
        states
            .iter()
            .flat_map(|g| field(g).iter().copied())
            .collect()
    };
    Ok(NetworkRuns {
        runs: groups,
        steps: t,
        hidden: k,
        teacher_units: ks,
        t: cfg.times(),
        overlaps: gather(|g| &g.out_m),
        gram: gather(|g| &g.out_q),
        train_loss: gather(|g| &g.train_loss),
        test_loss: gather(|g| &g.test_loss),
        train_error: gather(|g| &g.train_error),
        test_error: gather(|g| &g.test_error),
        two_time: keep.then(|| {
            (
                states
                    .iter()
                    .flat_map(|g| g.c.as_slice().to_vec())
                    .collect(),
                states
                    .iter()
                    .flat_map(|g| true_response(problem, g.r.as_slice(), k))
                    .collect(),
            )
        }),
    })
}

/// The response `R(t,s) = (1/dt_s) dw(t)/d eta(s)` from the solver's, which is kept in
/// units of `dt_0` (theory.md eq. 3.10): column `s` times `dt_0/dt_s`, unchanged
/// without a schedule.
fn true_response(problem: &Problem, solver_r: &[f64], k: usize) -> Vec<f64> {
    let optimizer = problem.optimizer();
    if problem.config().lr_schedule.is_none() {
        return solver_r.to_vec();
    }
    let n = problem.config().steps * k;
    let scale: Vec<f64> = (0..n)
        .map(|col| optimizer.lr_at(0) / optimizer.lr_at(col / k))
        .collect();
    solver_r
        .chunks_exact(n)
        .flat_map(|row| row.iter().zip(&scale).map(|(r, s)| r * s))
        .collect()
}

/// One effective sample's static draws and histories.
struct Sample {
    /// `u` (`K*` entries; the mixture's `c + sqrt(Delta) zeta`, one entry).
    u: Vec<f64>,
    y: f64,
    /// `xi(t, k)` of the cavity field, flat `(t K + k)`.
    xi: Vec<f64>,
    /// `f(t)`, flat `(t K + k)`.
    f: Vec<f64>,
    /// `Phi(t)`, flat `(t K + k) K + l`.
    phi: Vec<f64>,
    /// Whether `Phi(t)` is zero (out of the batch).
    idle: Vec<bool>,
}

/// One group: its weight side, its samples and what it recorded.
struct GroupState {
    k: usize,
    ks: usize,
    /// The response by integration by parts (a kinked unit or loss), not the tangent.
    stein: bool,
    /// `C(t,s)` blocks at flat `(tK + k, sK + l)`.
    c: TimeMatrix,
    /// `R(t,s)` blocks, likewise.
    r: TimeMatrix,
    /// `M(t)`, flat `(t K + k) K* + j`.
    m: Vec<f64>,
    chol: IncrementalCholesky,
    samples: Vec<Sample>,
    batches: MarkovBatches<ChaCha8Rng>,
    in_batch: Vec<bool>,
    rng: ChaCha8Rng,
    tests: TestDraws,
    guard: DivergenceGuard,
    /// With momentum (eq. 8.8): the velocity's response `Q_v(t, l)` and correlation
    /// `D(t, l) = E[v(t) w(l)^T]` rows (blocks, `l <= t`), `V = E[v v^T]` and the overlap's
    /// velocity `m_v` (`K x K*`).
    velocity: Option<BlockVelocity>,
    out_m: Vec<f64>,
    out_q: Vec<f64>,
    train_loss: Vec<f64>,
    test_loss: Vec<f64>,
    train_error: Vec<f64>,
    test_error: Vec<f64>,
}

impl GroupState {
    fn new(
        problem: &Problem,
        net: &Network,
        target: &dyn TargetFn,
        size: usize,
        seed: u64,
        group: usize,
        stein: bool,
    ) -> Result<Self> {
        let cfg = problem.config();
        let (k, t) = (cfg.hidden, cfg.steps);
        let ks = crate::network::teacher_units(cfg);
        let mut rng = stream(seed, Domain::NetworkDmft, group as u64);
        // Static draws: u and the labels (a teacher's from its fields, all at once).
        let mut us = vec![0.0; size * ks];
        let mut ys = vec![0.0; size];
        let mut eps = vec![0.0; size];
        match net.mixture {
            Some((clusters, delta)) => {
                for (u, y) in us.iter_mut().zip(ys.iter_mut()) {
                    let (c, label) = clusters.draw(rng.random::<f64>());
                    let zeta: f64 = rng.sample(StandardNormal);
                    *u = c + delta.sqrt() * zeta;
                    *y = label;
                }
            }
            None => {
                us.iter_mut().for_each(|v| *v = rng.sample(StandardNormal));
                eps.iter_mut().for_each(|v| *v = rng.sample(StandardNormal));
                ys = crate::network::checked_labels(target, &us, &eps, net.classify)?;
            }
        }
        let samples = (0..size)
            .map(|i| Sample {
                u: us[i * ks..(i + 1) * ks].to_vec(),
                y: ys[i],
                xi: Vec::with_capacity(t * k),
                f: Vec::with_capacity(t * k),
                phi: Vec::with_capacity(t * k * k),
                idle: Vec::with_capacity(t),
            })
            .collect();
        let batch_rng = stream(seed, Domain::NetworkDmftBatches, group as u64);
        // w_k(0) = m0 w*_1 + sqrt(q0) z_k: M(0) = m0 e_1, C(0,0) = q0 I.
        let mut c = TimeMatrix::zeros(t * k);
        for unit in 0..k {
            c.set(unit, unit, cfg.q0);
        }
        let mut m = vec![0.0; t * k * ks];
        for unit in 0..k {
            m[unit * ks] = cfg.m0();
        }
        let m0 = cfg.m0();
        let label_moment = ys.iter().map(|v| v * v).sum::<f64>() / size as f64;
        Ok(GroupState {
            k,
            ks,
            stein,
            c,
            r: TimeMatrix::zeros(t * k),
            m,
            chol: IncrementalCholesky::new(t * k),
            samples,
            batches: MarkovBatches::new(cfg, batch_rng),
            in_batch: vec![false; size],
            rng,
            tests: TestDraws::draw(
                net,
                target,
                k,
                ks,
                stream(seed, Domain::NetworkDmftTest, group as u64),
            )?,
            guard: DivergenceGuard::new("network DMFT", m0 * m0 + cfg.q0, label_moment),
            velocity: (cfg.momentum > 0.0).then(|| BlockVelocity {
                q: Vec::new(),
                d: vec![0.0; k * k],
                vv: vec![0.0; k * k],
                mv: vec![0.0; k * ks],
            }),
            out_m: Vec::with_capacity(t * k * ks),
            out_q: Vec::with_capacity(t * k * k),
            train_loss: Vec::with_capacity(t),
            test_loss: Vec::with_capacity(t),
            train_error: Vec::new(),
            test_error: Vec::new(),
        })
    }

    /// Step `t`: the samples at time `t` (fields, kernels row `t`, observables), then
    /// rows `t + 1` of `C`, `R` and `M`.
    fn step(&mut self, problem: &Problem, net: &Network, t: usize) -> Result<()> {
        let cfg = problem.config();
        let (k, ks) = (self.k, self.ks);
        let kk = k * k;
        let delta = net.mixture.map_or(1.0, |(_, d)| d);
        // The step's own dt; the response is kept in units of dt_0 (theory.md eq. 3.10),
        // so the memory term's factor is c_dt = sqrt(Delta) dt_0 with or without a schedule.
        let (dt, dt0) = (problem.optimizer().lr_at(t), problem.optimizer().lr_at(0));
        let (lam, alpha) = (cfg.lam, cfg.alpha);
        let c_dt = delta.sqrt() * dt0;
        let weight = problem.batches().weight;
        // The factor of C on the flat index, rows t K .. t K + K.
        for unit in 0..k {
            let p = t * k + unit;
            self.chol.push_row(p, &self.c.row(p)[..=p]);
        }
        self.batches.fill(t, &mut self.in_batch);
        let m_t = self.m[t * k * ks..(t + 1) * k * ks].to_vec();
        // Kernel row t, summed over samples: M_C(t,s), M_R(t,s) blocks (s <= t), mu(t).
        let mut m_c = vec![0.0; (t + 1) * kk];
        let mut m_r = vec![0.0; (t + 1) * kk];
        let mut mu = vec![0.0; k * ks];
        let (mut loss_sum, mut errors) = (0.0, 0usize);
        // The tangent row G(t, s), blocks; with the integration by parts instead, the sum
        // over samples of f(t) xi^T, K x (t+1)K.
        let mut g_row = vec![0.0; (t + 1) * kk];
        let mut stein_sum = vec![0.0; if self.stein { k * (t + 1) * k } else { 0 }];
        let mut h = vec![0.0; k];
        // Per-sample scratch, reused: sigma' and sigma'' of each unit, a tangent sum.
        let mut derivatives = vec![(0.0, 0.0); k];
        let mut acc = vec![0.0; kk];
        for (sample, &active) in self.samples.iter_mut().zip(&self.in_batch) {
            // chi(t) = L xi on the flat index, with fresh xi(t).
            for _ in 0..k {
                sample.xi.push(self.rng.sample(StandardNormal));
            }
            for unit in 0..k {
                let p = t * k + unit;
                let l_row = self.chol.row(p);
                let chi: f64 = l_row.iter().zip(&sample.xi[..=p]).map(|(l, x)| l * x).sum();
                // The memory term c_dt sum_{s<t} R(t,s) f(s), row `unit` of the blocks.
                let r_row = &self.r.row(p)[..t * k];
                let memory: f64 = r_row.iter().zip(&sample.f).map(|(r, f)| r * f).sum();
                let g = chi + c_dt * memory;
                let drift: f64 = (0..ks).map(|j| m_t[unit * ks + j] * sample.u[j]).sum();
                h[unit] = drift + delta.sqrt() * g;
            }
            let o = net.output(&h);
            let (ell, ell_o) = net.loss.ell_and_slope(sample.y, o);
            let ell_oo = net.loss.curvature(sample.y, o);
            loss_sum += ell;
            errors += usize::from(sample.y * o <= 0.0);
            // f = -s w_b grad_h l, Phi = -sqrt(Delta) s w_b Hess_h l (eq. 8.3).
            let scale = if active { weight } else { 0.0 };
            for (d, &x) in derivatives.iter_mut().zip(&h) {
                *d = net.unit.derivatives(x);
            }
            for unit in 0..k {
                sample
                    .f
                    .push(-scale * ell_o * net.a[unit] * derivatives[unit].0);
            }
            for a in 0..k {
                for b in 0..k {
                    let mut hess =
                        ell_oo * net.a[a] * net.a[b] * derivatives[a].0 * derivatives[b].0;
                    if a == b {
                        hess += ell_o * net.a[a] * derivatives[a].1;
                    }
                    sample.phi.push(-delta.sqrt() * scale * hess);
                }
            }
            sample.idle.push(!active);
            // M_C(t, s) += f(t) f(s)^T, mu(t) += f(t) u^T.
            let f_t = &sample.f[t * k..(t + 1) * k];
            for s in 0..=t {
                let f_s = &sample.f[s * k..(s + 1) * k];
                for a in 0..k {
                    for b in 0..k {
                        m_c[s * kk + a * k + b] += f_t[a] * f_s[b];
                    }
                }
            }
            for a in 0..k {
                for j in 0..ks {
                    mu[a * ks + j] += f_t[a] * sample.u[j];
                }
            }
            if self.stein {
                // E[f(t) xi^T] over the flat past (eq. 8.7); f(t) = 0 out of the batch.
                for a in 0..k {
                    if f_t[a] != 0.0 {
                        for (acc, xi) in stein_sum[a * (t + 1) * k..(a + 1) * (t + 1) * k]
                            .iter_mut()
                            .zip(&sample.xi)
                        {
                            *acc += f_t[a] * xi;
                        }
                    }
                }
                continue;
            }
            if !active {
                continue;
            }
            // The tangent row: G(t,t) = I, G(t,s) = c_dt [sum_{s<j<=t} G(t,j) R(j,s)] Phi(s).
            g_row.iter_mut().for_each(|v| *v = 0.0);
            for a in 0..k {
                g_row[t * kk + a * k + a] = 1.0;
            }
            for s in (0..t).rev() {
                if sample.idle[s] {
                    continue;
                }
                acc.fill(0.0);
                for j in s + 1..=t {
                    for a in 0..k {
                        for b in 0..k {
                            let gab = g_row[j * kk + a * k + b];
                            if gab == 0.0 {
                                continue;
                            }
                            let r_row = self.r.row(j * k + b);
                            for l in 0..k {
                                acc[a * k + l] += gab * r_row[s * k + l];
                            }
                        }
                    }
                }
                let phi_s = &sample.phi[s * kk..(s + 1) * kk];
                for a in 0..k {
                    for l in 0..k {
                        let v: f64 = (0..k).map(|b| acc[a * k + b] * phi_s[b * k + l]).sum();
                        g_row[s * kk + a * k + l] = c_dt * v;
                    }
                }
            }
            // M_R(t,s) += Phi(t) G(t,s).
            let phi_t = &sample.phi[t * kk..(t + 1) * kk];
            for s in 0..=t {
                for a in 0..k {
                    for l in 0..k {
                        let v: f64 = (0..k)
                            .map(|b| phi_t[a * k + b] * g_row[s * kk + b * k + l])
                            .sum();
                        m_r[s * kk + a * k + l] += v;
                    }
                }
            }
        }
        let size = self.samples.len() as f64;
        if self.stein {
            // E[df(t)/dchi] = E[f(t) xi^T] L^{-1} (chi = L xi): solve X L = E[f xi^T] from
            // the last column back; a column of a zero pivot (a direction chi does not
            // vary along) gets no response.
            let n = (t + 1) * k;
            let mut x = vec![0.0; k * n];
            for a in 0..k {
                for p in (0..n).rev() {
                    let pivot = self.chol.row(p)[p];
                    if pivot <= 0.0 {
                        continue;
                    }
                    let mut v = stein_sum[a * n + p] / size;
                    for q in p + 1..n {
                        v -= x[a * n + q] * self.chol.row(q)[p];
                    }
                    x[a * n + p] = v / pivot;
                }
            }
            // M_R(t,s)_{al} = alpha sqrt(Delta) E[df_a(t)/dchi_l(s)]; summed here over the
            // samples (the normalisation below divides by their number).
            for s_time in 0..=t {
                for a in 0..k {
                    for l in 0..k {
                        m_r[s_time * kk + a * k + l] = size * x[a * n + s_time * k + l];
                    }
                }
            }
        }
        m_c.iter_mut().for_each(|v| *v *= alpha * delta / size);
        m_r.iter_mut()
            .for_each(|v| *v *= alpha * delta.sqrt() / size);
        mu.iter_mut().for_each(|v| *v /= size);
        if !(loss_sum.is_finite() && m_c.iter().chain(&m_r).all(|v| v.is_finite())) {
            return Err(self.guard.non_finite(cfg, t, "the memory kernels"));
        }

        // Observables at t: Q = C(t,t) + M M^T.
        let q: Vec<f64> = (0..kk)
            .map(|ab| {
                let (a, b) = (ab / k, ab % k);
                let mm: f64 = (0..ks).map(|j| m_t[a * ks + j] * m_t[b * ks + j]).sum();
                self.c.at(t * k + a, t * k + b) + mm
            })
            .collect();
        self.train_loss.push(loss_sum / size);
        let (test_loss, test_error) = self.tests.evaluate(net, &m_t, &q, k, ks);
        self.test_loss.push(test_loss);
        if net.classify {
            self.train_error.push(errors as f64 / size);
            self.test_error.push(test_error);
        }
        self.out_m.extend_from_slice(&m_t);
        self.out_q.extend(q);
        if t + 1 == cfg.steps {
            return Ok(());
        }

        if self.velocity.is_some() {
            return self.advance_with_momentum(cfg, (dt, dt0), t, &m_c, &m_r, &mu, &m_t);
        }
        // Weight side (eq. 8.6): A_j = dt M_R(t,j) + (1 - dt lam)[j = t] I.
        let mut a_blocks: Vec<f64> = m_r.iter().map(|v| dt * v).collect();
        for a in 0..k {
            a_blocks[t * kk + a * k + a] += 1.0 - dt * lam;
        }
        let block = |mat: &TimeMatrix, t1: usize, t2: usize, a: usize, b: usize| {
            mat.at(t1 * k + a, t2 * k + b)
        };
        let next = t + 1;
        // R(t+1, l) = sum_{l<j<=t} A_j R(j, l) (l < t), R(t+1, t) = (dt/dt_0) I.
        for l in 0..t {
            for a in 0..k {
                for b in 0..k {
                    let mut v = 0.0;
                    for j in l + 1..=t {
                        for c in 0..k {
                            v += a_blocks[j * kk + a * k + c] * block(&self.r, j, l, c, b);
                        }
                    }
                    self.r.set(next * k + a, l * k + b, v);
                }
            }
        }
        for a in 0..k {
            self.r.set(next * k + a, t * k + a, dt / dt0);
        }
        // e_l = dt_0 sum_{i<l} M_C(t,i) R(l,i)^T, l <= t.
        let mut e = vec![0.0; (t + 1) * kk];
        for l in 0..=t {
            for a in 0..k {
                for b in 0..k {
                    let mut v = 0.0;
                    for i in 0..l {
                        for c in 0..k {
                            v += m_c[i * kk + a * k + c] * block(&self.r, l, i, b, c);
                        }
                    }
                    e[l * kk + a * k + b] = dt0 * v;
                }
            }
        }
        // C(t+1, l) = sum_{j<=t} A_j C(j, l) + dt e_l.
        let mut c_new = vec![0.0; (t + 1) * kk];
        for l in 0..=t {
            for a in 0..k {
                for b in 0..k {
                    let mut v = dt * e[l * kk + a * k + b];
                    for j in 0..=t {
                        for c in 0..k {
                            v += a_blocks[j * kk + a * k + c] * block(&self.c, j, l, c, b);
                        }
                    }
                    c_new[l * kk + a * k + b] = v;
                }
            }
        }
        // C(t+1,t+1) = sum_j C(t+1,j) A_j^T + dt sum_j A_j e_j^T + dt^2 M_C(t,t) + 2 dt T I.
        let mut diag = vec![0.0; kk];
        for a in 0..k {
            for b in 0..k {
                let mut v = dt * dt * m_c[t * kk + a * k + b];
                for j in 0..=t {
                    for c in 0..k {
                        v += c_new[j * kk + a * k + c] * a_blocks[j * kk + b * k + c];
                        v += dt * a_blocks[j * kk + a * k + c] * e[j * kk + b * k + c];
                    }
                }
                if a == b {
                    v += 2.0 * dt * cfg.temperature;
                }
                diag[a * k + b] = v;
            }
        }
        // Symmetrise the new diagonal block (rounding), then store row and column t+1.
        for a in 0..k {
            for b in 0..a {
                let v = 0.5 * (diag[a * k + b] + diag[b * k + a]);
                diag[a * k + b] = v;
                diag[b * k + a] = v;
            }
        }
        for l in 0..=t {
            for a in 0..k {
                for b in 0..k {
                    let v = c_new[l * kk + a * k + b];
                    self.c.set(next * k + a, l * k + b, v);
                    self.c.set(l * k + b, next * k + a, v);
                }
            }
        }
        for a in 0..k {
            for b in 0..k {
                self.c.set(next * k + a, next * k + b, diag[a * k + b]);
            }
        }
        // M(t+1) = (1 - dt lam) M(t) + dt alpha mu(t).
        for (i, v) in mu.iter().enumerate() {
            self.m[next * k * ks + i] = (1.0 - dt * lam) * m_t[i] + dt * alpha * v;
        }
        for unit in 0..k {
            let m = self.m[next * k * ks + unit * ks];
            self.guard
                .check_weights(cfg, next, m, diag[unit * k + unit])?;
        }
        if !self.c.row(next * k).iter().all(|v| v.is_finite()) {
            return Err(self.guard.non_finite(cfg, next, "C"));
        }
        Ok(())
    }

    /// Rows `t + 1` of `C`, `R`, `M` with momentum (eq. 8.8, the blocks of eqs. 3.7-3.9):
    /// the coordinate follows `g(t) = lambda w(t) - sum_i M_R(t,i) w(i) - eta(t)`,
    /// `v(t+1) = beta v(t) + g(t)`, `w(t+1) = w(t) - dt u`, `u = v(t+1)` (heavy ball) or
    /// `g(t) + beta v(t+1)` (Nesterov).
    #[allow(clippy::too_many_arguments)] // one step of the recursion, all its inputs
    fn advance_with_momentum(
        &mut self,
        cfg: &crate::config::Config,
        (dt, dt0): (f64, f64),
        t: usize,
        m_c: &[f64],
        m_r: &[f64],
        mu: &[f64],
        m_t: &[f64],
    ) -> Result<()> {
        let (k, ks) = (self.k, self.ks);
        let kk = k * k;
        let (lam, alpha, beta) = (cfg.lam, cfg.alpha, cfg.momentum);
        let nesterov = cfg.nesterov;
        let next = t + 1;
        let mr = |i: usize| m_r[i * kk..(i + 1) * kk].to_vec();
        let mc = |i: usize| m_c[i * kk..(i + 1) * kk].to_vec();
        // e_l = E[eta(t) w(l)^T] = dt_0 sum_{i<l} M_C(t,i) R(l,i)^T.
        let e: Vec<Vec<f64>> = (0..=t)
            .map(|l| {
                let mut v = vec![0.0; kk];
                for i in 0..l {
                    add_to(&mut v, &mul_bt(&mc(i), &block_of(&self.r, k, l, i), k), dt0);
                }
                v
            })
            .collect();
        // G(l) = E[g w(l)^T] = lambda C(t,l) - sum_i M_R(t,i) C(i,l) - e_l;
        // gamma(l) = lambda R(t,l) - sum_{l<i<=t} M_R(t,i) R(i,l) - [l = t] I/dt_0.
        let mut g = Vec::with_capacity(t + 1);
        let mut gamma = Vec::with_capacity(t + 1);
        for l in 0..=t {
            let mut gl = scaled(&block_of(&self.c, k, t, l), lam);
            let mut yl = scaled(&block_of(&self.r, k, t, l), lam);
            for i in 0..=t {
                add_to(&mut gl, &mul(&mr(i), &block_of(&self.c, k, i, l), k), -1.0);
                if i > l {
                    add_to(&mut yl, &mul(&mr(i), &block_of(&self.r, k, i, l), k), -1.0);
                }
            }
            add_to(&mut gl, &e[l], -1.0);
            if l == t {
                for a in 0..k {
                    yl[a * k + a] -= 1.0 / dt0;
                }
            }
            g.push(gl);
            gamma.push(yl);
        }
        let vel = self.velocity.as_mut().expect("momentum");
        // Q_v(t+1,l) = beta Q_v(t,l) + gamma(l); D(t+1,l) = beta D(t,l) + G(l).
        let q_new: Vec<Vec<f64>> = (0..=t)
            .map(|l| {
                let mut v = gamma[l].clone();
                if let Some(old) = vel.q.get(l) {
                    add_to(&mut v, old, beta);
                }
                v
            })
            .collect();
        let d_new: Vec<Vec<f64>> = (0..=t)
            .map(|l| {
                let mut v = g[l].clone();
                add_to(&mut v, &vel.d[l * kk..(l + 1) * kk], beta);
                v
            })
            .collect();
        // Equal-time moments at t (eq. 8.8).
        let mut v_eta = vec![0.0; kk];
        for (i, qi) in vel.q.iter().enumerate().take(t) {
            add_to(&mut v_eta, &mul_bt(qi, &mc(i), k), dt0);
        }
        let mut g_eta = scaled(&transpose(&e[t], k), lam);
        for i in 0..=t {
            add_to(&mut g_eta, &mul_bt(&mr(i), &e[i], k), -1.0);
        }
        add_to(&mut g_eta, &mc(t), -1.0);
        let mut v_g = scaled(&vel.d[t * kk..(t + 1) * kk], lam);
        for i in 0..=t {
            add_to(
                &mut v_g,
                &mul_bt(&vel.d[i * kk..(i + 1) * kk], &mr(i), k),
                -1.0,
            );
        }
        add_to(&mut v_g, &v_eta, -1.0);
        let mut g_g = scaled(&g[t], lam);
        for i in 0..=t {
            add_to(&mut g_g, &mul_bt(&g[i], &mr(i), k), -1.0);
        }
        add_to(&mut g_g, &g_eta, -1.0);
        // V' = beta^2 V + beta (E[v g^T] + its transpose) + E[g g^T]; E[v' g^T].
        let mut vv_new = scaled(&vel.vv, beta * beta);
        add_to(&mut vv_new, &v_g, beta);
        add_to(&mut vv_new, &transpose(&v_g, k), beta);
        add_to(&mut vv_new, &g_g, 1.0);
        let mut vnew_g = scaled(&v_g, beta);
        add_to(&mut vnew_g, &g_g, 1.0);
        let (u_u, vnew_u) = if nesterov {
            let mut uu = g_g.clone();
            add_to(&mut uu, &vnew_g, beta);
            add_to(&mut uu, &transpose(&vnew_g, k), beta);
            add_to(&mut uu, &vv_new, beta * beta);
            let mut vu = vnew_g.clone();
            add_to(&mut vu, &vv_new, beta);
            (uu, vu)
        } else {
            (vv_new.clone(), vv_new.clone())
        };
        let along = |plain: &[f64], new: &[f64]| -> Vec<f64> {
            if nesterov {
                let mut v = plain.to_vec();
                add_to(&mut v, new, beta);
                v
            } else {
                new.to_vec()
            }
        };
        // R(t+1,l) = R(t,l) - dt rho(l); C(t+1,l) = C(t,l) - dt E[u w(l)^T] (l <= t).
        let mut eu = Vec::with_capacity(t + 1);
        for l in 0..=t {
            let rho = along(&gamma[l], &q_new[l]);
            let mut r_new = block_of(&self.r, k, t, l);
            add_to(&mut r_new, &rho, -dt);
            let u_w = along(&g[l], &d_new[l]);
            let mut c_new = block_of(&self.c, k, t, l);
            add_to(&mut c_new, &u_w, -dt);
            for a in 0..k {
                for b in 0..k {
                    self.r.set(next * k + a, l * k + b, r_new[a * k + b]);
                    self.c.set(next * k + a, l * k + b, c_new[a * k + b]);
                    self.c.set(l * k + b, next * k + a, c_new[a * k + b]);
                }
            }
            eu.push(u_w);
        }
        // C(t+1,t+1) = C(t,t) - dt (E[u w(t)^T] + its transpose) + dt^2 E[u u^T] + 2 dt T I.
        let mut diag = block_of(&self.c, k, t, t);
        add_to(&mut diag, &eu[t], -dt);
        add_to(&mut diag, &transpose(&eu[t], k), -dt);
        add_to(&mut diag, &u_u, dt * dt);
        for a in 0..k {
            diag[a * k + a] += 2.0 * dt * cfg.temperature;
        }
        for a in 0..k {
            for b in 0..k {
                let v = 0.5 * (diag[a * k + b] + diag[b * k + a]);
                self.c.set(next * k + a, next * k + b, v);
            }
        }
        // The velocity's rows t+1: D(t+1,t+1) = D(t+1,t) - dt E[v' u^T].
        let mut d_next: Vec<f64> = d_new.concat();
        let mut d_last = d_new[t].clone();
        add_to(&mut d_last, &vnew_u, -dt);
        d_next.extend(d_last);
        vel.q = q_new;
        vel.d = d_next;
        vel.vv = vv_new;
        // The overlap: g_m = lambda M - alpha mu, m_v' = beta m_v + g_m, M' = M - dt u_m.
        for i in 0..k * ks {
            let g_m = lam * m_t[i] - alpha * mu[i];
            let mv_new = beta * vel.mv[i] + g_m;
            let u_m = if nesterov {
                g_m + beta * mv_new
            } else {
                mv_new
            };
            self.m[next * k * ks + i] = m_t[i] - dt * u_m;
            vel.mv[i] = mv_new;
        }
        for unit in 0..k {
            let m = self.m[next * k * ks + unit * ks];
            let q = self.c.at(next * k + unit, next * k + unit);
            self.guard.check_weights(cfg, next, m, q)?;
        }
        if !self.c.row(next * k).iter().all(|v| v.is_finite()) {
            return Err(self.guard.non_finite(cfg, next, "C"));
        }
        Ok(())
    }
}

/// The velocity's statistics of the network weight side with momentum (eq. 8.8).
struct BlockVelocity {
    /// `Q_v(t, l)` for `l < t`, one `K x K` block each.
    q: Vec<Vec<f64>>,
    /// `D(t, l)` for `l <= t`, flat blocks.
    d: Vec<f64>,
    /// `V(t) = E[v(t) v(t)^T]`.
    vv: Vec<f64>,
    /// `m_v(t)`, `K x K*`.
    mv: Vec<f64>,
}

/// Block `(t1, t2)` of a flat two-time matrix, `K x K` row-major.
fn block_of(mat: &TimeMatrix, k: usize, t1: usize, t2: usize) -> Vec<f64> {
    (0..k * k)
        .map(|ab| mat.at(t1 * k + ab / k, t2 * k + ab % k))
        .collect()
}

/// `a b` for `k x k` blocks.
fn mul(a: &[f64], b: &[f64], k: usize) -> Vec<f64> {
    (0..k * k)
        .map(|ab| {
            (0..k)
                .map(|c| a[(ab / k) * k + c] * b[c * k + ab % k])
                .sum()
        })
        .collect()
}

/// `a b^T` for `k x k` blocks.
fn mul_bt(a: &[f64], b: &[f64], k: usize) -> Vec<f64> {
    (0..k * k)
        .map(|ab| {
            (0..k)
                .map(|c| a[(ab / k) * k + c] * b[(ab % k) * k + c])
                .sum()
        })
        .collect()
}

/// `a^T`.
fn transpose(a: &[f64], k: usize) -> Vec<f64> {
    (0..k * k).map(|ab| a[(ab % k) * k + ab / k]).collect()
}

/// `x a`.
fn scaled(a: &[f64], x: f64) -> Vec<f64> {
    a.iter().map(|v| x * v).collect()
}

/// `y += x a`.
fn add_to(y: &mut [f64], a: &[f64], x: f64) {
    y.iter_mut().zip(a).for_each(|(y, a)| *y += x * a);
}
