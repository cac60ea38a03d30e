//! The data models (theory.md sections 1-3), each one small piece: how a finite-d sample
//! and an effective sample draw their input and label, the scale `Delta` of the field's
//! noise, the mirror image of an effective sample, and the test observables as functions
//! of the order parameters `m`, `q`. A new model is a new variant here.
//!
//! * The mixture: `x = c v*/sqrt(d) + sqrt(Delta) z`, `y = y(c)`; the effective sample has
//!   `u = c + sqrt(Delta) zeta` and mirror `(c, zeta) -> (-c, -zeta)`.
//! * A teacher: `x = z`, `y = y(h0, eps)` with `h0 = v*·x/sqrt(d)`; the effective sample
//!   is the mixture's with `c = 0`, `Delta = 1` and `u = h0 ~ N(0, 1)`, mirror
//!   `(h0, eps) -> (-h0, -eps)` (linear, sign) or `(-h0, eps)` (square: the label is even).

use crate::config::{Activation, Clusters, Config, Data, Loss, Teacher};
use crate::losses::{ActivationFn, LossFn, SampleLoss};
use crate::observables::prob_below;
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

/// The data model of a [`Config`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum DataModel {
    /// The Gaussian mixture with cluster variance `delta`.
    Mixture { clusters: Clusters, delta: f64 },
    /// Teacher labels with label noise `noise`.
    Teacher { teacher: Teacher, noise: f64 },
}

impl DataModel {
    /// The model of `cfg`.
    pub fn of(cfg: &Config) -> Self {
        match cfg.data {
            Data::Mixture => DataModel::Mixture {
                clusters: cfg.clusters,
                delta: cfg.delta,
            },
            Data::Teacher(teacher) => DataModel::Teacher {
                teacher,
                noise: cfg.noise,
            },
        }
    }

    /// `Delta`: the variance of the noise part of `x` (1 for a teacher). The field is
    /// `h = u m + sqrt(Delta) g` (eq. 3.1).
    pub fn delta(&self) -> f64 {
        match *self {
            DataModel::Mixture { delta, .. } => delta,
            DataModel::Teacher { .. } => 1.0,
        }
    }

    /// `E[y^2]`, the labels' scale: 1 for labels ±1, `1 + noise` for the linear teacher
    /// and `E[h0^4] + noise = 3 + noise` for the square one.
    pub fn label_moment(&self) -> f64 {
        match *self {
            DataModel::Teacher {
                teacher: Teacher::Linear,
                noise,
            } => 1.0 + noise,
            DataModel::Teacher {
                teacher: Teacher::Square,
                noise,
            } => 3.0 + noise,
            _ => 1.0,
        }
    }

    /// Whether every label is ±1 (classification).
    pub fn labels_are_signs(&self) -> bool {
        !matches!(
            self,
            DataModel::Teacher {
                teacher: Teacher::Linear | Teacher::Square,
                ..
            }
        )
    }

    /// Whether a sample and its mirror image have the same label: the data are then
    /// symmetric under `v* -> -v*`, and `m = 0` is a fixed point of the dynamics.
    pub fn mirror_keeps_label(&self) -> bool {
        matches!(
            self,
            DataModel::Mixture {
                clusters: Clusters::Three { .. },
                ..
            } | DataModel::Teacher {
                teacher: Teacher::Square,
                ..
            }
        )
    }

    /// A teacher's label `y(h0, eps)`.
    fn teacher_label(teacher: Teacher, noise: f64, h0: f64, eps: f64) -> f64 {
        let noisy = |x: f64| x + noise.sqrt() * eps;
        match teacher {
            Teacher::Linear => noisy(h0),
            Teacher::Sign => {
                if noisy(h0) >= 0.0 {
                    1.0
                } else {
                    -1.0
                }
            }
            Teacher::Square => noisy(h0 * h0),
        }
    }

    /// A mirror pair of effective samples, `[(u, y), (u', y')]` (theory.md section 3).
    pub fn effective_pair<R: Rng>(&self, rng: &mut R) -> [(f64, f64); 2] {
        match *self {
            DataModel::Mixture { clusters, delta } => {
                let (c, label) = clusters.draw(rng.random());
                let zeta: f64 = rng.sample(StandardNormal);
                let u = c + delta.sqrt() * zeta;
                [(u, label), (-u, clusters.label(-c))]
            }
            DataModel::Teacher { teacher, noise } => {
                let h0: f64 = rng.sample(StandardNormal);
                let eps: f64 = rng.sample(StandardNormal);
                let mirror_eps = if teacher == Teacher::Square {
                    eps
                } else {
                    -eps
                };
                [
                    (h0, Self::teacher_label(teacher, noise, h0, eps)),
                    (-h0, Self::teacher_label(teacher, noise, -h0, mirror_eps)),
                ]
            }
        }
    }

    /// Draws one finite-d sample: appends its row `x` (as `f32`) to `rows` and returns
    /// its label. `v_star` has `|v*|^2 = d`.
    pub fn sample<R: Rng>(&self, v_star: &[f64], rng: &mut R, rows: &mut Vec<f32>) -> f64 {
        let inv_sqrt_d = 1.0 / (v_star.len() as f64).sqrt();
        match *self {
            DataModel::Mixture { clusters, delta } => {
                let (c, label) = clusters.draw(rng.random());
                for &v in v_star {
                    let z: f64 = rng.sample(StandardNormal);
                    rows.push((c * v * inv_sqrt_d + delta.sqrt() * z) as f32);
                }
                label
            }
            DataModel::Teacher { teacher, noise } => {
                let mut h0 = 0.0;
                for &v in v_star {
                    let z: f64 = rng.sample(StandardNormal);
                    h0 += v * z;
                    rows.push(z as f32);
                }
                let eps: f64 = rng.sample(StandardNormal);
                Self::teacher_label(teacher, noise, h0 * inv_sqrt_d, eps)
            }
        }
    }

    /// The classification error `P(y o(h) <= 0)` on a fresh sample; only for ±1 labels.
    pub fn test_error<A: ActivationFn>(&self, activation: &A, m: f64, q: f64) -> f64 {
        debug_assert!(self.labels_are_signs());
        let wrong = |y: f64, o: f64| f64::from(y * o <= 0.0);
        match *self {
            DataModel::Mixture { clusters, delta } => {
                if let Some(builtin) = activation.builtin() {
                    if let Some(e) = mixture_test_error(clusters, delta, builtin, m, q) {
                        return e;
                    }
                }
                let breaks = activation.sign_changes();
                self.mixture_expectation(
                    m,
                    q,
                    |_| breaks.clone(),
                    |y, h| wrong(y, activation.output(h)),
                )
            }
            DataModel::Teacher { noise, .. } => {
                let given = TeacherGivenField::new(m, q, noise);
                let mut breaks = activation.sign_changes();
                breaks.extend(given.label_breaks());
                gaussian_expectation(0.0, given.sd_h, &breaks, |h| {
                    let p = given.prob_positive(h);
                    let o = activation.output(h);
                    p * wrong(1.0, o) + (1.0 - p) * wrong(-1.0, o)
                })
            }
        }
    }

    /// `sum_c P(c) E[g(y(c), h) | c]` over the mixture's clusters, `h | c ~ N(c m, Delta
    /// (m^2 + q))`, with the panel edges `breaks(y)` for label `y`.
    fn mixture_expectation(
        &self,
        m: f64,
        q: f64,
        breaks: impl Fn(f64) -> Vec<f64>,
        g: impl Fn(f64, f64) -> f64,
    ) -> f64 {
        let DataModel::Mixture { clusters, delta } = *self else {
            unreachable!("a mixture's expectation")
        };
        let sd = (delta * (m * m + q).max(0.0)).sqrt();
        clusters
            .table()
            .into_iter()
            .map(|(c, p, y)| p * gaussian_expectation(c * m, sd, &breaks(y), |h| g(y, h)))
            .sum()
    }

    /// The expected loss `E[l(y, h)]` on a fresh sample (no ridge term): for any loss,
    /// the expectation of `ell(y, o(h))` over the field and the label given it (a
    /// Gaussian quadrature in each), with the closed forms of the square loss on the
    /// regression teachers as fast paths.
    pub fn test_loss<L: LossFn, A: ActivationFn>(
        &self,
        loss: &SampleLoss<L, A>,
        m: f64,
        q: f64,
    ) -> f64 {
        let mut roots = loss.activation.sign_changes();
        // Panel edges also where the loss has a kink for the label y (the hinges).
        let kinks = |y: f64| -> Vec<f64> {
            let levels = loss.loss.kinks(y);
            levels
                .iter()
                .flat_map(|&o| loss.activation.preimages(o))
                .collect()
        };
        match *self {
            DataModel::Mixture { .. } => self.mixture_expectation(
                m,
                q,
                |y| [roots.clone(), kinks(y)].concat(),
                |y, h| loss.value_and_slope(y, h).0,
            ),
            DataModel::Teacher { teacher, noise } => {
                let given = TeacherGivenField::new(m, q, noise);
                if teacher == Teacher::Sign {
                    roots.extend(given.label_breaks());
                    roots.extend(kinks(1.0));
                    roots.extend(kinks(-1.0));
                }
                let square = loss.loss.builtin() == Some(Loss::Square);
                gaussian_expectation(0.0, given.sd_h, &roots, |h| {
                    let o = loss.output(h);
                    // E[ell(y, o) | h], with h0 | h ~ N(mean, var).
                    let (mean, var) = (given.slope * h, given.var_h0);
                    let ell = |y: f64| loss.loss.ell_and_slope(y, o).0;
                    match teacher {
                        Teacher::Linear if square => 0.5 * ((mean - o).powi(2) + var + noise),
                        Teacher::Square if square => {
                            let h0_2 = mean * mean + var;
                            let h0_4 = mean.powi(4) + 6.0 * mean * mean * var + 3.0 * var * var;
                            0.5 * (h0_4 - 2.0 * o * h0_2 + o * o + noise)
                        }
                        // y | h ~ N(mean, var + noise).
                        Teacher::Linear => gauss_hermite(|x| ell(mean + (var + noise).sqrt() * x)),
                        // y = h0^2 + sqrt(noise) eps.
                        Teacher::Square => gauss_hermite(|x| {
                            let h0 = mean + var.sqrt() * x;
                            gauss_hermite(|e| ell(h0 * h0 + noise.sqrt() * e))
                        }),
                        Teacher::Sign => {
                            let p = given.prob_positive(h);
                            p * ell(1.0) + (1.0 - p) * ell(-1.0)
                        }
                    }
                })
            }
        }
    }
}

/// The 20 nodes (positive half) and weights of the Gauss-Hermite rule for `E[g(x)]`,
/// `x ~ N(0, 1)`: exact for polynomials up to degree 39.
const GH20_NODES: [f64; 10] = [
    0.346_964_157_081_355_9,
    1.042_945_348_802_751,
    1.745_247_320_814_126_8,
    2.458_663_611_172_368,
    3.189_014_816_553_389_6,
    3.943_967_350_657_316_3,
    4.734_581_334_046_055,
    5.578_738_805_893_201_5,
    6.510_590_157_013_654,
    7.619_048_541_679_758,
];
const GH20_WEIGHTS: [f64; 10] = [
    0.260_793_063_449_554_8,
    0.161_739_333_984_000_03,
    0.061_506_372_063_976_96,
    0.013_997_837_447_100_996,
    0.001_830_103_131_080_492_4,
    0.000_128_826_279_961_929_42,
    4.402_121_090_230_864_6e-6,
    6.127_490_259_982_928e-8,
    2.482_062_362_315_179_7e-10,
    1.257_800_672_437_926_4e-13,
];

/// `E[g(x)]` for `x ~ N(0, 1)` by 20-point Gauss-Hermite: the inner expectation over a
/// real label given the field, for losses without a closed form.
fn gauss_hermite(g: impl Fn(f64) -> f64) -> f64 {
    GH20_NODES
        .iter()
        .zip(&GH20_WEIGHTS)
        .map(|(&x, &w)| w * (g(x) + g(-x)))
        .sum()
}

/// A fresh teacher sample seen through the student's field: `h ~ N(0, m^2 + q)` and, given
/// `h`, `h0 ~ N(slope h, var_h0)` with `slope = m/(m^2+q)`, `var_h0 = q/(m^2+q)`.
struct TeacherGivenField {
    sd_h: f64,
    slope: f64,
    var_h0: f64,
    noise: f64,
}

impl TeacherGivenField {
    fn new(m: f64, q: f64, noise: f64) -> Self {
        let s2 = m * m + q.max(0.0);
        let (slope, var_h0) = if s2 > 0.0 {
            (m / s2, q.max(0.0) / s2)
        } else {
            (0.0, 1.0)
        };
        TeacherGivenField {
            sd_h: s2.sqrt(),
            slope,
            var_h0,
            noise,
        }
    }

    /// Panel edges around `h = 0`, where `P(y = +1 | h)` rises from 0 to 1 over a width
    /// `sqrt(var_h0 + noise)/|slope|` that can be far below one standard deviation of
    /// `h` (small `q` and `noise`): the quadrature then resolves the rise.
    fn label_breaks(&self) -> Vec<f64> {
        let width = (self.var_h0 + self.noise).sqrt() / self.slope.abs();
        if !width.is_finite() {
            return Vec::new();
        }
        [0.0, 0.5, 1.0, 2.0, 4.0, 8.0]
            .iter()
            .flat_map(|c| [-c * width, c * width])
            .collect()
    }

    /// `P(h0 + sqrt(noise) eps >= 0 | h)`, the probability of the sign teacher's `y = +1`.
    fn prob_positive(&self, h: f64) -> f64 {
        1.0 - prob_below(0.0, self.slope * h, (self.var_h0 + self.noise).sqrt())
    }
}

/// The closed-form test error of the mixture: `sum_c P(c) P(y(c) o(h) <= 0 | c)` with
/// `h | c ~ N(c m, Delta (m^2 + q))`, for the linear output and the door (`None` for
/// the others).
fn mixture_test_error(
    clusters: Clusters,
    delta: f64,
    activation: Activation,
    m: f64,
    q: f64,
) -> Option<f64> {
    let sd = (delta * (m * m + q).max(0.0)).sqrt();
    let mut e = 0.0;
    for (c, p, y) in clusters.table() {
        let mean = c * m;
        let wrong = match activation {
            // y o <= 0  <=>  y h <= 0 (erf(h/sqrt 2) has the sign of h).
            Activation::Linear | Activation::Erf => {
                if y > 0.0 {
                    prob_below(0.0, mean, sd)
                } else {
                    prob_below(0.0, -mean, sd)
                }
            }
            // o = h^2 - theta: inside the door |h| < sqrt(theta) the output is negative.
            Activation::Door { threshold } => {
                let r = threshold.sqrt();
                let below = prob_below(-r, mean, sd);
                let above = prob_below(-r, -mean, sd);
                if y > 0.0 {
                    1.0 - below - above
                } else {
                    below + above
                }
            }
            // The other outputs go through the general quadrature.
            _ => return None,
        };
        e += p * wrong;
    }
    Some(e)
}

/// Nodes and weights of the 8-point Gauss-Legendre rule on `[-1, 1]` (positive half).
const GL8_NODES: [f64; 4] = [
    0.183_434_642_495_649_8,
    0.525_532_409_916_329,
    0.796_666_477_413_626_7,
    0.960_289_856_497_536_3,
];
const GL8_WEIGHTS: [f64; 4] = [
    0.362_683_783_378_362,
    0.313_706_645_877_887_3,
    0.222_381_034_453_374_5,
    0.101_228_536_290_376_3,
];

/// Standard deviations covered: the normal density beyond 9 sd is below 1e-17.
const REACH: f64 = 9.0;

/// Widest panel, in standard deviations: few enough evaluations for a call every step of
/// every replica, and 8 points per panel still integrate the Gaussian weight to ~1e-12.
const PANEL: f64 = 1.5;

/// `E[g(h)]` for `h ~ N(mean, sd^2)` by composite 8-point Gauss-Legendre over
/// `mean ± 9 sd`, in panels at most 1.5 sd wide that never straddle a point of `breaks`
/// (where `g` may jump). Exact to ~1e-12 for smooth `g`; `g(mean)` for `sd = 0`.
pub(crate) fn gaussian_expectation(
    mean: f64,
    sd: f64,
    breaks: &[f64],
    g: impl Fn(f64) -> f64,
) -> f64 {
    if sd <= 0.0 {
        return g(mean);
    }
    let mut cuts = vec![-REACH, REACH];
    cuts.extend(
        breaks
            .iter()
            .map(|b| (b - mean) / sd)
            .filter(|x| x.abs() < REACH),
    );
    cuts.sort_by(f64::total_cmp);
    let density = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let mut total = 0.0;
    for pair in cuts.windows(2) {
        let panels = ((pair[1] - pair[0]) / PANEL).ceil().max(1.0) as usize;
        let width = (pair[1] - pair[0]) / panels as f64;
        for i in 0..panels {
            let centre = pair[0] + (i as f64 + 0.5) * width;
            for (&node, &weight) in GL8_NODES.iter().zip(&GL8_WEIGHTS) {
                for x in [centre - 0.5 * width * node, centre + 0.5 * width * node] {
                    total += 0.5 * width * weight * density(x) * g(mean + sd * x);
                }
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Loss;
    use crate::observables::normal_cdf;

    fn teacher(teacher: Teacher, noise: f64) -> DataModel {
        DataModel::Teacher { teacher, noise }
    }

    #[test]
    fn gauss_legendre_integrates_gaussian_moments() {
        let moments = [(0, 1.0), (2, 4.0), (4, 3.0 * 16.0), (8, 105.0 * 256.0)];
        for (k, expected) in moments {
            let got = gaussian_expectation(1.0, 2.0, &[0.3], |h| (h - 1.0).powi(k));
            assert!(
                (got - expected).abs() < 1e-11 * expected,
                "moment {k}: {got}"
            );
        }
        // A jump of g is integrated exactly when it is a break point.
        let with_break = gaussian_expectation(0.0, 1.0, &[0.7], |h| f64::from(h < 0.7));
        assert!((with_break - normal_cdf(0.7)).abs() < 1e-14);
    }

    #[test]
    fn teacher_test_loss_has_closed_forms() {
        let square = SampleLoss {
            loss: Loss::Square,
            activation: Activation::Linear,
        };
        let (m, q, noise) = (0.6, 0.3, 0.2);
        // Linear teacher: E[(y - h)^2]/2 = ((1 - m)^2 + q + noise)/2.
        let got = teacher(Teacher::Linear, noise).test_loss(&square, m, q);
        assert!((got - 0.5 * ((1.0 - m).powi(2) + q + noise)).abs() < 1e-13);
        // Square teacher, square student: E[(h0^2 + sqrt(n) eps - h^2)^2]/2 with
        // E h0^4 = 3, E h^4 = 3 s^4, E h0^2 h^2 = s^2 + 2 m^2.
        let pr = SampleLoss {
            loss: Loss::Square,
            activation: Activation::Door { threshold: 0.0 },
        };
        let s2 = m * m + q;
        let expected = 0.5 * (3.0 + 3.0 * s2 * s2 - 2.0 * (s2 + 2.0 * m * m) + noise);
        let got = teacher(Teacher::Square, noise).test_loss(&pr, m, q);
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    }

    #[test]
    fn sign_teacher_test_error_is_the_angle() {
        // P(sign(h) != sign(h0 + sqrt(noise) eps)) = arccos(rho)/pi.
        for (m, q, noise) in [
            (0.5f64, 0.5f64, 0.0f64),
            (1.0, 1e-4, 0.0),
            (1.0, 1e-8, 0.0),
            (0.9, 1e-6, 1e-6),
            (1.2, 0.1, 0.3),
            (0.0, 1.0, 0.0),
            (-0.4, 0.2, 1.0),
        ] {
            let rho = m / ((m * m + q) * (1.0 + noise)).sqrt();
            let expected = rho.acos() / std::f64::consts::PI;
            let got = teacher(Teacher::Sign, noise).test_error(&Activation::Linear, m, q);
            assert!(
                (got - expected).abs() < 1e-8 * expected,
                "{m} {q} {noise}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn mixture_test_loss_of_the_square_loss() {
        // Two clusters, linear output: E[(c - h)^2]/2 = ((1 - m)^2 + Delta (m^2 + q))/2.
        let model = DataModel::Mixture {
            clusters: Clusters::Two,
            delta: 0.5,
        };
        let square = SampleLoss {
            loss: Loss::Square,
            activation: Activation::Linear,
        };
        let (m, q) = (0.7f64, 0.4f64);
        let expected = 0.5 * ((1.0 - m).powi(2) + 0.5 * (m * m + q));
        assert!((model.test_loss(&square, m, q) - expected).abs() < 1e-13);
    }

    /// A built-in loss seen as a user's: no closed forms, the general integral.
    #[derive(Debug)]
    struct Opaque(Loss);
    impl LossFn for Opaque {
        fn name(&self) -> &str {
            "opaque"
        }
        fn ell_and_slope(&self, y: f64, o: f64) -> (f64, f64) {
            self.0.ell_and_slope(y, o)
        }
        fn curvature(&self, y: f64, o: f64) -> f64 {
            self.0.curvature(y, o)
        }
    }

    #[derive(Debug)]
    struct OpaqueActivation(Activation);
    impl ActivationFn for OpaqueActivation {
        fn name(&self) -> &str {
            "opaque"
        }
        fn output(&self, h: f64) -> f64 {
            self.0.output(h)
        }
        fn derivatives(&self, h: f64) -> (f64, f64) {
            self.0.derivatives(h)
        }
        fn sign_changes(&self) -> Vec<f64> {
            self.0.sign_changes()
        }
    }

    #[test]
    fn closed_forms_equal_the_general_integral() {
        let (m, q) = (0.6, 0.3);
        for (t, activation) in [
            (Teacher::Linear, Activation::Linear),
            (Teacher::Linear, Activation::Tanh),
            (Teacher::Square, Activation::Door { threshold: 0.0 }),
            (Teacher::Square, Activation::Door { threshold: 0.5 }),
        ] {
            for noise in [0.0, 0.3] {
                let model = teacher(t, noise);
                let fast = model.test_loss(
                    &SampleLoss {
                        loss: Loss::Square,
                        activation,
                    },
                    m,
                    q,
                );
                let general = SampleLoss {
                    loss: Opaque(Loss::Square),
                    activation,
                };
                let slow = model.test_loss(&general, m, q);
                assert!(
                    (fast - slow).abs() < 1e-10 * fast,
                    "{t:?} {activation:?}: {fast} vs {slow}"
                );
            }
        }
        for clusters in [Clusters::Two, Clusters::Three { rho: 0.3 }] {
            let model = DataModel::Mixture {
                clusters,
                delta: 0.5,
            };
            for activation in [Activation::Linear, Activation::Door { threshold: 0.8 }] {
                let fast = model.test_error(&activation, m, q);
                let slow = model.test_error(&OpaqueActivation(activation), m, q);
                assert!(
                    (fast - slow).abs() < 1e-12,
                    "{clusters:?} {activation:?}: {fast} vs {slow}"
                );
            }
        }
    }

    /// Every built-in loss on every data model it applies to, with each built-in output:
    /// the test loss and error are the means over fresh samples (h = u m + sqrt(Delta q) g
    /// from the effective samples' u, y), within 4.5 standard errors.
    #[test]
    fn test_observables_are_the_mean_over_fresh_samples() {
        let (m, q) = (0.7, 0.4);
        let models = [
            DataModel::Mixture {
                clusters: Clusters::Two,
                delta: 0.5,
            },
            DataModel::Mixture {
                clusters: Clusters::Three { rho: 0.4 },
                delta: 0.5,
            },
            teacher(Teacher::Sign, 0.2),
            teacher(Teacher::Linear, 0.3),
            teacher(Teacher::Square, 0.3),
        ];
        let activations = [
            Activation::Linear,
            Activation::Door { threshold: 0.5 },
            Activation::Tanh,
            Activation::Erf,
            Activation::Relu,
        ];
        let n = 200_000;
        let mut rng = crate::rng::stream(7, crate::rng::Domain::Replica, 0);
        let draws: Vec<Vec<(f64, f64)>> = models
            .iter()
            .map(|model| {
                (0..n / 2)
                    .flat_map(|_| {
                        let pair = model.effective_pair(&mut rng);
                        let g: [f64; 2] = [rng.sample(StandardNormal), rng.sample(StandardNormal)];
                        let sd = (model.delta() * q).sqrt();
                        [
                            (pair[0].0 * m + sd * g[0], pair[0].1),
                            (pair[1].0 * m + sd * g[1], pair[1].1),
                        ]
                    })
                    .collect()
            })
            .collect();
        let mean_se = |values: &[f64]| {
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let var =
                values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64;
            (mean, (var / values.len() as f64).sqrt())
        };
        let mut checked = 0;
        for (model, samples) in models.iter().zip(&draws) {
            for loss in Loss::ALL {
                if loss.needs_sign_labels() && !model.labels_are_signs() {
                    continue;
                }
                for activation in activations {
                    if loss == Loss::Exponential && matches!(activation, Activation::Door { .. }) {
                        // exp(-y (h^2 - theta)) has heavy tails: no finite variance to test with.
                        continue;
                    }
                    let f = SampleLoss { loss, activation };
                    let losses: Vec<f64> = samples
                        .iter()
                        .map(|&(h, y)| f.value_and_slope(y, h).0)
                        .collect();
                    let (mean, se) = mean_se(&losses);
                    let exact = model.test_loss(&f, m, q);
                    assert!(
                        (exact - mean).abs() < 4.5 * se,
                        "{model:?} {loss:?} {activation:?}: {exact} vs {mean} ± {se}"
                    );
                    if model.labels_are_signs() {
                        let wrong: Vec<f64> = samples
                            .iter()
                            .map(|&(h, y)| f64::from(f.misclassified(y, h)))
                            .collect();
                        let (mean, se) = mean_se(&wrong);
                        let exact = model.test_error(&activation, m, q);
                        assert!(
                            (exact - mean).abs() < 4.5 * se,
                            "{model:?} {activation:?}: error {exact} vs {mean} ± {se}"
                        );
                    }
                    checked += 1;
                }
            }
        }
        // 5 sign-label model-loss pairs per model x 3 + 2 regression models x 1, each with
        // 5 outputs, less the exponential loss with the door.
        assert_eq!(checked, 5 * (3 * 5 + 2) - 3);
    }

    #[test]
    fn mirror_pairs_flip_the_field_and_keep_or_flip_the_label() {
        let mut rng = crate::rng::stream(1, crate::rng::Domain::Replica, 0);
        for t in [Teacher::Linear, Teacher::Sign, Teacher::Square] {
            let [(u, y), (u2, y2)] = teacher(t, 0.5).effective_pair(&mut rng);
            assert_eq!(u2, -u);
            match t {
                Teacher::Square => assert_eq!(y2, y),
                _ => assert_eq!(y2, -y),
            }
        }
    }
}
