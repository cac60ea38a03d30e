//! A learning problem, parsed once (theory.md section 1): the settings of a [`Config`],
//! checked by every rule in one place, and the typed pieces the engines run: the data
//! model, the network's output, the loss, the optimizer with its rates, the batch
//! process. An engine takes a `Problem` and never re-checks it, so a call validates its
//! settings once, and a problem parsed once can be solved many times.
//!
//! ```
//! use dmft_sgd::{Config, Problem};
//!
//! let problem = Problem::new(Config { batch: 0.3, lr: 0.2, ..Config::default() }).unwrap();
//! assert_eq!(problem.optimizer().lr_at(5), 0.2);
//! assert_eq!(problem.batches().tau, 0.2 / 0.3);            // plain SGD: lr / batch
//! assert!(Problem::new(Config { batch: 2.0, ..Config::default() }).is_err());
//! ```

use crate::config::{Activation, Config, FlatConfig, Loss};
use crate::data::DataModel;
use crate::error::Result;
use crate::losses::SampleLoss;
use crate::optimizer::Optimizer;

/// The mini-batch process (theory.md section 1): each sample's two-state chain, in the
/// batch a fraction `fraction` of the time, with persistence time `tau`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchProcess {
    /// The batch fraction `b`.
    pub fraction: f64,
    /// The persistence time in use (plain SGD: `lr / b`, with a schedule the first step's).
    pub tau: f64,
    /// Whether `tau` follows the step (plain SGD: a fresh batch every step).
    pub plain: bool,
    /// The weight of a sample in the batch: `1/b` with `normalize_batch`, else 1.
    pub weight: f64,
}

/// A checked learning problem and its typed pieces. Build it with [`Problem::new`] (or
/// `Problem::try_from` a [`FlatConfig`]); read what was asked with [`Problem::config`].
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    config: Config,
    data: DataModel,
    loss: Loss,
    activation: Activation,
    optimizer: Optimizer,
    batches: BatchProcess,
}

impl Problem {
    /// Checks every rule of `config` (the error names the first bad parameter) and parses
    /// it into its pieces.
    pub fn new(config: Config) -> Result<Problem> {
        config.validate()?;
        Ok(Self::from_checked(config))
    }

    /// The pieces of a `config` already checked (by [`Config::validate`]).
    pub(crate) fn from_checked(config: Config) -> Problem {
        Problem {
            data: DataModel::of(&config),
            loss: config.loss(),
            activation: config.activation(),
            optimizer: Optimizer::of(&config),
            batches: BatchProcess {
                fraction: config.batch,
                tau: config.tau(),
                plain: config.tau.is_none(),
                weight: config.batch_weight(),
            },
            config,
        }
    }

    /// The settings, as given (with their `None` defaults; see [`Config::resolved`]).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The loss in use.
    pub fn loss(&self) -> Loss {
        self.loss
    }

    /// The network's output `o(h)` in use.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// The loss of one sample as a function of its field, with the built-in loss and
    /// output in use.
    pub fn sample_loss(&self) -> SampleLoss {
        SampleLoss {
            loss: self.loss,
            activation: self.activation,
        }
    }

    /// The update rule.
    pub fn optimizer(&self) -> &Optimizer {
        &self.optimizer
    }

    /// The mini-batch process.
    pub fn batches(&self) -> BatchProcess {
        self.batches
    }

    /// Whether every label is ±1 (classification: the errors are recorded).
    pub fn labels_are_signs(&self) -> bool {
        self.data.labels_are_signs()
    }

    /// Number of time steps `T`.
    pub fn steps(&self) -> usize {
        self.config.steps
    }
}

impl TryFrom<Config> for Problem {
    type Error = crate::Error;
    fn try_from(config: Config) -> Result<Problem> {
        Problem::new(config)
    }
}

impl TryFrom<FlatConfig> for Problem {
    type Error = crate::Error;
    /// The flat settings (the Python API's, a file's) converted and checked once.
    fn try_from(flat: FlatConfig) -> Result<Problem> {
        Ok(Problem::from_checked(Config::try_from(flat)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Data, Teacher};

    #[test]
    fn the_pieces_follow_the_settings_and_their_defaults() {
        let problem = Problem::new(Config {
            data: Data::Teacher(Teacher::Linear),
            batch: 0.5,
            tau: Some(2.0),
            normalize_batch: true,
            momentum: 0.5,
            ..Config::default()
        })
        .unwrap();
        assert_eq!(problem.loss(), Loss::Square); // real-valued labels
        assert_eq!(problem.activation(), Activation::Linear);
        assert!(!problem.labels_are_signs());
        assert_eq!(
            problem.batches(),
            BatchProcess {
                fraction: 0.5,
                tau: 2.0,
                plain: false,
                weight: 2.0
            }
        );
        assert_eq!(problem.optimizer().momentum.map(|m| m.beta), Some(0.5));
        let flat = FlatConfig::from(problem.config());
        assert_eq!(Problem::try_from(flat).unwrap(), problem);
    }

    #[test]
    fn a_bad_setting_is_refused_by_name() {
        let err = Problem::new(Config {
            steps: 0,
            ..Config::default()
        })
        .unwrap_err();
        assert_eq!(err.parameter(), "steps");
    }
}
