//! Fuzz-style tests of the numerical kernels: many random inputs, including extreme
//! ones; no panics, and finite outputs wherever the mathematics says they are finite.

use crate::config::{Activation, Clusters, Config, Loss};
use crate::dmft::{Kernels, WeightSide};
use crate::losses::{LossSum, SampleLoss};
use crate::observables::test_error_with;
use crate::simd::{axpy, combine_rows, dot, Scaling};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const CASES: usize = 2000;

/// A value spread over many orders of magnitude, of either sign.
fn wide(rng: &mut ChaCha8Rng, max_exp: f64) -> f64 {
    let sign = if rng.random::<bool>() { 1.0 } else { -1.0 };
    sign * 10f64.powf(rng.random_range(-max_exp..max_exp))
}

#[test]
fn vector_kernels_are_finite_on_finite_inputs() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for _ in 0..CASES {
        let n = rng.random_range(0..70usize);
        let a: Vec<f32> = (0..n).map(|_| wide(&mut rng, 10.0) as f32).collect();
        let b: Vec<f64> = (0..n).map(|_| wide(&mut rng, 10.0)).collect();
        assert!(dot(&a, &b).is_finite());
        let mut y = b.clone();
        axpy(wide(&mut rng, 10.0), &a, &mut y);
        assert!(y.iter().all(|v| v.is_finite()));
        let m = rng.random_range(0..20usize);
        let rows: Vec<f64> = (0..m * n).map(|_| wide(&mut rng, 5.0)).collect();
        let coefs: Vec<f64> = (0..m).map(|_| wide(&mut rng, 5.0)).collect();
        let mut out = vec![0.0; n];
        let scaling = Scaling {
            factor: wide(&mut rng, 5.0),
            scale: &b,
            floor: 1e-150,
        };
        combine_rows(Some(&b), &coefs, &rows, Some(scaling), &mut out);
        assert!(out.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn losses_are_finite_for_outputs_up_to_1e3_and_logistic_everywhere() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for _ in 0..CASES {
        let loss = Loss::ALL[rng.random_range(0..Loss::ALL.len())];
        let largest_threshold = if loss == Loss::Exponential { 1.5 } else { 3.0 };
        let activation = match rng.random_range(0..3) {
            0 => Activation::Linear,
            1 => Activation::Tanh,
            _ => Activation::Door {
                threshold: 10f64.powf(rng.random_range(-3.0..largest_threshold)),
            },
        };
        let f = SampleLoss { loss, activation };
        let y = if rng.random::<bool>() { 1.0 } else { -1.0 };
        // |o| <= ~1e3 for every output (~1e2 for the exponential loss, whose exp(-y o)
        // overflows beyond 709: a divergence, reported by the engines).
        let reach = if loss == Loss::Exponential {
            2.0 / 3.0
        } else {
            1.0
        };
        let h = match activation {
            Activation::Door { .. } => wide(&mut rng, 1.5 * reach),
            _ => wide(&mut rng, 3.0 * reach),
        };
        let (l, slope) = f.value_and_slope(y, h);
        let c = f.curvature(y, h);
        assert!(
            l.is_finite() && l >= 0.0 && slope.is_finite() && c.is_finite(),
            "{f:?} h={h}"
        );
        let mut sum = LossSum::default();
        assert_eq!(f.slope_adding_loss(y, h, &mut sum), slope);
        assert!((sum.total() - l).abs() <= 1e-12 * (1.0 + l));
        if loss == Loss::Logistic && activation == Activation::Linear {
            let h = wide(&mut rng, 300.0);
            let (l, slope) = f.value_and_slope(y, h);
            assert!(l.is_finite() && slope.is_finite() && f.curvature(y, h).is_finite());
        }
    }
}

#[test]
fn test_error_is_a_probability() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for _ in 0..CASES {
        let clusters = if rng.random::<bool>() {
            Clusters::Two
        } else {
            Clusters::Three {
                rho: rng.random_range(0.001..0.999),
            }
        };
        let activation = if rng.random::<bool>() {
            Activation::Linear
        } else {
            Activation::Door {
                threshold: 10f64.powf(rng.random_range(-6.0..6.0)),
            }
        };
        let cfg = Config {
            clusters,
            activation: Some(activation),
            delta: 10f64.powf(rng.random_range(-6.0..6.0)),
            ..Config::default()
        };
        let m = wide(&mut rng, 6.0);
        let q = if rng.random::<bool>() {
            0.0
        } else {
            10f64.powf(rng.random_range(-300.0..6.0))
        };
        let e = test_error_with(&cfg, &cfg.activation(), m, q);
        assert!((0.0..=1.0 + 1e-12).contains(&e), "{cfg:?} m={m} q={q}: {e}");
    }
}

#[test]
fn the_weight_side_never_panics_and_reports_overflow() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for _ in 0..200 {
        let t = rng.random_range(1..30usize);
        let mut kernels = Kernels::zeros(t);
        for k in 0..t {
            kernels.mu[k] = wide(&mut rng, 3.0);
            for l in 0..=k {
                let v = wide(&mut rng, 3.0).abs();
                kernels.m_c.set(k, l, v);
                kernels.m_c.set(l, k, v);
                kernels.m_r.set(k, l, wide(&mut rng, 3.0));
            }
        }
        let mut w = WeightSide::new(t, rng.random_range(0.001..1.0), 0.1, 2.0, 0.0, 1.0);
        for k in 0..t - 1 {
            if !w.advance(k, &kernels) {
                // Non-finite values are reported, never returned as if valid.
                assert!(
                    !w.c.at(k + 1, k + 1).is_finite()
                        || w.c.row(k + 1).iter().any(|v| !v.is_finite())
                        || !w.m[k + 1].is_finite()
                );
                break;
            }
        }
    }
}
