//! A dense square matrix of time-time quantities (`C`, `R`, `M_C`, ...), row-major.

/// `n x n` matrix of `f64`, row-major: element `(k, l)` is `data[k * n + l]`.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TimeMatrix {
    n: usize,
    data: Vec<f64>,
}

impl TimeMatrix {
    /// The zero matrix.
    pub fn zeros(n: usize) -> Self {
        TimeMatrix {
            n,
            data: vec![0.0; n * n],
        }
    }

    /// An `n x n` matrix from its row-major data (`data.len()` must be `n * n`).
    pub fn from_vec(n: usize, data: Vec<f64>) -> Self {
        assert_eq!(data.len(), n * n, "TimeMatrix::from_vec: wrong length");
        TimeMatrix { n, data }
    }

    /// Side length.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Element `(k, l)`.
    #[inline]
    pub fn at(&self, k: usize, l: usize) -> f64 {
        self.data[k * self.n + l]
    }

    /// Sets element `(k, l)`.
    #[inline]
    pub fn set(&mut self, k: usize, l: usize, value: f64) {
        self.data[k * self.n + l] = value;
    }

    /// Row `k`, all `n` columns.
    #[inline]
    pub fn row(&self, k: usize) -> &[f64] {
        &self.data[k * self.n..(k + 1) * self.n]
    }

    /// Row `k`, mutable.
    #[inline]
    pub fn row_mut(&mut self, k: usize) -> &mut [f64] {
        &mut self.data[k * self.n..(k + 1) * self.n]
    }

    /// The row-major data.
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }

    /// The row-major data, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [f64] {
        &mut self.data
    }

    /// Consumes the matrix, returning its row-major data.
    pub fn into_vec(self) -> Vec<f64> {
        self.data
    }
}

/// A lower-triangular `n x n` matrix, or a symmetric one by its lower triangle, stored
/// packed: row `k` holds its entries `0..=k` right after row `k - 1`. The weight side and
/// the Cholesky factor pass over rows `0..=k` at every step, so those passes stream one
/// contiguous block of memory (half a square matrix, and no jump per row).
#[derive(Clone, Debug, PartialEq)]
pub struct Triangle {
    n: usize,
    data: Vec<f64>,
}

impl Triangle {
    /// The zero matrix.
    pub fn zeros(n: usize) -> Self {
        Triangle {
            n,
            data: vec![0.0; n * (n + 1) / 2],
        }
    }

    /// An `n x n` triangle from its packed rows (`data.len()` must be `n (n + 1) / 2`).
    pub fn from_vec(n: usize, data: Vec<f64>) -> Self {
        assert_eq!(
            data.len(),
            n * (n + 1) / 2,
            "Triangle::from_vec: wrong length"
        );
        Triangle { n, data }
    }

    /// Where row `k` starts in the packed data.
    #[inline]
    fn start(k: usize) -> usize {
        k * (k + 1) / 2
    }

    /// Row `k`: its `k + 1` entries `(k, 0..=k)`.
    #[inline]
    pub fn row(&self, k: usize) -> &[f64] {
        &self.data[Self::start(k)..Self::start(k + 1)]
    }

    /// Row `k`, mutable.
    #[inline]
    pub fn row_mut(&mut self, k: usize) -> &mut [f64] {
        &mut self.data[Self::start(k)..Self::start(k + 1)]
    }

    /// Element `(k, l)`, `l <= k`.
    #[inline]
    pub fn at(&self, k: usize, l: usize) -> f64 {
        self.row(k)[l]
    }

    /// Element `(k, l)` of the symmetric matrix: `(max, min)` of the triangle.
    #[cfg(test)]
    pub fn symmetric_at(&self, k: usize, l: usize) -> f64 {
        self.at(k.max(l), k.min(l))
    }

    /// Element `(k, l)` of the lower-triangular matrix: zero above the diagonal.
    #[cfg(test)]
    pub fn lower_at(&self, k: usize, l: usize) -> f64 {
        if l <= k {
            self.at(k, l)
        } else {
            0.0
        }
    }

    /// Sets element `(k, l)`, `l <= k`.
    #[inline]
    pub fn set(&mut self, k: usize, l: usize, value: f64) {
        self.row_mut(k)[l] = value;
    }

    /// The packed rows.
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }

    /// The square matrix: zeros above the diagonal, or (`symmetric`) the mirror image.
    pub fn to_square(&self, symmetric: bool) -> TimeMatrix {
        let mut out = TimeMatrix::zeros(self.n);
        for k in 0..self.n {
            for (l, &v) in self.row(k).iter().enumerate() {
                out.set(k, l, v);
                if symmetric {
                    out.set(l, k, v);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_triangle_packs_its_rows_and_unpacks_to_the_square_matrix() {
        let mut t = Triangle::zeros(3);
        for k in 0..3 {
            for l in 0..=k {
                t.set(k, l, (10 * k + l) as f64);
            }
        }
        assert_eq!(t.as_slice(), [0.0, 10.0, 11.0, 20.0, 21.0, 22.0]);
        assert_eq!(t.row(2), [20.0, 21.0, 22.0]);
        let lower = t.to_square(false);
        let symmetric = t.to_square(true);
        assert_eq!((lower.at(1, 0), lower.at(0, 1)), (10.0, 0.0));
        assert_eq!((symmetric.at(1, 0), symmetric.at(0, 1)), (10.0, 10.0));
        assert_eq!(Triangle::from_vec(3, t.as_slice().to_vec()), t);
    }
}
