//! The per-sample loss `l(y, h) = ell(y, o(h))` and its derivatives in `h`
//! (theory.md section 1), in numerically stable form.

use crate::config::{Activation, Loss};

/// A loss composed with an output function: what SGD and the DMFT differentiate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleLoss {
    /// `ell(y, o)`.
    pub loss: Loss,
    /// `o(h)`.
    pub activation: Activation,
}

/// `(log(1 + exp(-z)), sigmoid(-z))` without overflow for any finite `z`.
#[inline]
fn softplus_and_sigmoid_neg(z: f64) -> (f64, f64) {
    if z >= 0.0 {
        let e = (-z).exp();
        (e.ln_1p(), e / (1.0 + e))
    } else {
        let e = z.exp();
        (-z + e.ln_1p(), 1.0 / (1.0 + e))
    }
}

impl SampleLoss {
    /// The network output `o(h)`.
    #[inline]
    pub fn output(&self, h: f64) -> f64 {
        match self.activation {
            Activation::Linear => h,
            Activation::Door { threshold } => h * h - threshold,
        }
    }

    /// `(ell, ell_o)`: the loss and its derivative in `o`.
    #[inline]
    fn ell_and_ell_o(&self, y: f64, o: f64) -> (f64, f64) {
        match self.loss {
            Loss::Logistic => {
                let (ell, sig) = softplus_and_sigmoid_neg(y * o);
                (ell, -y * sig)
            }
            Loss::Square => {
                let r = o - y;
                (0.5 * r * r, r)
            }
        }
    }

    /// `ell_oo`: the second derivative in `o`.
    #[inline]
    fn ell_oo(&self, y: f64, o: f64) -> f64 {
        match self.loss {
            // sigmoid(z) sigmoid(-z) = e / (1 + e)^2 with e = exp(-|z|): no cancellation.
            Loss::Logistic => {
                let e = (-(y * o).abs()).exp();
                y * y * e / ((1.0 + e) * (1.0 + e))
            }
            Loss::Square => 1.0,
        }
    }

    /// `(l, l')`: the loss and its derivative in `h` (chain rule through `o`).
    #[inline]
    pub fn value_and_slope(&self, y: f64, h: f64) -> (f64, f64) {
        let (ell, ell_o) = self.ell_and_ell_o(y, self.output(h));
        match self.activation {
            Activation::Linear => (ell, ell_o),
            Activation::Door { .. } => (ell, ell_o * 2.0 * h),
        }
    }

    /// `l''`, the curvature in `h`. For the door `ell_oo (2h)^2 + 2 ell_o`, which can be
    /// negative: the problem is then non-convex.
    #[inline]
    pub fn curvature(&self, y: f64, h: f64) -> f64 {
        let o = self.output(h);
        match self.activation {
            Activation::Linear => self.ell_oo(y, o),
            Activation::Door { .. } => {
                let (_, ell_o) = self.ell_and_ell_o(y, o);
                self.ell_oo(y, o) * 4.0 * h * h + 2.0 * ell_o
            }
        }
    }

    /// A sample is misclassified when `y o(h) <= 0`.
    #[inline]
    pub fn misclassified(&self, y: f64, h: f64) -> bool {
        y * self.output(h) <= 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_losses() -> Vec<SampleLoss> {
        let mut v = Vec::new();
        for loss in [Loss::Logistic, Loss::Square] {
            for activation in [Activation::Linear, Activation::Door { threshold: 0.7 }] {
                v.push(SampleLoss { loss, activation });
            }
        }
        v
    }

    #[test]
    fn derivatives_match_finite_differences() {
        let eps = 1e-5;
        for f in all_losses() {
            for y in [-1.0, 1.0] {
                for h in [-2.3, -0.4, 0.0, 0.3, 1.7] {
                    let (_, slope) = f.value_and_slope(y, h);
                    let fd = (f.value_and_slope(y, h + eps).0 - f.value_and_slope(y, h - eps).0)
                        / (2.0 * eps);
                    assert!(
                        (slope - fd).abs() < 1e-7 * (1.0 + fd.abs()),
                        "{f:?} y={y} h={h}"
                    );
                    let fd2 = (f.value_and_slope(y, h + eps).1 - f.value_and_slope(y, h - eps).1)
                        / (2.0 * eps);
                    let c = f.curvature(y, h);
                    assert!(
                        (c - fd2).abs() < 1e-6 * (1.0 + fd2.abs()),
                        "{f:?} y={y} h={h}"
                    );
                }
            }
        }
    }

    #[test]
    fn logistic_is_stable_for_huge_fields() {
        let f = SampleLoss {
            loss: Loss::Logistic,
            activation: Activation::Linear,
        };
        let (l, s) = f.value_and_slope(1.0, -1e3);
        assert_eq!(l, 1e3);
        assert_eq!(s, -1.0);
        let (l, s) = f.value_and_slope(1.0, 1e3);
        assert!((0.0..1e-300).contains(&l) && (-1e-300..=0.0).contains(&s));
        assert_eq!(f.curvature(1.0, 1e3), 0.0);
        let door = SampleLoss {
            loss: Loss::Logistic,
            activation: Activation::Door { threshold: 1.0 },
        };
        for h in [-1e3, 1e3] {
            let (l, s) = door.value_and_slope(-1.0, h);
            assert!(l.is_finite() && s.is_finite() && door.curvature(-1.0, h).is_finite());
        }
    }

    #[test]
    fn door_curvature_can_be_negative() {
        let door = SampleLoss {
            loss: Loss::Square,
            activation: Activation::Door { threshold: 1.0 },
        };
        // l'' = 4h^2 + 2(h^2 - 1 - y) = -2(1 + y) at h = 0.
        assert_eq!(door.curvature(1.0, 0.0), -4.0);
    }
}
