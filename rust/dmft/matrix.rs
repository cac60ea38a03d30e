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
