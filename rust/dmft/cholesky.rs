//! Incremental Cholesky factor `C = L L^T`, one row per time step, for drawing each
//! sample's cavity field `chi(k)` conditionally on its past: `chi(k) = sum_j L(k,j) xi(j)`
//! with independent standard normals `xi`.
//!
//! `C` is only positive *semi*-definite, and numerically often close to singular: under
//! full-batch GD the field is nearly a smooth function of its past, and the conditional
//! variances (pivots) decay geometrically until they reach the rounding noise of the
//! recursion, around 1e-9 of `C(k,k)` (seen on DMFT matrices and on Gaussian kernels).
//! Dividing by the square root of such a noise pivot amplifies the noise without limit.
//! Pivots below `PIVOT_TOL * C(k,k)` are therefore set to zero and their columns skipped
//! (the field is drawn at its conditional mean in that direction: its standard deviation
//! is off by at most `sqrt(PIVOT_TOL)` = 1e-3 relative, far below Monte Carlo errors), and
//! a row whose squared norm exceeds `C(k,k)` is scaled back so the variance is exact.

#[cfg(test)]
use super::matrix::TimeMatrix;
use super::matrix::Triangle;

/// Pivots `L(k,k)^2 <= PIVOT_TOL * C(k,k)` count as zero.
const PIVOT_TOL: f64 = 1e-6;

/// The lower-triangular factor, grown one row at a time.
pub struct IncrementalCholesky {
    l: Triangle,
}

impl IncrementalCholesky {
    /// An empty factor for up to `n` rows.
    pub fn new(n: usize) -> Self {
        IncrementalCholesky {
            l: Triangle::zeros(n),
        }
    }

    /// Adds row `k` from `c_row = C(k, 0..=k)` (rows `0..k` must be in place).
    pub fn push_row(&mut self, k: usize, c_row: &[f64]) {
        for (j, &c_kj) in c_row[..k].iter().enumerate() {
            let pivot = self.l.at(j, j);
            let value = if pivot > 0.0 {
                let (lk, lj) = (&self.l.row(k)[..j], &self.l.row(j)[..j]);
                let overlap: f64 = lk.iter().zip(lj).map(|(a, b)| a * b).sum();
                (c_kj - overlap) / pivot
            } else {
                0.0
            };
            self.l.set(k, j, value);
        }
        let norm2: f64 = self.l.row(k)[..k].iter().map(|v| v * v).sum();
        if norm2 > c_row[k] && norm2 > 0.0 {
            let shrink = (c_row[k].max(0.0) / norm2).sqrt();
            self.l.row_mut(k)[..k].iter_mut().for_each(|v| *v *= shrink);
        }
        let pivot2 = c_row[k] - norm2;
        let pivot = if pivot2 > PIVOT_TOL * c_row[k].abs() {
            pivot2.sqrt()
        } else {
            0.0
        };
        self.l.set(k, k, pivot);
    }

    /// `L(k, 0..=k)`.
    pub fn row(&self, k: usize) -> &[f64] {
        self.l.row(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factor(c: &TimeMatrix) -> IncrementalCholesky {
        let mut chol = IncrementalCholesky::new(c.n());
        for k in 0..c.n() {
            chol.push_row(k, &c.row(k)[..=k]);
        }
        chol
    }

    fn reconstruct(chol: &IncrementalCholesky, n: usize) -> TimeMatrix {
        let mut out = TimeMatrix::zeros(n);
        for k in 0..n {
            for l in 0..n {
                let m = k.min(l);
                let v: f64 = (0..=m).map(|j| chol.row(k)[j] * chol.row(l)[j]).sum();
                out.set(k, l, v);
            }
        }
        out
    }

    #[test]
    fn reproduces_a_positive_definite_matrix() {
        // C(k,l) = exp(-|k-l|/3) + 0.5: positive definite.
        let n = 12;
        let mut c = TimeMatrix::zeros(n);
        for k in 0..n {
            for l in 0..n {
                c.set(k, l, (-((k as f64) - (l as f64)).abs() / 3.0).exp() + 0.5);
            }
        }
        let back = reconstruct(&factor(&c), n);
        for (a, b) in back.as_slice().iter().zip(c.as_slice()) {
            assert!((a - b).abs() < 1e-13);
        }
    }

    #[test]
    fn stays_accurate_on_a_numerically_singular_matrix() {
        // C(k,l) = exp(-(k-l)^2 / 50): smooth, numerically of low rank (as under GD).
        let n = 200;
        let mut c = TimeMatrix::zeros(n);
        for k in 0..n {
            for l in 0..n {
                let d = k as f64 - l as f64;
                c.set(k, l, (-d * d / 50.0).exp());
            }
        }
        let chol = factor(&c);
        let back = reconstruct(&chol, n);
        let worst = back
            .as_slice()
            .iter()
            .zip(c.as_slice())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 2e-3, "reconstruction error {worst}");
        for k in 0..n {
            let norm2: f64 = chol.row(k).iter().map(|v| v * v).sum();
            assert!(norm2 <= 1.0 + 1e-12);
        }
    }

    #[test]
    fn random_semidefinite_matrices_give_finite_bounded_rows() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        for _ in 0..300 {
            // C = A A^T with A of random shape and scale: any rank, any conditioning.
            let n = rng.random_range(1..40usize);
            let r = rng.random_range(1..=n);
            let scale = 10f64.powf(rng.random_range(-8.0..8.0));
            let a: Vec<f64> = (0..n * r)
                .map(|_| scale * rng.random_range(-1.0..1.0))
                .collect();
            let mut c = TimeMatrix::zeros(n);
            for k in 0..n {
                for l in 0..n {
                    let v: f64 = (0..r).map(|i| a[k * r + i] * a[l * r + i]).sum();
                    c.set(k, l, v);
                }
            }
            let chol = factor(&c);
            for k in 0..n {
                let row = chol.row(k);
                assert!(row.iter().all(|v| v.is_finite()));
                let norm2: f64 = row.iter().map(|v| v * v).sum();
                assert!(norm2 <= c.at(k, k) * (1.0 + 1e-9) + 1e-300);
            }
        }
    }

    #[test]
    fn tolerates_a_singular_matrix() {
        // chi(k) = a_k * xi: rank one, every pivot after the first is zero.
        let a = [1.0, 0.8, -0.5, 0.0, 2.0];
        let n = a.len();
        let mut c = TimeMatrix::zeros(n);
        for k in 0..n {
            for l in 0..n {
                c.set(k, l, a[k] * a[l]);
            }
        }
        let chol = factor(&c);
        for k in 0..n {
            assert!(chol.row(k).iter().all(|v| v.is_finite()));
        }
        let back = reconstruct(&chol, n);
        for (x, y) in back.as_slice().iter().zip(c.as_slice()) {
            assert!((x - y).abs() < 1e-12, "{x} vs {y}");
        }
    }
}
