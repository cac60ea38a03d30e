//! Losses `ell(y, o)` and activations `o(h)`: the one extension point of both engines
//! (theory.md section 1). [`LossFn`] and [`ActivationFn`] say what a loss and an output
//! function are; [`SampleLoss`] composes them into `l(y, h) = ell(y, o(h))` and its
//! derivatives in `h` (the chain rule, here only). The built-ins [`Loss`] and
//! [`Activation`] implement the traits and are matched statically; a Rust user implements
//! them for their own loss or activation and runs the engines with it (`*_with`
//! functions; see the crate's `custom_loss` example).

use crate::config::{Activation, Loss};

/// A pointwise loss `ell(y, o)` of a label `y` and an output `o`, with its derivatives in
/// `o`. Implement [`LossFn::ell_and_slope`] and [`LossFn::curvature`]; the other methods
/// have defaults.
pub trait LossFn: Send + Sync + std::fmt::Debug {
    /// A short name, for messages.
    fn name(&self) -> &str;

    /// `(ell, ell_o)`: the loss and its derivative in `o`.
    fn ell_and_slope(&self, y: f64, o: f64) -> (f64, f64);

    /// `ell_oo`, the second derivative in `o` (used by the DMFT's response; see
    /// [`LossFn::has_curvature`]).
    fn curvature(&self, y: f64, o: f64) -> f64;

    /// `ell_o`, adding `ell` to `losses`: the inner step of SGD. Override it to sum
    /// the losses in a cheaper or more stable way (the logistic loss does).
    #[inline]
    fn slope_adding_loss(&self, y: f64, o: f64, losses: &mut LossSum) -> f64 {
        let (ell, slope) = self.ell_and_slope(y, o);
        losses.add(ell);
        slope
    }

    /// Whether the loss needs labels ±1 (it is refused for real-valued labels).
    fn needs_sign_labels(&self) -> bool {
        false
    }

    /// The outputs `o` where, for the label `y`, `ell` or its slope has a kink (the
    /// hinges' margin `y o = 1`): the test observables' quadrature puts panel edges at
    /// the fields where `o(h)` reaches them. None by default.
    fn kinks(&self, _y: f64) -> Vec<f64> {
        Vec::new()
    }

    /// Whether `ell_oo` is a function. A kink (the hinge loss) puts a delta in it, which
    /// the DMFT's response needs and cannot sample: the DMFT refuses such a loss, SGD
    /// runs it.
    fn has_curvature(&self) -> bool {
        true
    }

    /// The built-in loss this is, if it is one: the test observables then use its closed
    /// forms where they exist (a fast path, tested against the general integral).
    fn builtin(&self) -> Option<Loss> {
        None
    }
}

/// The network's output `o(h)` of its field `h`, with its derivatives. Implement
/// [`ActivationFn::output`], [`ActivationFn::derivatives`] and
/// [`ActivationFn::sign_changes`].
pub trait ActivationFn: Send + Sync + std::fmt::Debug {
    /// A short name, for messages.
    fn name(&self) -> &str;

    /// `o(h)`.
    fn output(&self, h: f64) -> f64;

    /// `(o'(h), o''(h))`.
    fn derivatives(&self, h: f64) -> (f64, f64);

    /// The fields `h` where `o` changes sign: the classification error and the panel
    /// edges of the test observables' quadrature depend on them.
    fn sign_changes(&self) -> Vec<f64>;

    /// Whether `o(h) = h` (the chain rule is then the identity).
    fn is_identity(&self) -> bool {
        false
    }

    /// The fields `h` with `o(h) = value` (where the loss's kinks sit, see
    /// [`LossFn::kinks`]). None by default: the quadrature then resolves kinks only by
    /// its panels.
    fn preimages(&self, _value: f64) -> Vec<f64> {
        Vec::new()
    }

    /// The built-in activation this is, if it is one (closed-form test errors).
    fn builtin(&self) -> Option<Activation> {
        None
    }

    /// Whether `o''` is a function (no delta): the DMFT's response needs it. A kink (the
    /// ReLU's at 0) puts a delta in `o''` whose term does not vanish in expectation.
    fn is_smooth(&self) -> bool {
        true
    }
}

/// A loss composed with an output function, `l(y, h) = ell(y, o(h))`: what SGD and the
/// DMFT differentiate. The defaults are the built-ins.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleLoss<L = Loss, A = Activation> {
    /// `ell(y, o)`.
    pub loss: L,
    /// `o(h)`.
    pub activation: A,
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

impl LossFn for Loss {
    fn name(&self) -> &str {
        Loss::name(self)
    }

    #[inline]
    fn ell_and_slope(&self, y: f64, o: f64) -> (f64, f64) {
        match *self {
            Loss::Logistic => {
                let (relu, e, sigmoid_neg) = logistic_parts(y * o);
                (relu + e.ln_1p(), -y * sigmoid_neg)
            }
            Loss::Square => {
                let r = o - y;
                (0.5 * r * r, r)
            }
            Loss::SquaredHinge => {
                let gap = (1.0 - y * o).max(0.0);
                (0.5 * gap * gap, -y * gap)
            }
            Loss::Exponential => {
                // exp(-z) overflows to inf only where the run has diverged: reported as such.
                let e = (-y * o).exp();
                (e, -y * e)
            }
            Loss::Hinge => {
                let z = y * o;
                if z < 1.0 {
                    (1.0 - z, -y)
                } else {
                    (0.0, 0.0)
                }
            }
        }
    }

    #[inline]
    fn curvature(&self, y: f64, o: f64) -> f64 {
        match *self {
            // sigmoid(z) sigmoid(-z) = e / (1 + e)^2 with e = exp(-|z|): no cancellation.
            Loss::Logistic => {
                let e = (-(y * o).abs()).exp();
                y * y * e / ((1.0 + e) * (1.0 + e))
            }
            Loss::Square => 1.0,
            Loss::SquaredHinge => {
                if y * o < 1.0 {
                    y * y
                } else {
                    0.0
                }
            }
            Loss::Exponential => y * y * (-y * o).exp(),
            // Zero away from the kink; the delta at y o = 1 is why the DMFT refuses it.
            Loss::Hinge => 0.0,
        }
    }

    #[inline]
    fn slope_adding_loss(&self, y: f64, o: f64, losses: &mut LossSum) -> f64 {
        match *self {
            Loss::Logistic => {
                let (relu, e, sigmoid_neg) = logistic_parts(y * o);
                losses.add(relu);
                losses.add_ln_1p(e);
                -y * sigmoid_neg
            }
            _ => {
                let (ell, slope) = self.ell_and_slope(y, o);
                losses.add(ell);
                slope
            }
        }
    }

    fn needs_sign_labels(&self) -> bool {
        !matches!(self, Loss::Square)
    }

    fn has_curvature(&self) -> bool {
        !matches!(self, Loss::Hinge)
    }

    fn kinks(&self, y: f64) -> Vec<f64> {
        match self {
            // y o = 1 with y = ±1: o = y.
            Loss::Hinge | Loss::SquaredHinge => vec![y],
            _ => Vec::new(),
        }
    }

    fn builtin(&self) -> Option<Loss> {
        Some(*self)
    }
}

impl ActivationFn for Activation {
    fn name(&self) -> &str {
        Activation::name(self)
    }

    #[inline]
    fn output(&self, h: f64) -> f64 {
        match *self {
            Activation::Linear => h,
            Activation::Door { threshold } => h * h - threshold,
            Activation::Tanh => h.tanh(),
            Activation::Erf => libm::erf(h * std::f64::consts::FRAC_1_SQRT_2),
            Activation::Relu => h.max(0.0),
        }
    }

    #[inline]
    fn derivatives(&self, h: f64) -> (f64, f64) {
        match *self {
            Activation::Linear => (1.0, 0.0),
            Activation::Door { .. } => (2.0 * h, 2.0),
            Activation::Tanh => {
                let t = h.tanh();
                let sech2 = 1.0 - t * t;
                (sech2, -2.0 * t * sech2)
            }
            Activation::Erf => {
                // d/dh erf(h/sqrt 2) = sqrt(2/pi) exp(-h^2/2); its derivative is -h times it.
                let slope = (2.0 / std::f64::consts::PI).sqrt() * (-0.5 * h * h).exp();
                (slope, -h * slope)
            }
            // o'' = 0 away from the kink (the delta at 0 is why the DMFT refuses it).
            Activation::Relu => (f64::from(h > 0.0), 0.0),
        }
    }

    fn sign_changes(&self) -> Vec<f64> {
        match *self {
            Activation::Linear | Activation::Tanh | Activation::Erf | Activation::Relu => {
                vec![0.0]
            }
            Activation::Door { threshold } => vec![-threshold.sqrt(), threshold.sqrt()],
        }
    }

    fn is_identity(&self) -> bool {
        matches!(self, Activation::Linear)
    }

    fn preimages(&self, value: f64) -> Vec<f64> {
        match *self {
            Activation::Linear => vec![value],
            Activation::Door { threshold } if value + threshold >= 0.0 => {
                let r = (value + threshold).sqrt();
                vec![-r, r]
            }
            Activation::Door { .. } => Vec::new(),
            Activation::Tanh if value.abs() < 1.0 => vec![value.atanh()],
            Activation::Tanh => Vec::new(),
            // The built-in losses' kinks sit at o = ±1, which erf never reaches; other
            // values are left to the quadrature's panels.
            Activation::Erf => Vec::new(),
            Activation::Relu if value > 0.0 => vec![value],
            Activation::Relu => Vec::new(),
        }
    }

    fn builtin(&self) -> Option<Activation> {
        Some(*self)
    }

    fn is_smooth(&self) -> bool {
        !matches!(self, Activation::Relu)
    }
}

impl<L: LossFn, A: ActivationFn> SampleLoss<L, A> {
    /// The network output `o(h)`.
    #[inline]
    pub fn output(&self, h: f64) -> f64 {
        self.activation.output(h)
    }

    /// `l'(y, h) = ell_o o'(h)`, adding `l(y, h)` to `losses`: the inner step of SGD.
    #[inline]
    pub fn slope_adding_loss(&self, y: f64, h: f64, losses: &mut LossSum) -> f64 {
        let ell_o = self.loss.slope_adding_loss(y, self.output(h), losses);
        if self.activation.is_identity() {
            ell_o
        } else {
            ell_o * self.activation.derivatives(h).0
        }
    }

    /// `(l, l')`: the loss and its derivative in `h`, `l' = ell_o o'(h)`.
    #[inline]
    pub fn value_and_slope(&self, y: f64, h: f64) -> (f64, f64) {
        let (ell, ell_o) = self.loss.ell_and_slope(y, self.output(h));
        if self.activation.is_identity() {
            (ell, ell_o)
        } else {
            (ell, ell_o * self.activation.derivatives(h).0)
        }
    }

    /// `l'' = ell_oo o'^2 + ell_o o''`, the curvature in `h`. For the door
    /// `ell_oo (2h)^2 + 2 ell_o`, which can be negative: the problem is then non-convex.
    #[inline]
    pub fn curvature(&self, y: f64, h: f64) -> f64 {
        let o = self.output(h);
        if self.activation.is_identity() {
            return self.loss.curvature(y, o);
        }
        let (d1, d2) = self.activation.derivatives(h);
        let (_, ell_o) = self.loss.ell_and_slope(y, o);
        self.loss.curvature(y, o) * d1 * d1 + ell_o * d2
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
        for loss in Loss::ALL {
            for activation in [
                Activation::Linear,
                Activation::Door { threshold: 0.7 },
                Activation::Tanh,
                Activation::Erf,
            ] {
                v.push(SampleLoss { loss, activation });
            }
        }
        v
    }

    #[test]
    fn relu_and_erf_outputs() {
        let relu = Activation::Relu;
        assert_eq!((relu.output(-0.5), relu.output(0.7)), (0.0, 0.7));
        assert_eq!(
            (relu.derivatives(-0.5), relu.derivatives(0.7)),
            ((0.0, 0.0), (1.0, 0.0))
        );
        assert!(!relu.is_smooth() && Activation::Erf.is_smooth());
        assert_eq!(
            (relu.preimages(0.4), relu.preimages(-0.4)),
            (vec![0.4], vec![])
        );
        // erf(h/sqrt 2) = 2 Phi(h) - 1: at h = 1, 0.682689492137...
        assert!((Activation::Erf.output(1.0) - 0.682_689_492_137_086).abs() < 1e-14);
        // Away from its kink the composed loss has the linear output's derivatives.
        let (square, lin) = (
            SampleLoss {
                loss: Loss::Square,
                activation: relu,
            },
            SampleLoss {
                loss: Loss::Square,
                activation: Activation::Linear,
            },
        );
        assert_eq!(
            square.value_and_slope(0.3, 1.2),
            lin.value_and_slope(0.3, 1.2)
        );
        assert_eq!(square.value_and_slope(0.3, -1.2), (0.045, 0.0));
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
                    if f.loss == Loss::Exponential && f.output(h).abs() > 50.0 {
                        continue; // exp(-y o) overflows far out: a divergence
                    }
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
    fn the_new_losses_have_their_textbook_values() {
        let on = |loss| SampleLoss {
            loss,
            activation: Activation::Linear,
        };
        // Margin y o = 0.4: inside the hinge's margin.
        let (y, h) = (-1.0, -0.4);
        assert_eq!(on(Loss::SquaredHinge).value_and_slope(y, h), (0.18, 0.6));
        assert_eq!(on(Loss::SquaredHinge).curvature(y, h), 1.0);
        assert_eq!(on(Loss::Hinge).value_and_slope(y, h), (0.6, 1.0));
        assert_eq!(on(Loss::Hinge).curvature(y, h), 0.0);
        let e = 0.4f64.exp().recip();
        assert_eq!(on(Loss::Exponential).value_and_slope(y, h), (e, e));
        assert_eq!(on(Loss::Exponential).curvature(y, h), e);
        // Beyond the margin the hinges are flat.
        assert_eq!(on(Loss::Hinge).value_and_slope(1.0, 1.5), (0.0, 0.0));
        assert_eq!(on(Loss::SquaredHinge).curvature(1.0, 1.5), 0.0);
        // Only the hinge has no curvature as a function; only square takes real labels.
        let kinked: Vec<Loss> = Loss::ALL
            .into_iter()
            .filter(|l| !l.has_curvature())
            .collect();
        assert_eq!(kinked, [Loss::Hinge]);
        let real: Vec<Loss> = Loss::ALL
            .into_iter()
            .filter(|l| !l.needs_sign_labels())
            .collect();
        assert_eq!(real, [Loss::Square]);
        // tanh: o' = 1 - tanh^2, o'' = -2 tanh (1 - tanh^2).
        let t = 0.3f64.tanh();
        assert_eq!(
            Activation::Tanh.derivatives(0.3),
            (1.0 - t * t, -2.0 * t * (1.0 - t * t))
        );
        // The exponential loss overflows to inf, never NaN, at huge negative margins.
        let (l, slope) = on(Loss::Exponential).value_and_slope(1.0, -1e3);
        assert!(l == f64::INFINITY && slope == f64::NEG_INFINITY);
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
