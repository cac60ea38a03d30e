//! The model and optimiser settings (theory.md section 1), validated in one place.

use crate::error::{Error, Result};

mod flat;
pub use flat::{FieldKind, FieldSpec, FlatConfig, LearningRate, DEFAULT_TEACHER};

/// Which Gaussian mixture the data come from.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Clusters {
    /// `c = ±1` with probability 1/2 each, label `y = c`.
    Two,
    /// `c = -1, 0, +1` with probability `rho/2, 1-rho, rho/2`; label `+1` for `c ≠ 0`.
    Three {
        /// Mass of the two outer clusters, `0 < rho < 1`.
        rho: f64,
    },
}

impl Clusters {
    /// The clusters as `(c, P(c), y(c))`.
    pub fn table(&self) -> Vec<(f64, f64, f64)> {
        match *self {
            Clusters::Two => vec![(-1.0, 0.5, -1.0), (1.0, 0.5, 1.0)],
            Clusters::Three { rho } => vec![
                (-1.0, rho / 2.0, 1.0),
                (0.0, 1.0 - rho, -1.0),
                (1.0, rho / 2.0, 1.0),
            ],
        }
    }

    /// The label `y(c)` of cluster `c`.
    pub fn label(&self, c: f64) -> f64 {
        match *self {
            Clusters::Two => c,
            Clusters::Three { .. } => {
                if c != 0.0 {
                    1.0
                } else {
                    -1.0
                }
            }
        }
    }

    /// Draws a cluster centre `c` and its label `y` from a uniform number `u ∈ [0, 1)`.
    pub fn draw(&self, u: f64) -> (f64, f64) {
        let c = match *self {
            Clusters::Two => {
                if u < 0.5 {
                    -1.0
                } else {
                    1.0
                }
            }
            Clusters::Three { rho } => {
                if u < rho / 2.0 {
                    -1.0
                } else if u < rho {
                    1.0
                } else {
                    0.0
                }
            }
        };
        (c, self.label(c))
    }
}

/// Where the data come from (theory.md section 1); each model's pieces are in `data.rs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Data {
    /// The Gaussian mixture of [`Config::clusters`] with variance [`Config::delta`].
    Mixture,
    /// `x ~ N(0, I_d)`, labels from the teacher field `h0 = v*·x/sqrt(d)`.
    Teacher(Teacher),
}

impl Data {
    /// The name used by the Python API and the command line: `"mixture"` or `"teacher"`.
    pub fn name(&self) -> &'static str {
        match self {
            Data::Mixture => "mixture",
            Data::Teacher(_) => "teacher",
        }
    }
}

/// How a teacher labels its field `h0`, with `eps ~ N(0, 1)` and `noise` = [`Config::noise`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Teacher {
    /// `y = h0 + sqrt(noise) eps` (regression).
    Linear,
    /// `y = sign(h0 + sqrt(noise) eps)` (the noisy perceptron, labels ±1).
    Sign,
    /// `y = h0^2 + sqrt(noise) eps` (phase retrieval).
    Square,
}

impl Teacher {
    /// The name used by the Python API: `"linear"`, `"sign"` or `"square"`.
    pub fn name(&self) -> &'static str {
        match self {
            Teacher::Linear => "linear",
            Teacher::Sign => "sign",
            Teacher::Square => "square",
        }
    }
}

impl std::str::FromStr for Teacher {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "linear" => Ok(Teacher::Linear),
            "sign" => Ok(Teacher::Sign),
            "square" => Ok(Teacher::Square),
            _ => Err(Error::invalid(
                "teacher",
                format!("must be 'linear', 'sign' or 'square', got '{s}'"),
            )),
        }
    }
}

/// The built-in pointwise losses `ell(y, o)` ([`LossFn`](crate::LossFn) says what a
/// loss is; implement it for your own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Loss {
    /// `log(1 + exp(-y o))` (labels ±1).
    Logistic,
    /// `(y - o)^2 / 2`.
    Square,
    /// `max(0, 1 - y o)^2 / 2` (labels ±1).
    SquaredHinge,
    /// `exp(-y o)` (labels ±1).
    Exponential,
    /// `max(0, 1 - y o)` (labels ±1; SGD only: its curvature is a delta, which the DMFT
    /// cannot sample).
    Hinge,
}

impl Loss {
    /// Every built-in loss.
    pub const ALL: [Loss; 5] = [
        Loss::Logistic,
        Loss::Square,
        Loss::SquaredHinge,
        Loss::Exponential,
        Loss::Hinge,
    ];

    /// The loss used when none is given: logistic for labels ±1 (the mixture, the sign
    /// teacher), square for real-valued labels (the linear and square teachers).
    pub fn default_for(labels_are_signs: bool) -> Loss {
        if labels_are_signs {
            Loss::Logistic
        } else {
            Loss::Square
        }
    }

    /// The name used by the Python API and the command line, e.g. `"logistic"`.
    pub fn name(&self) -> &'static str {
        match self {
            Loss::Logistic => "logistic",
            Loss::Square => "square",
            Loss::SquaredHinge => "squared_hinge",
            Loss::Exponential => "exponential",
            Loss::Hinge => "hinge",
        }
    }
}

impl std::str::FromStr for Loss {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Loss::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| {
                let names: Vec<String> = Loss::ALL
                    .iter()
                    .map(|l| format!("'{}'", l.name()))
                    .collect();
                Error::invalid(
                    "loss",
                    format!("must be one of {}, got '{s}'", names.join(", ")),
                )
            })
    }
}

/// The built-in outputs `o(h)` of the network given its field `h`
/// ([`ActivationFn`](crate::ActivationFn) says what an output function is; implement it
/// for your own).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Activation {
    /// `o = h`.
    Linear,
    /// `o = h^2 - theta` (the symmetric door `sign(|h| - sqrt(theta))`; with `theta = 0`
    /// the phase-retrieval student `o = h^2`).
    Door {
        /// The threshold `theta >= 0` (`threshold` in the API).
        threshold: f64,
    },
    /// `o = tanh(h)`.
    Tanh,
    /// `o = erf(h / sqrt 2)`, the Saad-Solla unit: a smooth sigmoid with Gaussian
    /// integrals in closed form.
    Erf,
    /// `o = max(h, 0)`. Its `o''` is a delta at `h = 0` whose term in the DMFT's response
    /// does not vanish in expectation: simulations only (the DMFT refuses it).
    Relu,
}

impl Activation {
    /// The name used by the Python API and the command line: `"linear"`, `"door"`,
    /// `"tanh"`, `"erf"` or `"relu"`.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Door { .. } => "door",
            Activation::Tanh => "tanh",
            Activation::Erf => "erf",
            Activation::Relu => "relu",
        }
    }

    /// The output used when none is given: linear, except the door with threshold
    /// [`DEFAULT_THRESHOLD`] for three clusters (a linear output cannot separate the centre
    /// cluster from the outer ones) and the phase-retrieval student `o = h^2` for the
    /// square teacher.
    pub fn default_for(data: Data, clusters: Clusters) -> Activation {
        match (data, clusters) {
            (Data::Teacher(Teacher::Square), _) => Activation::Door { threshold: 0.0 },
            (Data::Teacher(_), _) | (Data::Mixture, Clusters::Two) => Activation::Linear,
            (Data::Mixture, Clusters::Three { .. }) => Activation::Door {
                threshold: DEFAULT_THRESHOLD,
            },
        }
    }

    /// The door's threshold when a door is asked for without one: 0 (`o = h^2`) for the
    /// square teacher, [`DEFAULT_THRESHOLD`] otherwise.
    pub fn default_threshold(data: Data) -> f64 {
        match data {
            Data::Teacher(Teacher::Square) => 0.0,
            _ => DEFAULT_THRESHOLD,
        }
    }
}

/// The default mass `rho` of the two outer clusters (the Python API's `rho` default).
pub const DEFAULT_RHO: f64 = 0.5;

/// The default door threshold `theta` (the Python API's `threshold` default), used by the
/// door that three clusters get when no activation is given.
pub const DEFAULT_THRESHOLD: f64 = 1.0;

/// The default cluster variance `Delta` (the Python API's `delta` default).
pub const DEFAULT_DELTA: f64 = 0.5;

/// The default initial overlap where `m = 0` is a fixed point of the dynamics (three
/// clusters, the square teacher: the data are symmetric under `v* -> -v*`), an unstable
/// one, so the run must start off it.
pub const DEFAULT_SYMMETRIC_M0: f64 = 0.1;

/// All settings of one run.
///
/// The settings whose default depends on others are `Option`s, `None` meaning "the
/// default for this model", as `None` does in the Python API. Read them through the
/// resolving accessors [`Config::tau()`], [`Config::m0()`], [`Config::loss()`] and [`Config::activation()`],
/// the one place where those defaults are decided:
///
/// ```
/// use dmft_sgd::{Activation, Clusters, Config, Data, Loss, Teacher};
///
/// let cfg = Config { clusters: Clusters::Three { rho: 0.5 }, ..Config::default() };
/// assert_eq!(cfg.activation(), Activation::Door { threshold: 1.0 });
/// assert_eq!(cfg.m0(), 0.1);
/// assert_eq!(cfg.tau(), cfg.lr / cfg.batch); // plain SGD
///
/// // Phase retrieval: the student o = h^2, started off the fixed point m = 0.
/// let pr = Config { data: Data::Teacher(Teacher::Square), ..Config::default() };
/// assert_eq!(pr.loss(), Loss::Square); // real-valued labels
/// assert_eq!(pr.activation(), Activation::Door { threshold: 0.0 });
/// assert_eq!(pr.m0(), 0.1);
/// ```
#[derive(Clone, Debug, PartialEq)]
// Serialised as its flat form, the document the Python API and result files use; fields
// missing from it (e.g. one written before they existed) take their defaults.
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "FlatConfig", into = "FlatConfig")
)]
pub struct Config {
    /// Data model: the mixture or a teacher.
    pub data: Data,
    /// The mixture's clusters (must stay [`Clusters::Two`] for a teacher).
    pub clusters: Clusters,
    /// Sample ratio `alpha = n / d > 0`.
    pub alpha: f64,
    /// The mixture's cluster variance `Delta > 0` (must stay [`DEFAULT_DELTA`] for a
    /// teacher, whose data have `Delta = 1`).
    pub delta: f64,
    /// A teacher's label noise `noise >= 0` (must stay 0 for the mixture).
    pub noise: f64,
    /// Pointwise loss; `None` is [`Loss::default_for`] the labels (see [`Config::loss()`]).
    pub loss: Option<Loss>,
    /// Output function; `None` is [`Activation::default_for`] the data model (see
    /// [`Config::activation()`]).
    pub activation: Option<Activation>,
    /// Ridge `lambda >= 0`.
    pub lam: f64,
    /// Langevin temperature `>= 0`: `sqrt(2 lr temperature) xi_k` is added to each step.
    pub temperature: f64,
    /// Learning rate `eta`, which is the time step `dt` (with [`Config::lr_schedule`], the
    /// first step's, which is also the reference step `dt_0` of the DMFT's response).
    pub lr: f64,
    /// The learning rate `eta_k` of every step (`steps` entries, the first equal to
    /// `lr`); `None`: `lr` at every step. Physical time is `t_k = sum_{j<k} eta_j`, and
    /// every `dt` of both engines is the step's own (theory.md section 1).
    pub lr_schedule: Option<Vec<f64>>,
    /// Momentum `beta ∈ [0, 1)` (PyTorch's `SGD(momentum=beta)`: `v_{k+1} = beta v_k +
    /// g_k`, `w_{k+1} = w_k - lr v_{k+1}`); 0 is plain SGD.
    pub momentum: f64,
    /// Nesterov's momentum (`w_{k+1} = w_k - lr (g_k + beta v_{k+1})`), with
    /// `momentum > 0`.
    pub nesterov: bool,
    /// Batch fraction `b ∈ (0, 1]`.
    pub batch: f64,
    /// Persistence time `tau` of the mini-batch chain; `None` is plain SGD, `lr / batch`
    /// (see [`Config::tau()`]).
    pub tau: Option<f64>,
    /// Whether a sample in the batch is weighted by `1/batch` (the expected stochastic
    /// gradient is then the full-batch one).
    pub normalize_batch: bool,
    /// Number of time steps `T`.
    pub steps: usize,
    /// Initial overlap `m0`; `None` is 0, or [`DEFAULT_SYMMETRIC_M0`] where `m = 0` is a
    /// fixed point (see [`Config::m0()`]).
    pub m0: Option<f64>,
    /// Initial `|w_perp|^2 / d`, `q0 > 0`.
    pub q0: f64,
    /// Hidden units `K >= 1` of the student: with `K > 1` (or a `second_layer`) the
    /// committee `o = sum_k a_k sigma(h_k)`, `sigma` the `activation` (simulations only
    /// for now; theory.md section 8).
    pub hidden: usize,
    /// The fixed second layer `a` of the committee (`hidden` entries); `None`: `1/K` each.
    pub second_layer: Option<Vec<f64>>,
    /// Hidden units `K* >= 1` of the teacher (the linear and sign teachers):
    /// `y = (1/K*) sum_j sigma*(h*_j) + sqrt(noise) eps` (or its sign) with orthogonal
    /// directions `w*_j`, `|w*_j|^2 = d`.
    pub teacher_hidden: usize,
    /// The teacher's unit `sigma*` ([`Activation::Linear`]: the single-direction teacher).
    pub teacher_activation: Activation,
}

impl Default for Config {
    /// The API defaults: two clusters, full-batch gradient descent, no noise, and `None`
    /// (the model's default) for `loss`, `activation`, `tau` and `m0`.
    fn default() -> Self {
        Config {
            data: Data::Mixture,
            clusters: Clusters::Two,
            alpha: 2.0,
            delta: DEFAULT_DELTA,
            noise: 0.0,
            loss: None,
            activation: None,
            lam: 0.0,
            temperature: 0.0,
            lr: 0.1,
            lr_schedule: None,
            momentum: 0.0,
            nesterov: false,
            batch: 1.0,
            tau: None,
            normalize_batch: false,
            steps: 100,
            m0: None,
            q0: 1.0,
            hidden: 1,
            second_layer: None,
            teacher_hidden: 1,
            teacher_activation: Activation::Linear,
        }
    }
}

/// Most hidden units of a student or a teacher.
pub const MAX_UNITS: usize = 256;

/// Relative slack when comparing `tau` with its lower bounds, so that `tau = lr / batch`
/// computed in floating point is accepted.
const TAU_SLACK: f64 = 1e-12;

/// Largest number of time steps accepted (the DMFT stores T x T matrices).
pub const MAX_STEPS: usize = 1_000_000;

/// Largest magnitude accepted for the real-valued parameters: far beyond any sensible
/// setting, small enough that products of a few of them stay finite.
pub const MAX_PARAMETER: f64 = 1e6;

/// `x ∈ (0, MAX_PARAMETER]`.
fn positive(name: &str, x: f64) -> Result<()> {
    if x > 0.0 && x <= MAX_PARAMETER {
        Ok(())
    } else {
        Err(Error::invalid(
            name,
            format!("must be in (0, {MAX_PARAMETER:e}], got {x}"),
        ))
    }
}

/// The outer mass `rho ∈ (0, 1)` of three clusters.
fn check_rho(rho: f64) -> Result<()> {
    if rho.is_finite() && rho > 0.0 && rho < 1.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            "rho",
            format!("must be in (0, 1), got {rho}"),
        ))
    }
}

/// `x ∈ [0, MAX_PARAMETER]`.
fn non_negative(name: &str, x: f64) -> Result<()> {
    if (0.0..=MAX_PARAMETER).contains(&x) {
        Ok(())
    } else {
        Err(Error::invalid(
            name,
            format!("must be in [0, {MAX_PARAMETER:e}], got {x}"),
        ))
    }
}

impl Config {
    /// Refuses settings of another data model changed from their defaults, and the
    /// logistic loss on real-valued labels.
    fn check_data_model(&self) -> Result<()> {
        let not_for = |name: &str, value: String| {
            Err(Error::invalid(
                name,
                format!(
                    "applies only to data='{}', got {value} with data='{}' (leave it at its default)",
                    if self.data == Data::Mixture { "teacher" } else { "mixture" },
                    self.data.name()
                ),
            ))
        };
        match self.data {
            Data::Mixture if self.noise != 0.0 => return not_for("noise", self.noise.to_string()),
            Data::Teacher(_) if self.clusters != Clusters::Two => {
                return not_for("clusters", "3".into())
            }
            Data::Teacher(_) if self.delta != DEFAULT_DELTA => {
                return not_for("delta", self.delta.to_string())
            }
            _ => {}
        }
        self.check_loss(&self.loss())
    }

    /// Refuses a loss that needs labels ±1 on a model with real-valued labels.
    pub fn check_loss<L: crate::LossFn>(&self, loss: &L) -> Result<()> {
        if loss.needs_sign_labels() && !self.labels_are_signs() {
            let teacher = match self.data {
                Data::Teacher(t) => t.name(),
                _ => "",
            };
            return Err(Error::invalid(
                "loss",
                format!(
                    "'{}' needs labels ±1, but teacher='{teacher}' gives real-valued \
                     labels: use loss='square' (or teacher='sign')",
                    loss.name()
                ),
            ));
        }
        Ok(())
    }

    /// The persistence time of plain SGD: every step each sample is in the batch
    /// independently with probability `batch`.
    pub fn plain_sgd_tau(lr: f64, batch: f64) -> f64 {
        lr / batch
    }

    /// The initial overlap used when none is given: [`DEFAULT_SYMMETRIC_M0`] where the
    /// data are symmetric under `v* -> -v*`, so that `m = 0` is a fixed point (three
    /// clusters, the square teacher), else 0.
    pub fn default_m0(&self) -> f64 {
        if self.model().mirror_keeps_label() {
            DEFAULT_SYMMETRIC_M0
        } else {
            0.0
        }
    }

    /// The data model's pieces (theory.md section 1).
    pub(crate) fn model(&self) -> crate::data::DataModel {
        crate::data::DataModel::of(self)
    }

    /// Whether labels are ±1 (the mixture, the sign teacher): only then are the training
    /// and test errors defined (they are empty series otherwise) and the logistic loss
    /// allowed.
    pub fn labels_are_signs(&self) -> bool {
        self.model().labels_are_signs()
    }

    /// The weight of a sample in the batch: `1/batch` with [`Config::normalize_batch`],
    /// else 1.
    pub fn batch_weight(&self) -> f64 {
        if self.normalize_batch {
            1.0 / self.batch
        } else {
            1.0
        }
    }

    /// The persistence time in use: `tau`, or [`Config::plain_sgd_tau`] if `None` (with
    /// a schedule, plain SGD's `tau` follows the step: `eta_k / b`).
    pub fn tau(&self) -> f64 {
        self.tau
            .unwrap_or_else(|| Self::plain_sgd_tau(self.lr, self.batch))
    }

    /// The initial overlap in use: `m0`, or [`Config::default_m0`] if `None`.
    pub fn m0(&self) -> f64 {
        self.m0.unwrap_or_else(|| self.default_m0())
    }

    /// The loss in use: `loss`, or [`Loss::default_for`] the labels if `None`.
    pub fn loss(&self) -> Loss {
        self.loss
            .unwrap_or_else(|| Loss::default_for(self.labels_are_signs()))
    }

    /// The loss of one sample as a function of its field, `l(y, h) = ell(y, o(h))`,
    /// with the loss and output in use.
    pub fn sample_loss(&self) -> crate::losses::SampleLoss {
        crate::losses::SampleLoss {
            loss: self.loss(),
            activation: self.activation(),
        }
    }

    /// The output function in use: `activation`, or [`Activation::default_for`] the
    /// data if `None`.
    pub fn activation(&self) -> Activation {
        self.activation
            .unwrap_or_else(|| Activation::default_for(self.data, self.clusters))
    }

    /// A copy with every `None` replaced by the value in use; runs the same dynamics.
    pub fn resolved(&self) -> Config {
        Config {
            loss: Some(self.loss()),
            activation: Some(self.activation()),
            // Plain SGD under a schedule has no single tau: it stays None (lr_k / b).
            tau: match (&self.lr_schedule, self.tau) {
                (Some(_), None) => None,
                _ => Some(self.tau()),
            },
            m0: Some(self.m0()),
            ..self.clone()
        }
    }

    /// Checks every field, with the `None` defaults resolved; the error names the first
    /// bad parameter and its allowed range.
    pub fn validate(&self) -> Result<()> {
        if let Clusters::Three { rho } = self.clusters {
            check_rho(rho)?;
        }
        positive("alpha", self.alpha)?;
        positive("delta", self.delta)?;
        non_negative("noise", self.noise)?;
        self.check_data_model()?;
        if let Activation::Door { threshold } = self.activation() {
            non_negative("threshold", threshold)?;
            if self.loss() == Loss::Exponential {
                return Err(Error::invalid(
                    "loss",
                    "'exponential' with the door output: exp(-y (h^2 - theta)) grows like \
                     exp(h^2), so its expectation over the Gaussian field is infinite or set by \
                     far tails and the test loss cannot be computed; use 'logistic' or \
                     'squared_hinge' with the door",
                ));
            }
        }
        non_negative("lam", self.lam)?;
        non_negative("temperature", self.temperature)?;
        if !(self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum)) {
            return Err(Error::invalid(
                "momentum",
                format!("must be in [0, 1), got {}", self.momentum),
            ));
        }
        if self.nesterov && self.momentum == 0.0 {
            return Err(Error::invalid(
                "nesterov",
                "needs momentum > 0 (Nesterov's look-ahead is along the momentum)",
            ));
        }
        if !(self.batch.is_finite() && self.batch > 0.0 && self.batch <= 1.0) {
            return Err(Error::invalid(
                "batch",
                format!("must be in (0, 1], got {}", self.batch),
            ));
        }
        if self.steps == 0 || self.steps > MAX_STEPS {
            return Err(Error::invalid(
                "steps",
                format!("must be in [1, {MAX_STEPS}], got {}", self.steps),
            ));
        }
        if let Some(rates) = &self.lr_schedule {
            if rates.len() != self.steps {
                return Err(Error::invalid(
                    "lr",
                    format!(
                        "as a schedule must have one rate per step, steps = {}, got {}",
                        self.steps,
                        rates.len()
                    ),
                ));
            }
            if let Some(k) = rates.iter().position(|&r| positive("lr", r).is_err()) {
                return Err(Error::invalid(
                    "lr",
                    format!(
                        "must be in (0, {MAX_PARAMETER:e}] at every step, got {} at step {k}",
                        rates[k]
                    ),
                ));
            }
            if rates[0] != self.lr {
                return Err(Error::invalid(
                    "lr",
                    format!(
                        "must be the schedule's first rate {}, got {}",
                        rates[0], self.lr
                    ),
                ));
            }
        }
        positive("lr", self.lr)?;
        let tau = self.tau();
        positive("tau", tau)?;
        // Both transition probabilities of the batch chain must be <= 1, at every step
        // (plain SGD, tau = lr_k/b, meets it at every step).
        let bound = |lr: f64| lr.max(lr * (1.0 - self.batch) / self.batch);
        let first_bad = match (&self.lr_schedule, self.tau) {
            (Some(rates), Some(_)) => rates
                .iter()
                .position(|&lr| tau < bound(lr) * (1.0 - TAU_SLACK)),
            _ => (tau < bound(self.lr) * (1.0 - TAU_SLACK)).then_some(0),
        };
        if let Some(k) = first_bad {
            let tau_min = bound(self.lr_at(k));
            let at = if self.lr_schedule.is_some() {
                format!(" at step {k} (lr = {})", self.lr_at(k))
            } else {
                String::new()
            };
            return Err(Error::invalid(
                "tau",
                format!(
                    "must be >= max(lr, lr*(1-batch)/batch) = {tau_min}{at} so that the batch \
                     chain's switching probabilities are <= 1, got {tau}"
                ),
            ));
        }
        let m0 = self.m0();
        if m0.is_nan() || m0.abs() > MAX_PARAMETER {
            return Err(Error::invalid(
                "m0",
                format!("must be in [-{MAX_PARAMETER:e}, {MAX_PARAMETER:e}], got {m0}"),
            ));
        }
        positive("q0", self.q0)?;
        self.check_network()
    }

    /// The rules of the committee student and the multi-index teacher (theory.md
    /// section 8).
    fn check_network(&self) -> Result<()> {
        for (name, units) in [
            ("hidden", self.hidden),
            ("teacher_hidden", self.teacher_hidden),
        ] {
            if units == 0 || units > MAX_UNITS {
                return Err(Error::invalid(
                    name,
                    format!("must be in [1, {MAX_UNITS}], got {units}"),
                ));
            }
        }
        if let Some(a) = &self.second_layer {
            if a.len() != self.hidden {
                return Err(Error::invalid(
                    "second_layer",
                    format!(
                        "must have one weight per hidden unit, hidden = {}, got {}",
                        self.hidden,
                        a.len()
                    ),
                ));
            }
            if let Some(bad) = a
                .iter()
                .find(|v| !(v.is_finite() && v.abs() <= MAX_PARAMETER))
            {
                return Err(Error::invalid(
                    "second_layer",
                    format!("must hold finite weights of size <= {MAX_PARAMETER:e}, got {bad}"),
                ));
            }
        }
        if let (true, Activation::Door { threshold }) = (self.hidden > 1, self.activation()) {
            if threshold != 0.0 {
                return Err(Error::invalid(
                    "activation",
                    format!(
                        "'door' with threshold {threshold} is a single unit's output; a \
                         committee (hidden > 1) takes 'linear', 'tanh', 'erf', 'relu' or \
                         'door' with threshold 0 (the square unit h^2)"
                    ),
                ));
            }
        }
        let multi_index = self.teacher_hidden > 1 || self.teacher_activation != Activation::Linear;
        if multi_index && !matches!(self.data, Data::Teacher(Teacher::Linear | Teacher::Sign)) {
            let name = if self.teacher_hidden > 1 {
                "teacher_hidden"
            } else {
                "teacher_activation"
            };
            return Err(Error::invalid(
                name,
                "applies to data='teacher' with teacher='linear' or 'sign' (leave it at its \
                 default)",
            ));
        }
        if let Activation::Door { threshold } = self.teacher_activation {
            if threshold != 0.0 {
                return Err(Error::invalid(
                    "teacher_activation",
                    format!("must be 'linear', 'tanh', 'erf', 'relu' or 'square', got a door with threshold {threshold}"),
                ));
            }
        }
        Ok(())
    }

    /// Whether the student is a committee or the teacher has several units or a
    /// non-linear unit: the committee engine's problem (theory.md section 8), not the
    /// single unit's.
    pub fn is_network(&self) -> bool {
        self.hidden > 1
            || self
                .second_layer
                .as_ref()
                .is_some_and(|a| a.as_slice() != [1.0])
            || self.teacher_hidden > 1
            || self.teacher_activation != Activation::Linear
    }

    /// The second layer in use: `second_layer`, or `1/K` each.
    pub fn second_layer(&self) -> Vec<f64> {
        self.second_layer
            .clone()
            .unwrap_or_else(|| vec![1.0 / self.hidden as f64; self.hidden])
    }

    /// Refuses a network (see [`Config::is_network`]) where an engine handles one unit
    /// only, naming the first setting that makes it one.
    pub(crate) fn check_single_unit(&self, engine: &str) -> Result<()> {
        if !self.is_network() {
            return Ok(());
        }
        let name = if self.hidden > 1 {
            "hidden"
        } else if self.second_layer.is_some() {
            "second_layer"
        } else if self.teacher_hidden > 1 {
            "teacher_hidden"
        } else {
            "teacher_activation"
        };
        Err(Error::invalid(
            name,
            format!(
                "makes a two-layer network (a committee student or a multi-index teacher), \
                 which {engine} does not handle: the network engines do (simulate_network and \
                 solve_network_dmft; in Python simulate and solve_dmft; theory.md section 8)"
            ),
        ))
    }

    /// The physical times `t_k = k dt` of the steps `k = 0..T-1`: every result's time
    /// axis.
    pub fn times(&self) -> Vec<f64> {
        match &self.lr_schedule {
            // A constant schedule keeps the constant rate's grid, bit for bit.
            None => (0..self.steps).map(|k| k as f64 * self.lr).collect(),
            Some(rates) if rates.iter().all(|&r| r == self.lr) => {
                (0..self.steps).map(|k| k as f64 * self.lr).collect()
            }
            Some(rates) => {
                let mut t = 0.0;
                rates
                    .iter()
                    .map(|&lr| {
                        let now = t;
                        t += lr;
                        now
                    })
                    .collect()
            }
        }
    }

    /// The step whose time `t_k` is nearest to `t` (the earlier one on a tie), or `None`
    /// if `t` is not finite, negative, or past the last time by more than half a step:
    /// the one rule by which every API turns a time into a step.
    pub fn step_at(&self, t: f64) -> Option<usize> {
        let times = self.times();
        let last = *times.last()?;
        let tail = self.lr_at(self.steps - 1);
        if !t.is_finite() || t < -0.5 * self.lr_at(0) || t > last + 0.5 * tail {
            return None;
        }
        // The first step at or after t, then whichever of it and the one before is nearer.
        let after = times.partition_point(|&tk| tk < t).min(times.len() - 1);
        match after.checked_sub(1) {
            Some(before) if t - times[before] <= times[after] - t => Some(before),
            _ => Some(after),
        }
    }

    /// The learning rate (time step) of step `k`: `eta_k`.
    #[inline]
    pub fn lr_at(&self, k: usize) -> f64 {
        match &self.lr_schedule {
            Some(rates) => rates[k],
            None => self.lr,
        }
    }

    /// `omega_k = eta_k / eta_0` for every step: exactly 1 without a schedule.
    pub fn step_ratios(&self) -> Vec<f64> {
        (0..self.steps).map(|k| self.lr_at(k) / self.lr).collect()
    }

    /// The factor of the batch chain's switching probabilities in the transition after
    /// step `k`: `omega_k` with an explicit `tau` (the probabilities are `eta_k / tau`),
    /// 1 for plain SGD (a fresh batch of fraction `b` every step, whatever `eta_k`).
    pub fn chain_scales(&self) -> Vec<f64> {
        match self.tau {
            Some(_) => self.step_ratios(),
            None => vec![1.0; self.steps],
        }
    }

    /// Number of samples `n = round(alpha * d)` for dimension `d`.
    pub fn samples_for(&self, d: usize) -> Result<usize> {
        let n = (self.alpha * d as f64).round();
        if n < 1.0 {
            return Err(Error::invalid(
                "d",
                format!(
                    "gives n = round(alpha*d) = 0 samples (alpha = {}, d = {d})",
                    self.alpha
                ),
            ));
        }
        if n > (1u64 << 48) as f64 {
            return Err(Error::invalid(
                "d",
                format!("gives n = round(alpha*d) = {n:e} samples, more than any machine holds"),
            ));
        }
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(e: Error) -> String {
        e.parameter()
    }

    #[test]
    fn default_is_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn a_time_is_the_nearest_step_within_the_grid() {
        let constant = Config {
            lr: 0.5,
            steps: 4, // times 0, 0.5, 1, 1.5
            ..Config::default()
        };
        let at = |t| constant.step_at(t);
        assert_eq!(
            [at(0.0), at(0.2), at(0.3), at(1.5), at(1.7)],
            [Some(0), Some(0), Some(1), Some(3), Some(3)]
        );
        assert_eq!(
            [at(0.25), at(1.76), at(-0.3), at(f64::NAN)],
            [Some(0), None, None, None]
        );
        let schedule = Config {
            lr: 0.1,
            lr_schedule: Some(vec![0.1, 0.1, 1.0, 0.2]), // times 0, 0.1, 0.2, 1.2
            steps: 4,
            ..Config::default()
        };
        let at = |t| schedule.step_at(t);
        assert_eq!(
            [at(0.6), at(0.8), at(1.29), at(1.31)],
            [Some(2), Some(3), Some(3), None]
        );
    }

    #[test]
    fn bad_values_name_their_parameter() {
        let base = Config::default();
        let cases: Vec<(Config, &str)> = vec![
            (
                Config {
                    alpha: 0.0,
                    ..base.clone()
                },
                "alpha",
            ),
            (
                Config {
                    alpha: 1e7,
                    ..base.clone()
                },
                "alpha",
            ),
            (
                Config {
                    delta: 1e300,
                    ..base.clone()
                },
                "delta",
            ),
            (
                Config {
                    m0: Some(-2e6),
                    ..base.clone()
                },
                "m0",
            ),
            (
                Config {
                    lam: 1e7,
                    ..base.clone()
                },
                "lam",
            ),
            (
                Config {
                    delta: f64::NAN,
                    ..base.clone()
                },
                "delta",
            ),
            (
                Config {
                    lam: -1.0,
                    ..base.clone()
                },
                "lam",
            ),
            (
                Config {
                    lr: f64::INFINITY,
                    ..base.clone()
                },
                "lr",
            ),
            (
                Config {
                    batch: 1.5,
                    tau: Some(1.0),
                    ..base.clone()
                },
                "batch",
            ),
            (
                Config {
                    batch: 0.5,
                    tau: Some(0.05),
                    ..base.clone()
                },
                "tau",
            ),
            (
                Config {
                    steps: 0,
                    ..base.clone()
                },
                "steps",
            ),
            (
                Config {
                    q0: 0.0,
                    ..base.clone()
                },
                "q0",
            ),
            (
                Config {
                    m0: Some(f64::NAN),
                    ..base.clone()
                },
                "m0",
            ),
            (
                Config {
                    clusters: Clusters::Three { rho: 1.0 },
                    ..base.clone()
                },
                "rho",
            ),
            (
                Config {
                    activation: Some(Activation::Door { threshold: -1.0 }),
                    ..base.clone()
                },
                "threshold",
            ),
        ];
        for (cfg, name) in cases {
            assert_eq!(name_of(cfg.validate().unwrap_err()), name);
        }
    }

    #[test]
    fn plain_sgd_tau_is_accepted_at_its_bound() {
        for b in [0.1, 0.3, 0.7, 1.0] {
            let lr = 0.3;
            let cfg = Config {
                lr,
                batch: b,
                tau: Some(Config::plain_sgd_tau(lr, b)),
                ..Config::default()
            };
            cfg.validate().unwrap();
        }
    }

    /// Every model built from `Default` gets the values the Python API gives it (see
    /// `Config.effective_*` in `python/dmft_sgd/config.py` and tests/test_config.py).
    #[test]
    fn each_model_from_default_resolves_like_the_python_api() {
        // Two clusters: linear output, m0 = 0, full-batch GD (tau = lr / 1).
        let two = Config::default();
        assert_eq!(
            (two.activation, two.tau, two.m0),
            (None, None, None),
            "the defaults that depend on others are left to the resolution"
        );
        assert_eq!(two.activation(), Activation::Linear);
        assert_eq!(two.m0(), 0.0);
        assert_eq!(two.tau(), 0.1);
        two.validate().unwrap();

        // Three clusters: the door at the default threshold, and off the m = 0 fixed point.
        let three = Config {
            clusters: Clusters::Three { rho: 0.5 },
            ..Config::default()
        };
        assert_eq!(
            three.activation(),
            Activation::Door {
                threshold: DEFAULT_THRESHOLD
            }
        );
        assert_eq!(DEFAULT_THRESHOLD, 1.0);
        assert_eq!(three.m0(), 0.1);
        assert_eq!(three.tau(), 0.1);
        three.validate().unwrap();
        // An explicit m0 = 0 is kept (the unstable fixed point, on purpose).
        let at_zero = Config {
            m0: Some(0.0),
            ..three.clone()
        };
        assert_eq!(at_zero.m0(), 0.0);

        // Square loss: the output and start depend on the clusters only.
        let square = Config {
            loss: Some(Loss::Square),
            ..Config::default()
        };
        assert_eq!(
            (square.activation(), square.m0(), square.tau()),
            (Activation::Linear, 0.0, 0.1)
        );
        let square_three = Config {
            loss: Some(Loss::Square),
            clusters: Clusters::Three { rho: 0.3 },
            ..Config::default()
        };
        assert_eq!(
            (square_three.activation(), square_three.m0()),
            (Activation::Door { threshold: 1.0 }, 0.1)
        );

        // Plain SGD: tau = lr / batch follows lr and batch.
        let plain = Config {
            lr: 0.2,
            batch: 0.25,
            ..Config::default()
        };
        assert_eq!(plain.tau(), 0.8);
        plain.validate().unwrap();

        // Persistent SGD: an explicit tau is used as given.
        let persistent = Config {
            batch: 0.3,
            tau: Some(5.0),
            ..Config::default()
        };
        assert_eq!(persistent.tau(), 5.0);
        assert_eq!(persistent.activation(), Activation::Linear);
        persistent.validate().unwrap();

        // An explicit activation wins over the clusters' default.
        let linear_three = Config {
            activation: Some(Activation::Linear),
            ..three.clone()
        };
        assert_eq!(linear_three.activation(), Activation::Linear);

        // `resolved` fills in exactly the values the accessors give.
        for cfg in [
            two,
            three,
            square,
            square_three,
            plain,
            persistent,
            linear_three,
        ] {
            let r = cfg.resolved();
            assert_eq!(r.activation, Some(cfg.activation()));
            assert_eq!(r.tau, Some(cfg.tau()));
            assert_eq!(r.m0, Some(cfg.m0()));
            assert_eq!(r.resolved(), r);
            r.validate().unwrap();
        }
    }

    #[test]
    fn validation_checks_the_resolved_values() {
        // Plain SGD resolves tau = lr / batch above the largest accepted tau.
        let cfg = Config {
            lr: 1e6,
            batch: 0.5,
            ..Config::default()
        };
        assert_eq!(name_of(cfg.validate().unwrap_err()), "tau");
        // The door of three clusters is checked too; an explicit threshold is used.
        let cfg = Config {
            clusters: Clusters::Three { rho: 0.5 },
            activation: Some(Activation::Door { threshold: -0.5 }),
            ..Config::default()
        };
        assert_eq!(name_of(cfg.validate().unwrap_err()), "threshold");
    }

    #[test]
    fn three_cluster_draw_has_the_right_masses() {
        let c = Clusters::Three { rho: 0.4 };
        assert_eq!(c.draw(0.1), (-1.0, 1.0));
        assert_eq!(c.draw(0.3), (1.0, 1.0));
        assert_eq!(c.draw(0.9), (0.0, -1.0));
        let total: f64 = c.table().iter().map(|r| r.1).sum();
        assert!((total - 1.0).abs() < 1e-15);
    }
}
