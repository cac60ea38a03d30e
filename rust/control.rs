//! Cancellation and progress shared between a running job and whoever waits for it.

use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Handle that lets the caller stop a run and read how far it got. Workers call
/// [`Control::checkpoint`] between units of work (one time step of one replica, ...).
#[derive(Debug, Default)]
pub struct Control {
    cancelled: AtomicBool,
    done: AtomicU64,
}

impl Control {
    /// A fresh handle: not cancelled, no progress.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every worker to stop at its next checkpoint.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Units of work finished so far.
    pub fn progress(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Records `units` finished units; fails with [`Error::Cancelled`] once cancelled.
    pub fn checkpoint(&self, units: u64) -> Result<()> {
        self.done.fetch_add(units, Ordering::Relaxed);
        if self.cancelled.load(Ordering::Relaxed) {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }
}
