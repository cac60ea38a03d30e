//! The one error type of the crate. The Python binding maps each variant to a Python
//! exception (ValueError, DivergenceError, MemoryError, KeyboardInterrupt).

/// Everything that can go wrong in a run.
/// New variants may be added in minor releases: match with a `_` arm.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A parameter outside its allowed range; raised before any work starts.
    #[error("{name} {reason}")]
    InvalidParameter {
        /// The parameter's name as the user spells it (e.g. `batch`).
        name: String,
        /// What is allowed and what was given.
        reason: String,
    },
    /// The run blew up (theory.md section 4.6): an order parameter grew beyond its bound,
    /// or values became non-finite. The learning rate is too large for this setting.
    #[error(
        "{what} diverged at step {step}: {}; try a smaller lr (now {lr})",
        cause.describe(observable)
    )]
    Diverged {
        /// Which run diverged, e.g. `simulation replica 3`.
        what: String,
        /// First time step whose values are out of bounds or not finite.
        step: usize,
        /// What was out of bounds or not finite: `m`, `q`, `train_loss`, ...
        observable: String,
        /// Out of bounds, or not finite.
        cause: Divergence,
        /// The learning rate of the update that made that step's weights.
        lr: f64,
    },
    /// The run would need more memory than the machine has available.
    #[error("this run needs about {needed_mib} MiB of memory but only {available_mib} MiB are available; {hint}")]
    OutOfMemory {
        /// Estimated need.
        needed_mib: u64,
        /// What the operating system reports as available.
        available_mib: u64,
        /// How to make the run smaller.
        hint: String,
    },
    /// The run was stopped through its [`Control`](crate::Control).
    #[error("run cancelled")]
    Cancelled,
}

/// Why a run counts as diverged.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Divergence {
    /// The observable became inf or NaN.
    NonFinite,
    /// The observable (`q`, or `|m|`) went beyond `bound`, [`GROWTH`] times the run's
    /// scale (theory.md section 4.6).
    ///
    /// [`GROWTH`]: crate::DIVERGENCE_GROWTH
    BeyondBound {
        /// Its value.
        value: f64,
        /// The bound it crossed.
        bound: f64,
    },
}

impl Divergence {
    /// The cause in words, for `observable`.
    fn describe(&self, observable: &str) -> String {
        match self {
            Divergence::NonFinite => format!("non-finite values appeared in {observable}"),
            Divergence::BeyondBound { value, bound } => format!(
                "{observable} = {value:.3e} is beyond {bound:.1e}: the weights grew by orders of magnitude"
            ),
        }
    }
}

impl Error {
    /// Shorthand for [`Error::InvalidParameter`].
    pub fn invalid(name: &str, reason: impl Into<String>) -> Self {
        Error::InvalidParameter {
            name: name.to_string(),
            reason: reason.into(),
        }
    }

    /// The parameter an [`Error::InvalidParameter`] names (tests: which check refused).
    #[cfg(test)]
    pub(crate) fn parameter(self) -> String {
        match self {
            Error::InvalidParameter { name, .. } => name,
            other => panic!("not an invalid parameter: {other:?}"),
        }
    }
}

/// Result alias of the crate.
pub type Result<T> = std::result::Result<T, Error>;
