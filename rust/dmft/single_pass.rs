//! The single causal pass (theory.md section 4.1): one sweep `k = 0, 1, ..., T-1` of all
//! groups side by side, each extending its `C`, `R`, `m` by one row per step.

use super::group::{each_group, Group, KernelRow};
use super::options::DmftOptions;
use super::patterns::PatternParams;
use super::solution::DmftSolution;
use super::statistics::{combine, KernelStats, Rounds};
use super::weights::Kernels;
use crate::config::Config;
use crate::control::Control;
use crate::error::Result;
use crate::losses::{ActivationFn, LossFn, SampleLoss};

/// Solves the DMFT of `cfg` with the sample loss `sample_loss` in one causal sweep in time.
pub(super) fn single_pass<L: LossFn, A: ActivationFn>(
    cfg: &Config,
    sample_loss: &SampleLoss<L, A>,
    opts: &DmftOptions,
    control: &Control,
) -> Result<DmftSolution> {
    let scales = cfg.chain_scales();
    let params = PatternParams::new(cfg, sample_loss, &scales, opts.response);
    let mut groups: Vec<Group<L, A>> = (0..opts.group_count())
        .map(|g| Group::new(cfg, opts, params, g))
        .collect();
    let mut kernels = KernelAccumulator::new(cfg.steps, opts.keep_kernels, groups.len());
    for k in 0..cfg.steps {
        each_group(&mut groups, |g| {
            g.pattern_step(k, cfg)?;
            if k + 1 < cfg.steps {
                g.advance(k, cfg)?;
            }
            Ok(())
        })?;
        kernels.add(k, groups.iter().filter_map(|g| g.row.as_ref()));
        control.checkpoint(1)?;
    }
    let parts = groups.into_iter().map(Group::into_result).collect();
    Ok(combine(
        cfg,
        sample_loss,
        params.response,
        parts,
        kernels.finish(),
        opts.keep_groups,
        Rounds::single_pass(),
    ))
}

/// The kept kernels of a pass: summed over the groups as their rows come (in group
/// order), with their spread taken row by row, so a run holds two sets of `T x T` kernel
/// matrices (mean and standard error), not one per group.
pub(super) struct KernelAccumulator {
    sum: Option<Kernels>,
    sem: Option<Kernels>,
    groups: usize,
}

impl KernelAccumulator {
    /// For `steps` steps of `groups` groups; nothing is kept unless `keep`.
    pub(super) fn new(steps: usize, keep: bool, groups: usize) -> Self {
        KernelAccumulator {
            sum: keep.then(|| Kernels::zeros(steps)),
            sem: (keep && groups > 1).then(|| Kernels::zeros(steps)),
            groups,
        }
    }

    /// Adds the groups' kernel rows `k`.
    pub(super) fn add<'r>(&mut self, k: usize, rows: impl Iterator<Item = &'r KernelRow>) {
        if self.sum.is_none() {
            return;
        }
        let rows: Vec<&KernelRow> = rows.collect();
        if let Some(sum) = self.sum.as_mut() {
            for row in &rows {
                row.add_to(k, sum);
            }
        }
        if let Some(sem) = self.sem.as_mut() {
            KernelRow::store_sem(&rows, k, sem);
        }
    }

    /// The mean kernels and their standard errors (`None` where not kept).
    pub(super) fn finish(self) -> KernelStats {
        let g = self.groups as f64;
        let mean = self.sum.map(|mut sum| {
            sum.m_c.as_mut_slice().iter_mut().for_each(|v| *v /= g);
            sum.m_r.as_mut_slice().iter_mut().for_each(|v| *v /= g);
            sum.mu.iter_mut().for_each(|v| *v /= g);
            sum
        });
        KernelStats {
            mean,
            sem: self.sem,
        }
    }
}
