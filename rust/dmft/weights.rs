//! The weight side of the DMFT (theory.md section 3): one coordinate of `w_perp` follows
//! the linear process
//!
//! `w(k+1) = (1 - dt lambda) w(k) + dt sum_{j<=k} M_R(k,j) w(j) + dt eta(k)`,
//!
//! with `eta` Gaussian of covariance `M_C`. Its correlation `C`, response `R` and the
//! overlap `m` are advanced one row at a time from the kernel rows already known.

use super::matrix::{TimeMatrix, Triangle};
use crate::config::Config;
use crate::divergence::DivergenceGuard;
use crate::error::Result;
use crate::optimizer::{Momentum, Optimizer};
use crate::simd::{axpy, dot};

/// Memory kernels of the effective process, filled one row per step.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Kernels {
    /// `M_C(k,l) = alpha Delta E[f(k) f(l)]` (symmetric).
    pub m_c: TimeMatrix,
    /// `M_R(k,l) = alpha sqrt(Delta) E[phi(k) G(k,l)]` for `l <= k`.
    pub m_r: TimeMatrix,
    /// `mu(k) = E[u f(k)]`.
    pub mu: Vec<f64>,
}

impl Kernels {
    /// All kernels zero, for `n` steps.
    pub fn zeros(n: usize) -> Self {
        Kernels {
            m_c: TimeMatrix::zeros(n),
            m_r: TimeMatrix::zeros(n),
            mu: vec![0.0; n],
        }
    }
}

/// `C`, `R` and `m` of the weight process.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightSide {
    /// `C(k,l) = w_perp(k)·w_perp(l)/d` (symmetric: its lower triangle), `C(0,0) = q0`.
    pub c: Triangle,
    /// `R(k,l)`, response of `w(k)` to a field at step `l < k`; `R(l+1,l) = 1`.
    pub r: Triangle,
    /// Overlap `m(k)`, `m(0) = m0`.
    pub m: Vec<f64>,
    /// The update rule, the component the simulator steps with too: the time step of
    /// each step `dt_k` (all equal without a schedule; `dt_0` is the reference of the
    /// response, `R(k,l) = (1/dt_0) dw(k)/d eta(l)`, the normalisation the pattern side's
    /// memory terms use, theory.md eq. 3.10), the ridge, the Langevin temperature `T`
    /// (step `k` adds `2 dt_k T` to `C(k+1,k+1)`) and the momentum.
    optimizer: Optimizer,
    alpha: f64,
    /// The velocity's statistics with momentum (eqs. 3.7-3.9); `None` without.
    velocity: Option<Velocity>,
}

/// What momentum adds to the weight side (theory.md eqs. 3.7-3.9): the current row of
/// the velocity's response and of its correlation with the weights, its variance and its
/// mean along `v*`. Each step needs only the previous row: `O(T)` memory.
#[derive(Clone, Debug, PartialEq)]
struct Velocity {
    /// `Q(k, l) = (1/dt) dv(k)/d eta(l)` for `l < k` (`Q(k, k) = 0`).
    q: Vec<f64>,
    /// `D(k, l) = E[v(k) w(l)]` for `l <= k`.
    d: Vec<f64>,
    /// `E[v(k)^2]`.
    vv: f64,
    /// The velocity of the overlap, `m_v(k)`.
    mv: f64,
}

impl WeightSide {
    /// Row 0: `C(0,0) = q0`, `m(0) = m0`, for plain GD at the constant step `dt` with
    /// ridge `lam` (the tests' weight side).
    #[cfg(test)]
    pub fn new(steps: usize, dt: f64, lam: f64, alpha: f64, m0: f64, q0: f64) -> Self {
        Self::with_optimizer(steps, Optimizer::plain(dt, lam), alpha, m0, q0)
    }

    /// Row 0 of the weights of `optimizer`.
    pub fn with_optimizer(
        steps: usize,
        optimizer: Optimizer,
        alpha: f64,
        m0: f64,
        q0: f64,
    ) -> Self {
        let mut c = Triangle::zeros(steps);
        c.set(0, 0, q0);
        let mut m = vec![0.0; steps];
        m[0] = m0;
        let velocity = optimizer.momentum.map(|_| Velocity {
            q: Vec::new(),
            d: vec![0.0],
            vv: 0.0,
            mv: 0.0,
        });
        WeightSide {
            c,
            r: Triangle::zeros(steps),
            m,
            optimizer,
            alpha,
            velocity,
        }
    }

    /// The weight side of `cfg` (its first row).
    pub fn of(cfg: &Config) -> Self {
        Self::with_optimizer(cfg.steps, Optimizer::of(cfg), cfg.alpha, cfg.m0(), cfg.q0)
    }

    /// `Ok` unless row `k`, just computed (`finite`: whether all its values are), shows
    /// the run diverged: `m(k)` or `q(k) = C(k, k)` beyond the bound of eq. 4.7, or a
    /// value not finite.
    pub fn check_row(&self, k: usize, finite: bool, cfg: &Config) -> Result<()> {
        let guard = DivergenceGuard::dmft(cfg);
        guard.check_weights(cfg, k, self.m[k], self.c.at(k, k))?;
        if finite {
            Ok(())
        } else {
            Err(guard.non_finite(cfg, k, "C"))
        }
    }

    /// Row `k+1` of `C`, `R` and `m` from the kernel rows `<= k`. Returns false if a
    /// value is not finite.
    pub fn advance(&mut self, k: usize, kernels: &Kernels) -> bool {
        self.advance_rows(k, kernels.m_c.row(k), kernels.m_r.row(k), kernels.mu[k])
    }

    /// [`WeightSide::advance`] from kernel row `k` alone: `M_C(k, 0..=k)`,
    /// `M_R(k, 0..=k)` and `mu(k)` (eqs. 3.4-3.6). Every update runs along rows, so the
    /// `O(k^2)` work streams through memory in order.
    pub fn advance_rows(&mut self, k: usize, m_c_k: &[f64], m_r_k: &[f64], mu_k: f64) -> bool {
        if let Some(momentum) = self.optimizer.momentum {
            return self.advance_with_momentum(momentum, k, m_c_k, m_r_k, mu_k);
        }
        // The step's own dt; dt_0 normalises the response (and e, built from it).
        let (dt, dt0) = (self.optimizer.lr_at(k), self.optimizer.lr_at(0));
        // w(k+1) = a · w(0..=k) + dt eta(k), with a_j = dt M_R(k, j) + (1 - dt lambda) [j == k].
        let mut a: Vec<f64> = m_r_k[..=k].iter().map(|v| dt * v).collect();
        let shrink = 1.0 - dt * self.optimizer.lam;
        a[k] += shrink;

        // One pass over the rows of R (lower triangle) for two sums (eqs. 3.4, 3.5):
        // R(k+1,l) = sum_{l<j<=k} a_j R(j,l) for l < k, as the sum over j of
        // a_j R(j, 0..j), then R(k+1,k) = dt/dt_0 (1 without a schedule); and
        // e_j = E[eta(k) w(j)] = dt_0 sum_{i<j} R(j,i) M_C(k,i).
        let mut r_new = vec![0.0; k + 1];
        let mut e = vec![0.0; k + 1];
        for j in 1..=k {
            let row = &self.r.row(j)[..j];
            axpy(a[j], row, &mut r_new[..j]);
            e[j] = dt0 * dot(row, &m_c_k[..j]);
        }
        r_new[k] = dt / dt0;
        self.r.row_mut(k + 1)[..=k].copy_from_slice(&r_new);

        // C(k+1,l) = sum_{j<=k} a_j C(j,l) + dt e_l for l <= k (eq. 3.5), from the lower
        // triangle alone in one pass: row j gives the terms C(j,l) with l <= j (an axpy)
        // and, by symmetry, the terms a_i C(i,j) with i < j (a dot product).
        let mut c_new: Vec<f64> = e.iter().map(|el| dt * el).collect();
        for j in 0..=k {
            let row = &self.c.row(j)[..=j];
            axpy(a[j], row, &mut c_new[..=j]);
            c_new[j] += dot(&row[..j], &a[..j]);
        }
        // C(k+1,k+1) = a · C(k+1, 0..=k) + dt a · e + dt^2 M_C(k,k) + 2 dt T (eq. 3.5):
        // the Langevin increment is independent of every earlier w(l) and of eta.
        let langevin_variance = 2.0 * dt * self.optimizer.temperature;
        let diag = dot(&a, &c_new) + dt * dot(&a, &e) + dt * dt * m_c_k[k] + langevin_variance;
        self.c.row_mut(k + 1)[..=k].copy_from_slice(&c_new);
        self.c.set(k + 1, k + 1, diag);

        // m(k+1) = (1 - dt lambda) m(k) + dt alpha mu(k) (eq. 3.6).
        self.m[k + 1] = shrink * self.m[k] + dt * self.alpha * mu_k;

        diag.is_finite() && self.m[k + 1].is_finite() && c_new.iter().all(|v| v.is_finite())
    }
}

impl WeightSide {
    /// [`WeightSide::advance_rows`] with momentum (theory.md eqs. 3.7-3.9): the weight
    /// coordinate follows `g(k) = lambda w(k) - sum_j M_R(k,j) w(j) - eta(k)`,
    /// `v(k+1) = beta v(k) + g(k)`, `w(k+1) = w(k) - dt u(k+1)` with `u = v(k+1)` (heavy
    /// ball) or `g(k) + beta v(k+1)` (Nesterov), plus the Langevin increment. Every
    /// second moment is advanced from the previous row, in `O(k^2)` per step as without.
    fn advance_with_momentum(
        &mut self,
        Momentum { beta, nesterov }: Momentum,
        k: usize,
        m_c_k: &[f64],
        m_r_k: &[f64],
        mu_k: f64,
    ) -> bool {
        let optimizer = &self.optimizer;
        let (dt, dt0, lam) = (optimizer.lr_at(k), optimizer.lr_at(0), optimizer.lam);
        let langevin_variance = 2.0 * dt * optimizer.temperature;
        let Some(vel) = self.velocity.as_mut() else {
            unreachable!("a weight side with momentum has a velocity")
        };
        let m_r_k = &m_r_k[..=k];
        // One pass over the rows of R: sum_{l<i<=k} M_R(k,i) R(i,l) and
        // e_l = E[eta(k) w(l)] = dt sum_{i<l} R(l,i) M_C(k,i).
        let mut mrr = vec![0.0; k + 1];
        let mut e = vec![0.0; k + 1];
        for i in 1..=k {
            let row = &self.r.row(i)[..i];
            axpy(m_r_k[i], row, &mut mrr[..i]);
            e[i] = dt0 * dot(row, &m_c_k[..i]);
        }
        // One pass over the lower triangle of C: sum_{i<=k} M_R(k,i) C(i,l).
        let mut mrc = vec![0.0; k + 1];
        for j in 0..=k {
            let row = &self.c.row(j)[..=j];
            axpy(m_r_k[j], row, &mut mrc[..=j]);
            mrc[j] += dot(&row[..j], &m_r_k[..j]);
        }
        let c_k = &self.c.row(k)[..=k];
        let r_k = &self.r.row(k)[..=k];
        // (3.7) G(l) = E[g(k) w(l)], gamma(l) = (1/dt) dg(k)/d eta(l) for l <= k.
        let g: Vec<f64> = (0..=k).map(|l| lam * c_k[l] - mrc[l] - e[l]).collect();
        let mut gamma: Vec<f64> = (0..=k).map(|l| lam * r_k[l] - mrr[l]).collect();
        gamma[k] = -1.0 / dt0;
        // (3.8) The velocity's new row: Q(k+1,l) = beta Q(k,l) + gamma(l),
        // D(k+1,l) = beta D(k,l) + G(l); the step direction u's response and correlation.
        let q_new: Vec<f64> = (0..=k)
            .map(|l| beta * vel.q.get(l).copied().unwrap_or(0.0) + gamma[l])
            .collect();
        let d_new: Vec<f64> = (0..=k).map(|l| beta * vel.d[l] + g[l]).collect();
        let along = |plain: f64, new: f64| if nesterov { plain + beta * new } else { new };
        // Second moments at step k: E[v eta], E[g eta], E[v g], E[g^2].
        let v_eta = dt0 * dot(&vel.q, &m_c_k[..k]);
        let g_eta = lam * e[k] - dot(m_r_k, &e) - m_c_k[k];
        let v_g = lam * vel.d[k] - dot(m_r_k, &vel.d) - v_eta;
        let g_g = lam * g[k] - dot(m_r_k, &g) - g_eta;
        let vv_new = beta * beta * vel.vv + 2.0 * beta * v_g + g_g;
        let vnew_g = beta * v_g + g_g;
        // E[u^2] and E[v(k+1) u].
        let (u_u, vnew_u) = if nesterov {
            (
                g_g + 2.0 * beta * vnew_g + beta * beta * vv_new,
                vnew_g + beta * vv_new,
            )
        } else {
            (vv_new, vv_new)
        };
        // (3.9) R(k+1,l) = R(k,l) - dt rho(l), C(k+1,l) = C(k,l) - dt E[u w(l)].
        let r_new: Vec<f64> = (0..=k)
            .map(|l| r_k[l] - dt * along(gamma[l], q_new[l]))
            .collect();
        let eu: Vec<f64> = (0..=k).map(|l| along(g[l], d_new[l])).collect();
        let c_new: Vec<f64> = (0..=k).map(|l| c_k[l] - dt * eu[l]).collect();
        let diag = c_k[k] - 2.0 * dt * eu[k] + dt * dt * u_u + langevin_variance;
        self.r.row_mut(k + 1)[..=k].copy_from_slice(&r_new);
        self.c.row_mut(k + 1)[..=k].copy_from_slice(&c_new);
        self.c.set(k + 1, k + 1, diag);
        // The velocity's row k+1: D(k+1,k+1) = E[v(k+1) w(k+1)] = D(k+1,k) - dt E[v u].
        let mut d_next = d_new;
        d_next.push(d_next[k] - dt * vnew_u);
        vel.q = q_new;
        vel.d = d_next;
        vel.vv = vv_new;
        // The overlap: g_m = lambda m(k) - alpha mu(k), m_v' = beta m_v + g_m.
        let g_m = lam * self.m[k] - self.alpha * mu_k;
        let mv_new = beta * vel.mv + g_m;
        self.m[k + 1] = self.m[k] - dt * along(g_m, mv_new);
        vel.mv = mv_new;
        diag.is_finite()
            && self.m[k + 1].is_finite()
            && c_new.iter().all(|v| v.is_finite())
            && vel.vv.is_finite()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_kernels_the_weights_decay_by_the_ridge() {
        // M = 0: w(k) = (1 - dt lam)^k w(0), so C(k,l) = q0 s^(k+l), R(k,l) = s^(k-l-1).
        let (steps, dt, lam, q0, m0) = (6, 0.1, 0.5, 2.0, 0.7);
        let s: f64 = 1.0 - dt * lam;
        let kernels = Kernels::zeros(steps);
        let mut w = WeightSide::new(steps, dt, lam, 2.0, m0, q0);
        for k in 0..steps - 1 {
            assert!(w.advance(k, &kernels));
        }
        for k in 0..steps {
            assert!((w.m[k] - m0 * s.powi(k as i32)).abs() < 1e-15);
            for l in 0..steps {
                assert!((w.c.symmetric_at(k, l) - q0 * s.powi((k + l) as i32)).abs() < 1e-14);
                let r = if k > l {
                    s.powi((k - l - 1) as i32)
                } else {
                    0.0
                };
                assert!((w.r.lower_at(k, l) - r).abs() < 1e-15);
            }
        }
    }

    /// The momentum recursions (eqs. 3.7-3.9) against the process itself: `w(k)` and
    /// `v(k)` as explicit linear combinations of `w(0)`, `eta(0..k)` and the Langevin
    /// increments, whose second moments give `C` and whose `eta` coefficients give `R`.
    #[test]
    fn momentum_moments_equal_those_of_the_explicit_linear_process() {
        let (steps, dt, lam, q0, m0, alpha, temp) = (7, 0.1, 0.3, 1.5, 0.4, 2.0, 0.05);
        let mut kernels = Kernels::zeros(steps);
        for k in 0..steps {
            kernels.mu[k] = 0.2 + 0.05 * k as f64;
            for l in 0..=k {
                kernels
                    .m_r
                    .set(k, l, 0.3 * (-(0.5 * (k - l) as f64)).exp() - 0.1);
                let c = 0.4 * 0.6f64.powi((k - l) as i32) + if k == l { 0.5 } else { 0.0 };
                kernels.m_c.set(k, l, c);
                kernels.m_c.set(l, k, c);
            }
        }
        for nesterov in [false, true] {
            let beta = 0.7;
            let cfg = crate::config::Config {
                lr: dt,
                lam,
                alpha,
                q0,
                m0: Some(m0),
                steps,
                temperature: temp,
                momentum: beta,
                nesterov,
                ..crate::config::Config::default()
            };
            let mut side = WeightSide::of(&cfg);
            for k in 0..steps - 1 {
                assert!(side.advance(k, &kernels));
            }
            // Basis: w(0), eta(0..steps), the Langevin increments n(0..steps).
            let dim = 1 + 2 * steps;
            let mut w = vec![vec![0.0; dim]; steps];
            w[0][0] = 1.0;
            let mut v = vec![0.0; dim];
            let (mut m, mut mv) = (vec![m0], 0.0);
            for k in 0..steps - 1 {
                let mut g: Vec<f64> = w[k].iter().map(|x| lam * x).collect();
                for (j, wj) in w.iter().enumerate().take(k + 1) {
                    axpy(-kernels.m_r.at(k, j), wj, &mut g);
                }
                g[1 + k] -= 1.0;
                v = v.iter().zip(&g).map(|(vi, gi)| beta * vi + gi).collect();
                let u: Vec<f64> = if nesterov {
                    g.iter().zip(&v).map(|(gi, vi)| gi + beta * vi).collect()
                } else {
                    v.clone()
                };
                let mut next = w[k].clone();
                axpy(-dt, &u, &mut next);
                next[1 + steps + k] = (2.0 * dt * temp).sqrt();
                w[k + 1] = next;
                let g_m = lam * m[k] - alpha * kernels.mu[k];
                mv = beta * mv + g_m;
                m.push(m[k] - dt * if nesterov { g_m + beta * mv } else { mv });
            }
            // Covariance of the basis: q0, M_C among the eta, 1 for each increment.
            let cov = |a: usize, b: usize| -> f64 {
                match (a, b) {
                    (0, 0) => q0,
                    (a, b) if (1..=steps).contains(&a) && (1..=steps).contains(&b) => {
                        kernels.m_c.at(a - 1, b - 1)
                    }
                    (a, b) if a == b && a > steps => 1.0,
                    _ => 0.0,
                }
            };
            for k in 0..steps {
                assert!((side.m[k] - m[k]).abs() < 1e-14, "m({k})");
                for l in 0..steps {
                    let mut c = 0.0;
                    for a in 0..dim {
                        for b in 0..dim {
                            c += w[k][a] * cov(a, b) * w[l][b];
                        }
                    }
                    assert!(
                        (side.c.symmetric_at(k, l) - c).abs() < 1e-12,
                        "C({k},{l}) {}",
                        side.c.symmetric_at(k, l) - c
                    );
                    let r = if k > l { w[k][1 + l] / dt } else { 0.0 };
                    assert!((side.r.lower_at(k, l) - r).abs() < 1e-12, "R({k},{l})");
                }
            }
        }
    }

    #[test]
    fn white_noise_adds_variance_dt_squared_per_step() {
        // M_C(k,l) = sigma2 [k == l], M_R = 0, lam = 0: w(k) = w(0) + dt sum_{i<k} eta(i),
        // so C(k,l) = q0 + dt^2 sigma2 min(k,l).
        let (steps, dt, q0, sigma2) = (7, 0.2, 1.0, 3.0);
        let mut kernels = Kernels::zeros(steps);
        for k in 0..steps {
            kernels.m_c.set(k, k, sigma2);
        }
        let mut w = WeightSide::new(steps, dt, 0.0, 1.0, 0.0, q0);
        for k in 0..steps - 1 {
            w.advance(k, &kernels);
        }
        for k in 0..steps {
            for l in 0..steps {
                let want = q0 + dt * dt * sigma2 * k.min(l) as f64;
                assert!((w.c.symmetric_at(k, l) - want).abs() < 1e-14, "C({k},{l})");
            }
        }
    }

    #[test]
    fn a_constant_friction_is_a_geometric_decay() {
        // M_R(k,k) = -g only: w(k+1) = (1 - dt lam - dt g) w(k).
        let (steps, dt, lam, g) = (5, 0.1, 0.2, 1.5);
        let mut kernels = Kernels::zeros(steps);
        for k in 0..steps {
            kernels.m_r.set(k, k, -g);
        }
        let mut w = WeightSide::new(steps, dt, lam, 1.0, 0.0, 1.0);
        for k in 0..steps - 1 {
            w.advance(k, &kernels);
        }
        let s: f64 = 1.0 - dt * lam - dt * g;
        for k in 1..steps {
            assert!((w.c.symmetric_at(k, k) - s.powi(2 * k as i32)).abs() < 1e-14);
            assert!((w.r.lower_at(k, 0) - s.powi(k as i32 - 1)).abs() < 1e-14);
        }
    }

    #[test]
    fn langevin_noise_adds_2_dt_t_to_the_diagonal_only() {
        // M = 0: w(k+1) = s w(k) + sqrt(2 dt T) xi_k, so C(k,k) = q0 s^2k + 2 dt T sum_{j<k} s^2j
        // and C(k,l) = s^(k-l) C(l,l); R is untouched.
        let cfg = crate::config::Config {
            lam: 0.5,
            lr: 0.1,
            temperature: 0.3,
            steps: 8,
            q0: 2.0,
            ..crate::config::Config::default()
        };
        let mut w = WeightSide::of(&cfg);
        let kernels = Kernels::zeros(cfg.steps);
        for k in 0..cfg.steps - 1 {
            assert!(w.advance(k, &kernels));
        }
        let s: f64 = 1.0 - 0.1 * 0.5;
        let mut diag = 2.0;
        for k in 0..cfg.steps {
            assert!((w.c.symmetric_at(k, k) - diag).abs() < 1e-13, "k={k}");
            for l in 0..k {
                let want = s.powi((k - l) as i32) * w.c.symmetric_at(l, l);
                assert!((w.c.symmetric_at(k, l) - want).abs() < 1e-13);
                assert!((w.r.lower_at(k, l) - s.powi((k - l - 1) as i32)).abs() < 1e-14);
            }
            diag = s * s * diag + 2.0 * 0.1 * 0.3;
        }
    }
}
