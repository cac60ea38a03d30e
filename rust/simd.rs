//! The two vector kernels of an SGD step, `x·w` and `w += alpha x`, for data stored as
//! `f32` or `f64` and accumulated in `f64`.
//!
//! Both have a portable version and an AVX2 version chosen at run time. The AVX2 version
//! performs the same IEEE operations in the same order (16 partial sums with lane `i`
//! taking elements `i mod 16`, separate multiply and add, no FMA), so results are
//! bit-identical on every x86-64 processor and with every thread count.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Number of independent partial sums in [`dot`].
const LANES: usize = 16;

/// Storage type of the data matrix: `f64` for user data, `f32` for generated ensembles
/// and DMFT histories, `i8` for the DMFT's probe signs.
pub trait DataElement: Copy + Send + Sync + Into<f64> + 'static {
    /// Loads four consecutive values widened to `f64`.
    ///
    /// # Safety
    /// `p` must point to four readable values and the processor must support AVX.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load4(p: *const Self) -> __m256d;
}

impl DataElement for f32 {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    unsafe fn load4(p: *const f32) -> __m256d {
        _mm256_cvtps_pd(_mm_loadu_ps(p))
    }
}

impl DataElement for i8 {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn load4(p: *const i8) -> __m256d {
        let four = (p as *const i32).read_unaligned();
        _mm256_cvtepi32_pd(_mm_cvtepi8_epi32(_mm_cvtsi32_si128(four)))
    }
}

impl DataElement for f64 {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    unsafe fn load4(p: *const f64) -> __m256d {
        _mm256_loadu_pd(p)
    }
}

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

/// `sum_i a_i b_i` in `f64` over the common length of `a` and `b`.
#[inline]
pub fn dot<E: DataElement>(a: &[E], b: &[f64]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 (which includes AVX) was detected at run time.
        return unsafe { dot_avx2(a, b) };
    }
    dot_portable(a, b)
}

/// `y += alpha x` over the common length of `x` and `y`.
#[inline]
pub fn axpy<E: DataElement>(alpha: f64, x: &[E], y: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 (which includes AVX) was detected at run time.
        return unsafe { axpy_avx2(alpha, x, y) };
    }
    axpy_portable(alpha, x, y)
}

/// What [`combine_rows`] does after the sum: `out[a] = factor scale[a] sum`, and results
/// with `|out[a]| < floor` set to zero.
#[derive(Clone, Copy, Debug)]
pub struct Scaling<'a> {
    /// Common factor.
    pub factor: f64,
    /// Per-column factor.
    pub scale: &'a [f64],
    /// Magnitudes below this become zero.
    pub floor: f64,
}

/// `out[a] = base[a] + sum_j coefs[j] rows[j * width + a]` for `a < width = out.len()`
/// (`base` zero if `None`), the sum taken in increasing `j`, then the optional
/// [`Scaling`]. One pass over the columns with the partial sums in registers, where a
/// sequence of `axpy` would load and store `out` once per row.
#[inline]
pub fn combine_rows(
    base: Option<&[f64]>,
    coefs: &[f64],
    rows: &[f64],
    scaling: Option<Scaling<'_>>,
    out: &mut [f64],
) {
    let width = out.len();
    assert!(rows.len() >= coefs.len() * width);
    assert!(base.is_none_or(|b| b.len() >= width));
    assert!(scaling.is_none_or(|s| s.scale.len() >= width));
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 was detected at run time; the lengths were checked above.
        return unsafe { combine_rows_avx2(base, coefs, rows, scaling, out) };
    }
    combine_rows_portable(base, coefs, rows, scaling, out, 0)
}

/// [`combine_rows`] for the columns `from..`.
fn combine_rows_portable(
    base: Option<&[f64]>,
    coefs: &[f64],
    rows: &[f64],
    scaling: Option<Scaling<'_>>,
    out: &mut [f64],
    from: usize,
) {
    let width = out.len();
    for a in from..width {
        let mut v = base.map_or(0.0, |b| b[a]);
        for (j, &cj) in coefs.iter().enumerate() {
            v += cj * rows[j * width + a];
        }
        out[a] = match scaling {
            Some(s) => {
                let v = v * (s.factor * s.scale[a]);
                if v.abs() < s.floor {
                    0.0
                } else {
                    v
                }
            }
            None => v,
        };
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn combine_rows_avx2(
    base: Option<&[f64]>,
    coefs: &[f64],
    rows: &[f64],
    scaling: Option<Scaling<'_>>,
    out: &mut [f64],
) {
    const BLOCK: usize = 16;
    let width = out.len();
    let full = width - width % BLOCK;
    let (pr, po) = (rows.as_ptr(), out.as_mut_ptr());
    let sign_mask = _mm256_set1_pd(-0.0);
    let mut a = 0;
    while a < full {
        // SAFETY: a + BLOCK <= width <= the lengths of base and scale (checked by the
        // caller); j * width + a + BLOCK <= rows.len().
        unsafe {
            let mut v = [_mm256_setzero_pd(); BLOCK / 4];
            if let Some(b) = base {
                for (i, vi) in v.iter_mut().enumerate() {
                    *vi = _mm256_loadu_pd(b.as_ptr().add(a + 4 * i));
                }
            }
            for (j, &cj) in coefs.iter().enumerate() {
                let cj4 = _mm256_set1_pd(cj);
                let row = pr.add(j * width + a);
                for (i, vi) in v.iter_mut().enumerate() {
                    *vi = _mm256_add_pd(*vi, _mm256_mul_pd(cj4, _mm256_loadu_pd(row.add(4 * i))));
                }
            }
            for (i, vi) in v.iter().enumerate() {
                let result = match scaling {
                    Some(s) => {
                        let factor = _mm256_loadu_pd(s.scale.as_ptr().add(a + 4 * i));
                        let scaled =
                            _mm256_mul_pd(*vi, _mm256_mul_pd(_mm256_set1_pd(s.factor), factor));
                        let magnitude = _mm256_andnot_pd(sign_mask, scaled);
                        let keep = _mm256_cmp_pd::<_CMP_GE_OQ>(magnitude, _mm256_set1_pd(s.floor));
                        _mm256_and_pd(scaled, keep)
                    }
                    None => *vi,
                };
                _mm256_storeu_pd(po.add(a + 4 * i), result);
            }
        }
        a += BLOCK;
    }
    combine_rows_portable(base, coefs, rows, scaling, out, full);
}

/// Adds the tail (fewer than [`LANES`] elements) into the first lanes, then reduces the
/// lanes pairwise: a short dependency chain even for short rows.
#[inline(always)]
fn finish_dot<E: DataElement>(mut acc: [f64; LANES], a_tail: &[E], b_tail: &[f64]) -> f64 {
    for (i, (&ai, &bi)) in a_tail.iter().zip(b_tail).enumerate() {
        acc[i] += ai.into() * bi;
    }
    for i in 0..8 {
        acc[i] += acc[i + 8];
    }
    for i in 0..4 {
        acc[i] += acc[i + 4];
    }
    (acc[0] + acc[2]) + (acc[1] + acc[3])
}

fn dot_portable<E: DataElement>(a: &[E], b: &[f64]) -> f64 {
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    let mut acc = [0.0f64; LANES];
    let a_chunks = a.chunks_exact(LANES);
    let b_chunks = b.chunks_exact(LANES);
    let (a_tail, b_tail) = (a_chunks.remainder(), b_chunks.remainder());
    for (ac, bc) in a_chunks.zip(b_chunks) {
        for i in 0..LANES {
            acc[i] += ac[i].into() * bc[i];
        }
    }
    finish_dot(acc, a_tail, b_tail)
}

fn axpy_portable<E: DataElement>(alpha: f64, x: &[E], y: &mut [f64]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi.into();
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_avx2<E: DataElement>(a: &[E], b: &[f64]) -> f64 {
    let len = a.len().min(b.len());
    let full = len - len % LANES;
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_pd(); LANES / 4];
    let mut base = 0;
    while base < full {
        for (j, acc_j) in acc.iter_mut().enumerate() {
            let k = base + 4 * j;
            // SAFETY: k + 4 <= full <= len, the length of both slices.
            let prod = unsafe { _mm256_mul_pd(E::load4(pa.add(k)), _mm256_loadu_pd(pb.add(k))) };
            *acc_j = _mm256_add_pd(*acc_j, prod);
        }
        base += LANES;
    }
    let mut lanes = [0.0f64; LANES];
    for (j, acc_j) in acc.iter().enumerate() {
        // SAFETY: lanes has room for 4 values at 4 j.
        unsafe { _mm256_storeu_pd(lanes.as_mut_ptr().add(4 * j), *acc_j) };
    }
    finish_dot(lanes, &a[full..len], &b[full..len])
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn axpy_avx2<E: DataElement>(alpha: f64, x: &[E], y: &mut [f64]) {
    let len = x.len().min(y.len());
    let full = len - len % 4;
    let (px, py) = (x.as_ptr(), y.as_mut_ptr());
    let alpha4 = _mm256_set1_pd(alpha);
    let mut k = 0;
    while k < full {
        // SAFETY: k + 4 <= full <= len, the length of both slices.
        unsafe {
            let updated = _mm256_add_pd(
                _mm256_loadu_pd(py.add(k)),
                _mm256_mul_pd(alpha4, E::load4(px.add(k))),
            );
            _mm256_storeu_pd(py.add(k), updated);
        }
        k += 4;
    }
    axpy_portable(alpha, &x[full..len], &mut y[full..len]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize) -> (Vec<f32>, Vec<f64>) {
        let a = (0..len)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let b = (0..len)
            .map(|i| ((i * 53 % 97) as f64 - 48.0) / 3.0)
            .collect();
        (a, b)
    }

    #[test]
    fn vector_and_portable_kernels_agree_bit_for_bit() {
        for len in [0, 1, 3, 15, 16, 17, 200, 1037] {
            let (a, b) = data(len);
            assert_eq!(
                dot(&a, &b).to_bits(),
                dot_portable(&a, &b).to_bits(),
                "len {len}"
            );
            let a64: Vec<f64> = a.iter().map(|&v| v as f64).collect();
            assert_eq!(dot(&a64, &b).to_bits(), dot_portable(&a64, &b).to_bits());
            let signs: Vec<i8> = (0..len).map(|i| if i % 3 == 0 { -1 } else { 1 }).collect();
            assert_eq!(
                dot(&signs, &b).to_bits(),
                dot_portable(&signs, &b).to_bits()
            );
            let want: f64 = signs.iter().zip(&b).map(|(&s, x)| s as f64 * x).sum();
            assert!((dot(&signs, &b) - want).abs() <= 1e-12 * (1.0 + want.abs()));
            let (mut y1, mut y2) = (b.clone(), b.clone());
            axpy(0.37, &a, &mut y1);
            axpy_portable(0.37, &a, &mut y2);
            assert_eq!(y1, y2);
        }
    }

    #[test]
    fn combine_rows_matches_the_portable_sum() {
        for width in [0, 5, 16, 37, 64] {
            let m = 7;
            let (a, b) = data(m * width + 2 * width);
            let rows: Vec<f64> = a[..m * width].iter().map(|&v| v as f64).collect();
            let base = &b[m * width..(m + 1) * width];
            let scale = &b[(m + 1) * width..];
            let coefs: Vec<f64> = (0..m).map(|j| 0.3 - 0.1 * j as f64).collect();
            let floor = 2.0; // some entries fall below it
            let scaling = Some(Scaling {
                factor: 0.7,
                scale,
                floor,
            });
            for (base, scaling) in [(Some(base), scaling), (None, None), (Some(base), None)] {
                let (mut fast, mut plain) = (vec![0.0; width], vec![0.0; width]);
                combine_rows(base, &coefs, &rows, scaling, &mut fast);
                combine_rows_portable(base, &coefs, &rows, scaling, &mut plain, 0);
                assert_eq!(fast, plain);
                for col in 0..width {
                    let sum: f64 = (0..m).map(|j| coefs[j] * rows[j * width + col]).sum();
                    let mut want = base.map_or(0.0, |b| b[col]) + sum;
                    if scaling.is_some() {
                        want *= 0.7 * scale[col];
                        want = if want.abs() < floor { 0.0 } else { want };
                    }
                    assert!((plain[col] - want).abs() < 1e-12);
                }
            }
        }
    }

    #[test]
    fn dot_is_exact_on_integers() {
        let a: Vec<f32> = (0..13).map(|i| i as f32).collect();
        let b: Vec<f64> = (0..13).map(|i| 1.0 + i as f64).collect();
        let exact: f64 = (0..13).map(|i| (i * (i + 1)) as f64).sum();
        assert_eq!(dot(&a, &b), exact);
    }
}
