//! The flat form of a [`Config`]: its settings as plain named values, the one document
//! that the Python API (`dmft_sgd.Config.to_dict`), its result files and the `serde`
//! form of [`Config`] all use. Every rule that relates the flat fields (settings of the
//! other data model keep their defaults, a threshold needs the door, ...) is applied
//! here, in the conversion to [`Config`]. The way back writes the door's threshold as
//! resolved: `activation: None` with a threshold (where the model's default is the door)
//! and a door without one come back as `activation: "door"` with the threshold in use,
//! the same dynamics spelled out.

use super::{Activation, Clusters, Config, Data, Loss, Teacher, DEFAULT_RHO};
use crate::error::{Error, Result};

/// The teacher a flat config names when its data are the mixture (it must keep it).
pub const DEFAULT_TEACHER: Teacher = Teacher::Sign;

/// What a flat field holds, as the Python API types it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// A string (a choice among names).
    Str,
    /// An integer.
    Int,
    /// A real number.
    Float,
    /// True or false.
    Bool,
    /// A real number, or a sequence of them (one per step).
    FloatOrSequence,
    /// A sequence of real numbers.
    FloatSequence,
}

impl FieldKind {
    /// The Python type's name: `"str"`, `"int"`, `"float"` or `"bool"`.
    pub fn name(&self) -> &'static str {
        match self {
            FieldKind::Str => "str",
            FieldKind::Int => "int",
            FieldKind::Float => "float",
            FieldKind::Bool => "bool",
            FieldKind::FloatOrSequence => "float_or_sequence",
            FieldKind::FloatSequence => "float_sequence",
        }
    }
}

/// One field of [`FlatConfig`]: its name, kind, whether `None` is allowed, and its
/// description (the Python docstring and command-line help are made from it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    /// The field's name.
    pub name: &'static str,
    /// What it holds.
    pub kind: FieldKind,
    /// Whether it may be `None` (a default that depends on the other fields).
    pub optional: bool,
    /// One line: what it means and its range.
    pub doc: &'static str,
}

/// The kind of a flat field's Rust type.
trait FlatType {
    const KIND: FieldKind;
    const OPTIONAL: bool = false;
}
impl FlatType for String {
    const KIND: FieldKind = FieldKind::Str;
}
impl FlatType for i64 {
    const KIND: FieldKind = FieldKind::Int;
}
impl FlatType for f64 {
    const KIND: FieldKind = FieldKind::Float;
}
impl FlatType for bool {
    const KIND: FieldKind = FieldKind::Bool;
}
impl FlatType for Vec<f64> {
    const KIND: FieldKind = FieldKind::FloatSequence;
}
impl FlatType for LearningRate {
    const KIND: FieldKind = FieldKind::FloatOrSequence;
}
impl<T: FlatType> FlatType for Option<T> {
    const KIND: FieldKind = T::KIND;
    const OPTIONAL: bool = true;
}

/// A flat config's learning rate: one for every step, or one per step (a schedule).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(untagged)
)]
#[cfg_attr(feature = "python", derive(pyo3::FromPyObject, pyo3::IntoPyObject))]
pub enum LearningRate {
    /// `eta` at every step.
    Constant(f64),
    /// `eta_k` for each step `k`.
    Schedule(Vec<f64>),
}

/// Declares [`FlatConfig`] and its field list [`FlatConfig::FIELDS`] from one list, so a
/// field's name, type and description are written once.
macro_rules! flat_config {
    ($($(#[doc = $doc:literal])+ $name:ident: $ty:ty,)+) => {
        /// The flat form of a [`Config`], field for field the Python API's
        /// `dmft_sgd.Config` (the same names, order, types and `None`s). Convert with
        /// `Config::try_from(flat)` (checks every rule) and `FlatConfig::from(&config)`;
        /// with the `serde` feature a [`Config`] serialises as this document, with the
        /// missing fields taken from the defaults.
        #[derive(Clone, Debug, PartialEq)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
        #[cfg_attr(feature = "python", derive(pyo3::FromPyObject, pyo3::IntoPyObject))]
        #[cfg_attr(feature = "python", pyo3(from_item_all))]
        pub struct FlatConfig {
            $($(#[doc = $doc])+ pub $name: $ty,)+
        }

        impl FlatConfig {
            /// Every field, in order, with its description.
            pub const FIELDS: &'static [FieldSpec] = &[$(FieldSpec {
                name: stringify!($name),
                kind: <$ty as FlatType>::KIND,
                optional: <$ty as FlatType>::OPTIONAL,
                doc: concat!($($doc),+),
            },)+];
        }
    };
}

flat_config! {
    /// 'mixture' (the Gaussian mixture of `clusters`) or 'teacher' (x ~ N(0, I), labels
    /// from the teacher field h0 = v*.x/sqrt(d), see `teacher`)
    data: String,
    /// mixture: 2 (labels y = c = ±1) or 3 (c = -1, 0, +1; label +1 for the outer
    /// clusters)
    clusters: i64,
    /// data='teacher': 'sign' (y = sign(h0 + sqrt(noise) eps)), 'linear' (y = h0 +
    /// sqrt(noise) eps) or 'square' (y = h0^2 + sqrt(noise) eps, phase retrieval)
    teacher: String,
    /// sample ratio n/d > 0
    alpha: f64,
    /// mixture: cluster variance Delta > 0
    delta: f64,
    /// three clusters only: mass of the two outer clusters, 0 < rho < 1
    rho: f64,
    /// data='teacher': label noise variance >= 0
    noise: f64,
    /// 'logistic' (log(1 + exp(-y o))), 'square' ((y - o)^2/2), 'squared_hinge'
    /// (max(0, 1 - y o)^2/2), 'exponential' (exp(-y o)) or 'hinge' (max(0, 1 - y o); SGD
    /// only, not the DMFT); all but square need labels ±1; None: logistic for labels ±1
    /// (the mixture, the sign teacher), square for real-valued labels (linear and square
    /// teachers)
    loss: Option<String>,
    /// 'linear' (o = h), 'door' (o = h^2 - threshold), 'square' (o = h^2, the door with
    /// threshold 0), 'tanh' (o = tanh(h)), 'erf' (o = erf(h/sqrt 2)) or 'relu' (o = max(h,
    /// 0); the single-unit DMFT refuses it, the network solver takes it); None: the door
    /// for three clusters and the square teacher, else linear
    activation: Option<String>,
    /// door threshold theta >= 0 (o = h^2 - theta); None: 0 for the square teacher
    /// (o = h^2), else 1
    threshold: Option<f64>,
    /// ridge lambda >= 0
    lam: f64,
    /// Langevin temperature >= 0: each step adds sqrt(2 lr temperature) N(0, I) to w
    temperature: f64,
    /// learning rate eta > 0, which is the time step dt; or a sequence of `steps` rates,
    /// one per step (a schedule: physical time t_k = sum_{j<k} lr_j, and every dt of both
    /// engines is the step's own)
    lr: LearningRate,
    /// momentum beta in [0, 1) (PyTorch's SGD semantics: v = beta v + g, w -= lr v,
    /// with the ridge inside the gradient g); 0 is plain SGD
    momentum: f64,
    /// Nesterov momentum (w -= lr (g + beta v)); needs momentum > 0
    nesterov: bool,
    /// batch fraction b in (0, 1]; 1 is full-batch gradient descent
    batch: f64,
    /// persistence time of the mini-batch chain, >= max(lr, lr (1-b)/b); None: plain
    /// SGD, tau = lr/batch (a fresh batch every step)
    tau: Option<f64>,
    /// weight a sample in the batch by 1/batch, so that the expected stochastic gradient
    /// is the full-batch one
    normalize_batch: bool,
    /// number of time steps T >= 1; results have length T
    steps: i64,
    /// initial overlap; None: 0.1 where m = 0 is an unstable fixed point (three
    /// clusters, the square teacher), else 0
    m0: Option<f64>,
    /// initial |w_perp|^2/d > 0
    q0: f64,
    /// hidden units K >= 1 of the student; K > 1 is the committee o = sum_k a_k
    /// activation(h_k) (simulations only for now)
    hidden: i64,
    /// the committee's fixed second layer a, one weight per hidden unit; None: 1/K each
    second_layer: Option<Vec<f64>>,
    /// data='teacher' with teacher 'linear' or 'sign': hidden units K* >= 1 of the
    /// teacher, y = (1/K*) sum_j teacher_activation(h*_j) + sqrt(noise) eps (or its sign),
    /// orthogonal directions |w*_j|^2 = d
    teacher_hidden: i64,
    /// the teacher's unit: 'linear' (the single-direction teacher), 'tanh', 'erf', 'relu'
    /// or 'square' (h^2)
    teacher_activation: String,
}

impl Default for FlatConfig {
    /// The flat form of [`Config::default()`].
    fn default() -> Self {
        FlatConfig::from(&Config::default())
    }
}

impl From<&Config> for FlatConfig {
    /// The flat form: `None`s kept, and the defaults of `rho` and `teacher` where the
    /// model has no such value.
    fn from(cfg: &Config) -> Self {
        let (clusters, rho) = match cfg.clusters {
            Clusters::Two => (2, DEFAULT_RHO),
            Clusters::Three { rho } => (3, rho),
        };
        let teacher = match cfg.data {
            Data::Teacher(t) => t,
            Data::Mixture => DEFAULT_TEACHER,
        };
        let threshold = match cfg.activation {
            Some(Activation::Door { threshold }) => Some(threshold),
            _ => None,
        };
        FlatConfig {
            data: cfg.data.name().into(),
            clusters,
            teacher: teacher.name().into(),
            alpha: cfg.alpha,
            delta: cfg.delta,
            rho,
            noise: cfg.noise,
            loss: cfg.loss.map(|l| l.name().into()),
            activation: cfg.activation.map(|a| a.name().into()),
            threshold,
            lam: cfg.lam,
            temperature: cfg.temperature,
            lr: match &cfg.lr_schedule {
                Some(rates) => LearningRate::Schedule(rates.clone()),
                None => LearningRate::Constant(cfg.lr),
            },
            momentum: cfg.momentum,
            nesterov: cfg.nesterov,
            batch: cfg.batch,
            tau: cfg.tau,
            normalize_batch: cfg.normalize_batch,
            steps: cfg.steps as i64,
            m0: cfg.m0,
            q0: cfg.q0,
            hidden: cfg.hidden as i64,
            second_layer: cfg.second_layer.clone(),
            teacher_hidden: cfg.teacher_hidden as i64,
            teacher_activation: unit_name(cfg.teacher_activation).into(),
        }
    }
}

/// The flat name of a teacher's unit: the door with threshold 0 is `"square"`.
fn unit_name(unit: Activation) -> &'static str {
    match unit {
        Activation::Door { .. } => "square",
        other => other.name(),
    }
}

/// The teacher's unit named `name`.
fn teacher_unit(name: &str) -> Result<Activation> {
    match name {
        "linear" => Ok(Activation::Linear),
        "tanh" => Ok(Activation::Tanh),
        "erf" => Ok(Activation::Erf),
        "relu" => Ok(Activation::Relu),
        "square" => Ok(Activation::Door { threshold: 0.0 }),
        other => Err(Error::invalid(
            "teacher_activation",
            format!("must be 'linear', 'tanh', 'erf', 'relu' or 'square', got '{other}'"),
        )),
    }
}

/// A count field (`hidden`, `teacher_hidden`) as a `usize`.
fn units(name: &str, value: i64) -> Result<usize> {
    usize::try_from(value).map_err(|_| {
        Error::invalid(
            name,
            format!("must be in [1, {}], got {value}", super::MAX_UNITS),
        )
    })
}

impl From<Config> for FlatConfig {
    fn from(cfg: Config) -> Self {
        FlatConfig::from(&cfg)
    }
}

impl TryFrom<FlatConfig> for Config {
    type Error = Error;

    /// The structured config, checked: every field in range ([`Config::validate`]), the
    /// settings of the other data model at their defaults, `rho` only with three
    /// clusters, a `threshold` only with the door (`None` for `activation` with a
    /// threshold sets the door that some models default to).
    fn try_from(flat: FlatConfig) -> Result<Config> {
        let teacher: Teacher = flat.teacher.parse()?;
        let data = match flat.data.as_str() {
            "mixture" => Data::Mixture,
            "teacher" => Data::Teacher(teacher),
            other => {
                return Err(Error::invalid(
                    "data",
                    format!("must be 'mixture' or 'teacher', got '{other}'"),
                ))
            }
        };
        let rho = flat.rho;
        let clusters = match flat.clusters {
            2 => Clusters::Two,
            3 => Clusters::Three { rho },
            c => {
                return Err(Error::invalid(
                    "clusters",
                    format!("must be 2 or 3, got {c}"),
                ))
            }
        };
        // Fields of the other data model must keep their defaults (`Config::validate`
        // checks the ones the structured form keeps).
        if data == Data::Mixture && teacher != DEFAULT_TEACHER {
            return Err(Error::invalid(
                "teacher",
                format!(
                    "applies only to data='teacher', got '{}' with data='mixture' (leave it at its default)",
                    teacher.name()
                ),
            ));
        }
        if matches!(data, Data::Teacher(_)) && rho != DEFAULT_RHO {
            return Err(Error::invalid(
                "rho",
                format!("applies only to data='mixture', got {rho} with data='teacher' (leave it at its default)"),
            ));
        }
        if data == Data::Mixture && clusters == Clusters::Two && rho != DEFAULT_RHO {
            return Err(Error::invalid(
                "rho",
                format!("applies only to clusters=3 (the mass of the outer clusters), got {rho} with clusters=2, whose two clusters have mass 1/2 each (leave it at its default)"),
            ));
        }
        let threshold = flat.threshold;
        let activation = match flat.activation.as_deref() {
            None => match (Activation::default_for(data, clusters), threshold) {
                (Activation::Door { .. }, Some(threshold)) => Some(Activation::Door { threshold }),
                _ => None,
            },
            Some("linear") => Some(Activation::Linear),
            Some("tanh") => Some(Activation::Tanh),
            Some("erf") => Some(Activation::Erf),
            Some("relu") => Some(Activation::Relu),
            // The square unit h^2 of committees: the door with threshold 0.
            Some("square") if threshold.is_none() => Some(Activation::Door { threshold: 0.0 }),
            Some("square") => {
                return Err(Error::invalid(
                    "threshold",
                    "applies to the door output; 'square' is h^2, the door with threshold 0 \
                     (leave it None)",
                ))
            }
            Some("door") => Some(Activation::Door {
                threshold: threshold.unwrap_or_else(|| Activation::default_threshold(data)),
            }),
            Some(a) => {
                return Err(Error::invalid(
                    "activation",
                    format!(
                        "must be 'linear', 'door', 'square', 'tanh', 'erf' or 'relu', got '{a}'"
                    ),
                ))
            }
        };
        let steps = flat.steps;
        let cfg = Config {
            data,
            clusters,
            alpha: flat.alpha,
            delta: flat.delta,
            noise: flat.noise,
            loss: flat.loss.as_deref().map(str::parse::<Loss>).transpose()?,
            activation,
            lam: flat.lam,
            temperature: flat.temperature,
            lr: match &flat.lr {
                LearningRate::Constant(lr) => *lr,
                // An empty schedule is refused by the length check.
                LearningRate::Schedule(rates) => rates.first().copied().unwrap_or(f64::NAN),
            },
            lr_schedule: match flat.lr {
                LearningRate::Constant(_) => None,
                LearningRate::Schedule(rates) => Some(rates),
            },
            momentum: flat.momentum,
            nesterov: flat.nesterov,
            batch: flat.batch,
            tau: flat.tau,
            normalize_batch: flat.normalize_batch,
            steps: usize::try_from(steps)
                .map_err(|_| Error::invalid("steps", format!("must be >= 1, got {steps}")))?,
            m0: flat.m0,
            q0: flat.q0,
            hidden: units("hidden", flat.hidden)?,
            second_layer: flat.second_layer,
            teacher_hidden: units("teacher_hidden", flat.teacher_hidden)?,
            teacher_activation: teacher_unit(&flat.teacher_activation)?,
        };
        cfg.validate()?;
        // rho and threshold are checked even where this model does not use them: a value
        // out of range is a mistake either way.
        super::check_rho(rho)?;
        if let Some(t) = threshold {
            super::non_negative("threshold", t)?;
        }
        let activation = cfg.activation();
        if let (Some(t), false) = (threshold, matches!(activation, Activation::Door { .. })) {
            return Err(Error::invalid(
                "threshold",
                format!(
                    "applies only to the door output (activation='door'), got {t} with the \
                     '{}' output (leave it None)",
                    activation.name()
                ),
            ));
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(e: Error) -> String {
        e.parameter()
    }

    fn flat(change: impl FnOnce(&mut FlatConfig)) -> FlatConfig {
        let mut f = FlatConfig::default();
        change(&mut f);
        f
    }

    #[test]
    fn fields_are_listed_in_order_with_their_kinds() {
        let names: Vec<&str> = FlatConfig::FIELDS.iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            [
                "data",
                "clusters",
                "teacher",
                "alpha",
                "delta",
                "rho",
                "noise",
                "loss",
                "activation",
                "threshold",
                "lam",
                "temperature",
                "lr",
                "momentum",
                "nesterov",
                "batch",
                "tau",
                "normalize_batch",
                "steps",
                "m0",
                "q0",
                "hidden",
                "second_layer",
                "teacher_hidden",
                "teacher_activation"
            ]
        );
        let layer = FlatConfig::FIELDS[22];
        assert_eq!(
            (layer.kind, layer.optional),
            (FieldKind::FloatSequence, true)
        );
        let tau = FlatConfig::FIELDS[16];
        assert_eq!((tau.kind, tau.optional), (FieldKind::Float, true));
        assert!(tau.doc.contains("persistence time of the mini-batch chain"));
        let steps = FlatConfig::FIELDS[18];
        assert_eq!((steps.kind, steps.optional), (FieldKind::Int, false));
        assert!(FlatConfig::FIELDS.iter().all(|f| !f.doc.trim().is_empty()));
    }

    #[test]
    fn every_model_round_trips() {
        let models = [
            Config::default(),
            Config {
                clusters: Clusters::Three { rho: 0.3 },
                activation: Some(Activation::Door { threshold: 2.5 }),
                m0: Some(0.0),
                ..Config::default()
            },
            Config {
                data: Data::Teacher(Teacher::Square),
                noise: 0.1,
                tau: Some(1.0),
                batch: 0.5,
                ..Config::default()
            },
            Config {
                data: Data::Teacher(Teacher::Sign),
                hidden: 3,
                second_layer: Some(vec![0.5, -0.25, 1.0]),
                teacher_hidden: 2,
                teacher_activation: Activation::Door { threshold: 0.0 },
                activation: Some(Activation::Erf),
                ..Config::default()
            },
            Config {
                data: Data::Teacher(Teacher::Linear),
                loss: Some(Loss::Square),
                activation: Some(Activation::Linear),
                normalize_batch: true,
                temperature: 0.2,
                ..Config::default()
            },
        ];
        for cfg in models {
            let f = FlatConfig::from(&cfg);
            assert_eq!(Config::try_from(f.clone()).unwrap(), cfg);
            // The resolved values spelled out describe the same dynamics.
            let resolved = Config::try_from(FlatConfig::from(&cfg.resolved())).unwrap();
            assert_eq!(resolved, cfg.resolved());
        }
    }

    #[test]
    fn a_threshold_without_an_activation_sets_the_models_default_door() {
        let three = Config::try_from(flat(|f| {
            f.clusters = 3;
            f.threshold = Some(2.0);
        }))
        .unwrap();
        assert_eq!(three.activation(), Activation::Door { threshold: 2.0 });
        let door = Config::try_from(flat(|f| {
            f.data = "teacher".into();
            f.teacher = "square".into();
            f.activation = Some("door".into());
        }))
        .unwrap();
        assert_eq!(door.activation(), Activation::Door { threshold: 0.0 });
        assert_eq!(door.loss(), Loss::Square);
    }

    #[test]
    fn the_rules_between_fields_name_the_field() {
        let cases: Vec<(FlatConfig, &str, &str)> = vec![
            (flat(|f| f.rho = 0.3), "rho", "applies only to clusters=3"),
            (
                flat(|f| {
                    f.data = "teacher".into();
                    f.rho = 0.3;
                }),
                "rho",
                "applies only to data='mixture'",
            ),
            (
                flat(|f| f.teacher = "linear".into()),
                "teacher",
                "applies only to data='teacher'",
            ),
            (
                flat(|f| {
                    f.data = "teacher".into();
                    f.clusters = 3;
                }),
                "clusters",
                "applies only to data='mixture'",
            ),
            (
                flat(|f| f.noise = 0.1),
                "noise",
                "applies only to data='teacher'",
            ),
            (
                flat(|f| f.threshold = Some(0.5)),
                "threshold",
                "applies only to the door",
            ),
            (
                flat(|f| {
                    f.data = "teacher".into();
                    f.teacher = "linear".into();
                    f.loss = Some("logistic".into());
                }),
                "loss",
                "'logistic' needs labels ±1",
            ),
            (flat(|f| f.data = "images".into()), "data", "must be"),
            (flat(|f| f.clusters = 4), "clusters", "must be 2 or 3"),
            (flat(|f| f.steps = -3), "steps", "must be >= 1"),
            (flat(|f| f.loss = Some("huber".into())), "loss", "must be"),
            (
                flat(|f| f.activation = Some("softplus".into())),
                "activation",
                "must be",
            ),
            (
                flat(|f| {
                    f.clusters = 3;
                    f.rho = 1.5;
                }),
                "rho",
                "must be in (0, 1)",
            ),
            // Out of range where the model does not use it: still a mistake, named so.
            (
                flat(|f| f.threshold = Some(-1.0)),
                "threshold",
                "must be in [0",
            ),
        ];
        for (f, name, text) in cases {
            let err = Config::try_from(f).unwrap_err();
            let message = err.to_string();
            assert!(message.contains(text), "{message}");
            assert_eq!(name_of(err), name);
        }
    }
}
