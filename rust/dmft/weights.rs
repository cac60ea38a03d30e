//! The weight side of the DMFT (theory.md section 3): one coordinate of `w_perp` follows
//! the linear process
//!
//! `w(k+1) = (1 - dt lambda) w(k) + dt sum_{j<=k} M_R(k,j) w(j) + dt eta(k)`,
//!
//! with `eta` Gaussian of covariance `M_C`. Its correlation `C`, response `R` and the
//! overlap `m` are advanced one row at a time from the kernel rows already known.

use super::matrix::TimeMatrix;
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
    /// `C(k,l) = w_perp(k)·w_perp(l)/d` (symmetric), `C(0,0) = q0`.
    pub c: TimeMatrix,
    /// `R(k,l)`, response of `w(k)` to a field at step `l < k`; `R(l+1,l) = 1`.
    pub r: TimeMatrix,
    /// Overlap `m(k)`, `m(0) = m0`.
    pub m: Vec<f64>,
    dt: f64,
    shrink: f64,
    alpha: f64,
    /// `2 dt T`: the variance the Langevin noise adds to `C(k+1,k+1)`.
    langevin_variance: f64,
}

impl WeightSide {
    /// Row 0: `C(0,0) = q0`, `m(0) = m0`.
    pub fn new(steps: usize, dt: f64, lam: f64, alpha: f64, m0: f64, q0: f64) -> Self {
        let mut c = TimeMatrix::zeros(steps);
        c.set(0, 0, q0);
        let mut m = vec![0.0; steps];
        m[0] = m0;
        WeightSide {
            c,
            r: TimeMatrix::zeros(steps),
            m,
            dt,
            shrink: 1.0 - dt * lam,
            alpha,
            langevin_variance: 0.0,
        }
    }

    /// The weight side of `cfg` (its first row).
    pub fn of(cfg: &crate::config::Config) -> Self {
        let mut w = Self::new(cfg.steps, cfg.lr, cfg.lam, cfg.alpha, cfg.m0(), cfg.q0);
        w.langevin_variance = 2.0 * cfg.lr * cfg.temperature;
        w
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
        let dt = self.dt;
        // w(k+1) = a · w(0..=k) + dt eta(k), with a_j = dt M_R(k, j) + (1 - dt lambda) [j == k].
        let mut a: Vec<f64> = m_r_k[..=k].iter().map(|v| dt * v).collect();
        a[k] += self.shrink;

        // One pass over the rows of R (lower triangle) for two sums (eqs. 3.4, 3.5):
        // R(k+1,l) = sum_{l<j<=k} a_j R(j,l) for l < k, as the sum over j of
        // a_j R(j, 0..j), then R(k+1,k) = 1; and e_j = E[eta(k) w(j)] = dt sum_{i<j} R(j,i) M_C(k,i).
        let mut r_new = vec![0.0; k + 1];
        let mut e = vec![0.0; k + 1];
        for j in 1..=k {
            let row = &self.r.row(j)[..j];
            axpy(a[j], row, &mut r_new[..j]);
            e[j] = dt * dot(row, &m_c_k[..j]);
        }
        r_new[k] = 1.0;
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
        let diag = dot(&a, &c_new) + dt * dot(&a, &e) + dt * dt * m_c_k[k] + self.langevin_variance;
        for (l, &v) in c_new.iter().enumerate() {
            self.c.set(l, k + 1, v);
        }
        self.c.row_mut(k + 1)[..=k].copy_from_slice(&c_new);
        self.c.set(k + 1, k + 1, diag);

        // m(k+1) = (1 - dt lambda) m(k) + dt alpha mu(k) (eq. 3.6).
        self.m[k + 1] = self.shrink * self.m[k] + dt * self.alpha * mu_k;

        diag.is_finite() && self.m[k + 1].is_finite() && c_new.iter().all(|v| v.is_finite())
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
                assert!((w.c.at(k, l) - q0 * s.powi((k + l) as i32)).abs() < 1e-14);
                let r = if k > l {
                    s.powi((k - l - 1) as i32)
                } else {
                    0.0
                };
                assert!((w.r.at(k, l) - r).abs() < 1e-15);
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
                assert!((w.c.at(k, l) - want).abs() < 1e-14, "C({k},{l})");
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
            assert!((w.c.at(k, k) - s.powi(2 * k as i32)).abs() < 1e-14);
            assert!((w.r.at(k, 0) - s.powi(k as i32 - 1)).abs() < 1e-14);
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
            assert!((w.c.at(k, k) - diag).abs() < 1e-13, "k={k}");
            for l in 0..k {
                let want = s.powi((k - l) as i32) * w.c.at(l, l);
                assert!((w.c.at(k, l) - want).abs() < 1e-13);
                assert!((w.r.at(k, l) - s.powi((k - l - 1) as i32)).abs() < 1e-14);
            }
            diag = s * s * diag + 2.0 * 0.1 * 0.3;
        }
    }
}
