//! The single causal pass (theory.md section 4.1): one sweep `k = 0, 1, ..., T-1` of all
//! groups side by side, each extending its `C`, `R`, `m` by one row per step.

use super::group::{each_group, Group, KernelRow};
use super::options::DmftOptions;
use super::patterns::PatternParams;
use super::solution::DmftSolution;
use super::statistics::combine;
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
    // The kept kernels are summed over groups as they come (in group order), and their
    // spread taken row by row, so a run holds two pairs of T x T kernel matrices (mean and
    // standard error), not one per group.
    let mut kernel_sum = opts.keep_kernels.then(|| Kernels::zeros(cfg.steps));
    let mut kernel_sem = (opts.keep_kernels && groups.len() > 1).then(|| Kernels::zeros(cfg.steps));
    for k in 0..cfg.steps {
        each_group(&mut groups, |g| {
            g.pattern_step(k, cfg)?;
            if k + 1 < cfg.steps {
                g.advance(k, cfg)?;
            }
            Ok(())
        })?;
        let rows: Vec<&KernelRow> = groups.iter().filter_map(|g| g.row.as_ref()).collect();
        if let Some(sum) = kernel_sum.as_mut() {
            for row in &rows {
                row.add_to(k, sum);
            }
        }
        if let Some(sem) = kernel_sem.as_mut() {
            KernelRow::store_sem(&rows, k, sem);
        }
        control.checkpoint(1)?;
    }
    let kernels = kernel_sum.map(|mut sum| {
        let g = groups.len() as f64;
        sum.m_c.as_mut_slice().iter_mut().for_each(|v| *v /= g);
        sum.m_r.as_mut_slice().iter_mut().for_each(|v| *v /= g);
        sum.mu.iter_mut().for_each(|v| *v /= g);
        sum
    });
    let parts = groups.into_iter().map(Group::into_result).collect();
    Ok(combine(
        cfg,
        sample_loss,
        params.response,
        parts,
        kernels,
        kernel_sem,
        opts.keep_groups,
        Vec::new(),
        Vec::new(),
        true,
    ))
}
