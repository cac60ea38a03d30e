//! # dmft_sgd
//!
//! Stochastic gradient descent on a single-layer network trained on a high-dimensional
//! Gaussian mixture, two ways: as an ensemble of finite-`d` simulations, and (in the
//! DMFT solver) as its exact `d -> infinity` dynamics. Notation follows the project's
//! `docs/theory.md`.
//!
//! ```
//! use dmft_sgd::{simulate, Config, Control, EnsembleSpec};
//!
//! // Plain SGD (tau = None: a fresh batch of 30% of the samples every step).
//! let cfg = Config { batch: 0.3, steps: 50, ..Config::default() };
//! let spec = EnsembleSpec { d: 100, replicas: 4, seed: 0 };
//! let ens = simulate(&cfg, &spec, &Control::new()).unwrap();
//! // Test error of replica 0 at the last step: training has moved it below chance.
//! assert!(ens.test_error[cfg.steps - 1] < 0.5);
//! ```
//!
//! The Python package `dmft_sgd` is built on this crate with the `python` feature.

pub mod config;
pub mod control;
pub mod dmft;
pub mod error;
pub mod kernels;
pub mod losses;
pub mod minibatch;
pub mod observables;
pub mod resources;
mod rng;
pub mod sgd;
pub mod simulate;

#[cfg(feature = "python")]
mod python;

#[cfg(test)]
mod fuzz_tests;

pub use config::{Activation, Clusters, Config, Loss};
pub use control::Control;
pub use dmft::{solve_dmft, DmftOptions, DmftSolution, Method};
pub use error::{Error, Result};
pub use simulate::{simulate, Ensemble, EnsembleSpec};
