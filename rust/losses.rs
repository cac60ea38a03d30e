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

/// The logistic loss at margin `z = y o` in parts: `log(1 + exp(-z)) = relu(-z) + log(1 + e)`
/// with `e = exp(-|z|) ∈ (0, 1]`, and `sigmoid(-z)`. No overflow for any finite `z`.
#[inline]
fn logistic_parts(z: f64) -> (f64, f64, f64) {
    let e = (-z.abs()).exp();
    let sigmoid_neg = if z >= 0.0 {
        e / (1.0 + e)
    } else {
        1.0 / (1.0 + e)
    };
    ((-z).max(0.0), e, sigmoid_neg)
}

/// A running sum of per-sample losses. The logistic terms `log(1 + e)` are multiplied
/// together and folded in with one logarithm per [`LossSum::FOLD`] samples: the
/// logarithm is the costliest part of a step at small `d`. Each fold loses at most
/// ~`2 FOLD` ulp of the product; terms with `e < 1e-4`, where that would be a noticeable
/// relative error, use the series `e - e^2/2 + e^3/3` (relative error < 3e-13) instead.
#[derive(Clone, Debug)]
pub struct LossSum {
    sum: f64,
    product: f64,
    pending: u32,
}

impl Default for LossSum {
    fn default() -> Self {
        LossSum {
            sum: 0.0,
            product: 1.0,
            pending: 0,
        }
    }
}

impl LossSum {
    /// Number of factors `1 + e` multiplied before one logarithm folds them in.
    pub const FOLD: u32 = 32;

    /// Adds a plain term.
    #[inline]
    pub fn add(&mut self, value: f64) {
        self.sum += value;
    }

    /// Adds `log(1 + e)` for `e ∈ [0, 1]`.
    #[inline]
    pub fn add_ln_1p(&mut self, e: f64) {
        if e < 1e-4 {
            self.sum += e * (1.0 - e * (0.5 - e / 3.0));
        } else {
            self.product *= 1.0 + e;
            self.pending += 1;
            if self.pending == Self::FOLD {
                self.sum += self.product.ln();
                self.product = 1.0;
                self.pending = 0;
            }
        }
    }

    /// The sum of everything added.
    pub fn total(&self) -> f64 {
        self.sum + self.product.ln()
    }
}

impl SampleLoss {
    /// The network output `o(h)`.
    #[inline]
    pub fn output(&self, h: f64) -> f64 {
        self.activation.output(h)
    }

    /// `(ell, ell_o)`: the loss and its derivative in `o`.
    #[inline]
    fn ell_and_ell_o(&self, y: f64, o: f64) -> (f64, f64) {
        match self.loss {
            Loss::Logistic => {
                let (relu, e, sigmoid_neg) = logistic_parts(y * o);
                (relu + e.ln_1p(), -y * sigmoid_neg)
            }
            Loss::Square => {
                let r = o - y;
                (0.5 * r * r, r)
            }
        }
    }

    /// `l'(y, h)`, adding `l(y, h)` to `losses`: the inner step of SGD.
    #[inline]
    pub fn slope_adding_loss(&self, y: f64, h: f64, losses: &mut LossSum) -> f64 {
        let o = self.output(h);
        let ell_o = match self.loss {
            Loss::Logistic => {
                let (relu, e, sigmoid_neg) = logistic_parts(y * o);
                losses.add(relu);
                losses.add_ln_1p(e);
                -y * sigmoid_neg
            }
            Loss::Square => {
                let r = o - y;
                losses.add(0.5 * r * r);
                r
            }
        };
        match self.activation {
            Activation::Linear => ell_o,
            Activation::Door { .. } => ell_o * 2.0 * h,
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
    fn loss_sum_matches_the_plain_sum() {
        for f in all_losses() {
            for y in [-1.0, 1.0] {
                let mut losses = LossSum::default();
                let mut plain = 0.0;
                // Fields from badly misclassified to far beyond the margin (e down to 1e-40).
                for i in 0..1000 {
                    let h = -8.0 + 0.1 * i as f64;
                    let (l, slope) = f.value_and_slope(y, h);
                    assert_eq!(f.slope_adding_loss(y, h, &mut losses), slope);
                    plain += l;
                }
                let got = losses.total();
                assert!(
                    (got - plain).abs() < 1e-13 * plain,
                    "{f:?}: {got} vs {plain}"
                );
            }
        }
        // Only tiny terms: relative precision is kept.
        let mut tiny = LossSum::default();
        (0..100).for_each(|_| tiny.add_ln_1p(1e-30));
        assert!((tiny.total() - 1e-28).abs() < 1e-42);
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
