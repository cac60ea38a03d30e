//! The PyO3 binding module `dmft_sgd._core`: converts arguments, releases the GIL while the
//! core runs on its own rayon pool, relays Ctrl-C and progress, and maps errors to Python
//! exceptions. Results cross as the typed, read-only classes `DmftSolution`, `Ensemble` and
//! `Trajectory` holding numpy arrays (moved, not copied); their observables are keyed by
//! the registry [`OBSERVABLES`], exported as `_core.OBSERVABLES`, from which the Python
//! result classes take their fields. The friendly API, type checks and result classes
//! live in Python; `python/dmft_sgd/_core.pyi` describes this module (checked by
//! `mypy.stubtest` in CI).

use crate::config::{Activation, Config, FlatConfig};
use crate::control::Control;
use crate::dmft::{
    dmft_step_costs, solve_dmft as solve, solve_dmft_ladder as ladder,
    solve_network_dmft as network_dmft, DmftOptions, DmftSolution, Method, NetworkDmftOptions,
    NetworkResponse, Response, TimeMatrix,
};
use crate::error::{Divergence, Error};
use crate::minibatch::batch_mask;
use crate::network::{
    network_on_data, simulate_network_with as network_ensemble, NetworkRun, NetworkRuns,
    NetworkTrajectory, TargetFn,
};
use crate::observables::{test_error_with, test_loss_with, OBSERVABLES};
use crate::problem::Problem;
use crate::resources::{measure_read_bandwidth, with_threads};
use crate::sgd::{sgd_on_data, DataSet, UserRun};
use crate::simulate::{simulate as simulate_ensemble, EnsembleSpec};
use numpy::ndarray::{Array2, Array3, Array4, ArrayD, Dimension};
use numpy::{
    Element, IntoPyArray, PyArray1, PyArray2, PyReadonlyArray, PyReadonlyArray1, PyReadonlyArray2,
    PyReadonlyArray3,
};
use pyo3::exceptions::{PyKeyboardInterrupt, PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use std::sync::mpsc;
use std::time::Duration;

// The full module path makes the exceptions picklable (process pools, dask); their
// attributes travel in the instance's __dict__, which pickling keeps.
pyo3::create_exception!(
    dmft_sgd._core,
    DivergenceError,
    PyRuntimeError,
    "A run that blew up (usually: the learning rate is too large). Attributes: `run` \
(e.g. 'DMFT'), `step` (the first step out of bounds), `observable` ('m', 'q', \
'train_loss', ...), `value` and `bound` (None where the value is not finite) and `lr` \
(the rate of the update that made that step)."
);
pyo3::create_exception!(
    dmft_sgd._core,
    InvalidParameterError,
    PyValueError,
    "A parameter outside its allowed range, refused before any work. Attributes: \
`parameter` (its name as the user spells it) and `value` (the value given, where known, \
else None)."
);

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        let msg = e.to_string();
        match e {
            Error::InvalidParameter { name, .. } => {
                let err = InvalidParameterError::new_err(msg);
                with_attributes(err, |py| {
                    Ok(vec![
                        ("parameter", name.into_pyobject(py)?.into_any()),
                        ("value", py.None().into_bound(py)),
                    ])
                })
            }
            Error::Diverged {
                what,
                step,
                observable,
                cause,
                lr,
            } => {
                let err = DivergenceError::new_err(msg);
                let (value, bound) = match cause {
                    Divergence::BeyondBound { value, bound } => (Some(value), Some(bound)),
                    _ => (None, None),
                };
                with_attributes(err, |py| {
                    Ok(vec![
                        ("run", what.into_pyobject(py)?.into_any()),
                        ("step", step.into_pyobject(py)?.into_any()),
                        ("observable", observable.into_pyobject(py)?.into_any()),
                        ("value", value.into_pyobject(py)?.into_any()),
                        ("bound", bound.into_pyobject(py)?.into_any()),
                        ("lr", lr.into_pyobject(py)?.into_any()),
                    ])
                })
            }
            Error::OutOfMemory { .. } => PyMemoryError::new_err(msg),
            Error::Cancelled => PyKeyboardInterrupt::new_err(msg),
            // A variant added later maps to a RuntimeError until it has its own exception.
            #[allow(unreachable_patterns)]
            _ => PyRuntimeError::new_err(msg),
        }
    }
}

/// `err` with the named attributes set on its instance, so callers read fields instead
/// of parsing the message.
fn with_attributes(
    err: PyErr,
    attributes: impl for<'a> FnOnce(Python<'a>) -> PyResult<Vec<(&'static str, Bound<'a, PyAny>)>>,
) -> PyErr {
    Python::attach(|py| {
        let set = attributes(py).and_then(|pairs| {
            let instance = err.value(py);
            pairs
                .into_iter()
                .try_for_each(|(name, value)| instance.setattr(name, value))
        });
        match set {
            Ok(()) => err,
            Err(failure) => failure,
        }
    })
}

/// A config from the dict of `dmft_sgd.Config`'s fields, its flat form [`FlatConfig`]
/// (`None` kept: Rust resolves it), checked by the core's conversion. A refusal carries
/// the value the dict gave the parameter it names.
fn config_from_dict(d: &Bound<'_, PyDict>) -> PyResult<Config> {
    let flat: FlatConfig = d.extract()?;
    Config::try_from(flat).map_err(|e| {
        let given = match &e {
            Error::InvalidParameter { name, .. } => d.get_item(name).ok().flatten(),
            _ => None,
        };
        let err = PyErr::from(e);
        match given {
            Some(value) => match err.value(d.py()).setattr("value", value) {
                Ok(()) => err,
                Err(failure) => failure,
            },
            None => err,
        }
    })
}

/// The problem of a config dict, parsed and checked once ([`config_from_dict`]).
fn problem_from_dict(d: &Bound<'_, PyDict>) -> PyResult<Problem> {
    Ok(Problem::from_checked(config_from_dict(d)?))
}

/// Runs `job` on a local pool of `threads` workers with the GIL released. Meanwhile the
/// calling thread checks for Ctrl-C and reports progress every 50 ms; an interrupt cancels
/// the job, which stops at its next checkpoint. A panic becomes a RuntimeError.
fn run_detached<T: Send>(
    py: Python<'_>,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
    job: impl FnOnce(&Control) -> crate::Result<T> + Send,
) -> PyResult<T> {
    let control = Control::new();
    let (outcome, interrupt) = py.detach(|| {
        std::thread::scope(|scope| {
            let (done_tx, done_rx) = mpsc::channel::<()>();
            let control = &control;
            let worker = scope.spawn(move || {
                let result = with_threads(threads, || job(control));
                let _ = done_tx.send(());
                result
            });
            let mut interrupt: Option<PyErr> = None;
            let mut reported = 0;
            // Disconnected (worker panicked) or finished: either way stop polling.
            while let Err(mpsc::RecvTimeoutError::Timeout) =
                done_rx.recv_timeout(Duration::from_millis(50))
            {
                if interrupt.is_some() {
                    continue;
                }
                Python::attach(|py| {
                    let mut status = py.check_signals();
                    let now = control.progress();
                    if let (Ok(()), Some(callback)) = (&status, &progress) {
                        if now != reported {
                            reported = now;
                            status = callback.call1(py, (now,)).map(|_| ());
                        }
                    }
                    if let Err(e) = status {
                        control.cancel();
                        interrupt = Some(e);
                    }
                });
            }
            (worker.join(), interrupt)
        })
    });
    if let Some(e) = interrupt {
        return Err(e);
    }
    match outcome {
        Ok(Ok(Ok(value))) => Ok(value),
        Ok(Ok(Err(e))) | Ok(Err(e)) => Err(e.into()),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(PyRuntimeError::new_err(format!(
                "internal error in dmft_sgd (please report): {what}"
            )))
        }
    }
}

fn threads_arg(threads: Option<i64>) -> PyResult<Option<usize>> {
    match threads {
        None => Ok(None),
        Some(t) if t >= 1 => Ok(Some(t as usize)),
        Some(t) => Err(Error::invalid(
            "threads",
            format!("must be >= 1 (or None for all cores), got {t}"),
        )
        .into()),
    }
}

/// The observables of a result as a dict keyed by the names of [`OBSERVABLES`], in its
/// order; `to_array` moves each series into a numpy array. A series not recorded (the
/// classification errors of a regression model, which are empty) is `None`.
fn observable_dict<'py>(
    py: Python<'py>,
    named: [(&'static str, Vec<f64>); OBSERVABLES.len()],
    to_array: impl Fn(Vec<f64>) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Py<PyDict>> {
    let out = PyDict::new(py);
    for ((name, values), info) in named.into_iter().zip(OBSERVABLES.iter()) {
        debug_assert_eq!(name, info.name);
        if values.is_empty() {
            out.set_item(name, py.None())?;
        } else {
            out.set_item(name, to_array(values)?)?;
        }
    }
    Ok(out.unbind())
}

/// What `_core.solve_dmft` returns: the DMFT's arrays, read-only attributes.
#[pyclass(frozen, module = "dmft_sgd._core", name = "DmftSolution")]
struct DmftSolutionOut {
    /// The physical time of each step, (T,).
    #[pyo3(get)]
    t: Py<PyArray1<f64>>,
    /// Each observable of `OBSERVABLES` by name, shape (T,).
    #[pyo3(get)]
    observables: Py<PyDict>,
    /// Their Monte Carlo standard errors, keyed alike; None for one group.
    #[pyo3(get)]
    sem: Option<Py<PyDict>>,
    /// Correlation C(k, l), (T, T).
    #[pyo3(get, name = "C")]
    c: Py<PyArray2<f64>>,
    /// Response R(k, l), (T, T).
    #[pyo3(get, name = "R")]
    r: Py<PyArray2<f64>>,
    /// Memory kernel M_C, (T, T); None unless kept.
    #[pyo3(get, name = "M_C")]
    m_c: Option<Py<PyArray2<f64>>>,
    /// Memory kernel M_R, (T, T); None unless kept.
    #[pyo3(get, name = "M_R")]
    m_r: Option<Py<PyArray2<f64>>>,
    /// The kernel mu, (T,); None unless kept.
    #[pyo3(get)]
    mu: Option<Py<PyArray1<f64>>>,
    /// The standard errors of "C", "R", "M_C", "M_R" and "mu" (the kernels' None unless
    /// kept); None for one group.
    #[pyo3(get)]
    two_time_sem: Option<Py<PyDict>>,
    /// Each observable of each group by name, shape (groups, T) (None where not recorded).
    #[pyo3(get)]
    group_observables: Py<PyDict>,
    /// Each group's C, (groups, T, T); None unless kept.
    #[pyo3(get, name = "C_groups")]
    c_groups: Option<Py<PyAny>>,
    /// Each group's R, (groups, T, T); None unless kept.
    #[pyo3(get, name = "R_groups")]
    r_groups: Option<Py<PyAny>>,
    /// Method "iterate": the largest relative kernel change per iteration.
    #[pyo3(get)]
    changes: Py<PyArray1<f64>>,
    /// Method "iterate": the change Monte Carlo noise alone makes, per iteration (empty
    /// for one group).
    #[pyo3(get)]
    change_noise: Py<PyArray1<f64>>,
    /// Method "iterate": whether the change fell below `tol` or below its noise.
    #[pyo3(get)]
    converged: bool,
    /// The estimator of M_R used: "tangent" or "probe".
    #[pyo3(get)]
    response: &'static str,
    /// The probe's band (0 for "tangent").
    #[pyo3(get)]
    band: usize,
    /// Number of independent groups.
    #[pyo3(get)]
    groups: usize,
    /// Where the time went: CPU seconds of each stage ("noise", "memory", "samples",
    /// "response", "kernel_rows", "cholesky", "weight_side"), summed over groups and
    /// threads.
    #[pyo3(get)]
    stage_seconds: Py<PyDict>,
}

/// What `_core.simulate` returns: each observable, shape (replicas, T), and with
/// `record_two_time` each replica's C and R, shape (replicas, T, T).
#[pyclass(frozen, module = "dmft_sgd._core", name = "Ensemble")]
struct EnsembleOut {
    /// The physical time of each step, (T,).
    #[pyo3(get)]
    t: Py<PyArray1<f64>>,
    /// Each observable of `OBSERVABLES` by name, shape (replicas, T).
    #[pyo3(get)]
    observables: Py<PyDict>,
    /// Each replica's C, (replicas, T, T); None unless recorded.
    #[pyo3(get, name = "C")]
    c: Option<Py<PyAny>>,
    /// Each replica's R, (replicas, T, T); None unless recorded.
    #[pyo3(get, name = "R")]
    r: Option<Py<PyAny>>,
}

/// What `_core.sgd_trajectory` returns: each observable, shape (T,), and the final weights.
#[pyclass(frozen, module = "dmft_sgd._core", name = "Trajectory")]
struct TrajectoryOut {
    /// The physical time of each step, (T,).
    #[pyo3(get)]
    t: Py<PyArray1<f64>>,
    /// Each observable of `OBSERVABLES` by name, shape (T,).
    #[pyo3(get)]
    observables: Py<PyDict>,
    /// The weights at the last step, (d,).
    #[pyo3(get)]
    w: Py<PyArray1<f64>>,
}

/// Checks a config dict (fields as given, `None` kept); raises ValueError naming the
/// first bad parameter.
#[pyfunction]
fn validate_config(config: &Bound<'_, PyDict>) -> PyResult<()> {
    config_from_dict(config).map(|_| ())
}

/// The Rust `Config::default()` as the dict of `dmft_sgd.Config`'s fields (`None` for
/// `activation`, `tau`, `m0`): the defaults of the Python API.
#[pyfunction]
fn config_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    FlatConfig::default().into_pyobject(py)
}

/// The defaults of `solve_dmft`'s options, as Rust's [`DmftOptions::default()`] and
/// [`Method::iterate()`] have them: `samples`, `groups` (None: the rule of
/// [`DmftOptions::groups_for`]), `seed`, `response` ("auto"), `band`, `keep_kernels`,
/// `method` ("single"), `response_samples` (None: all), `iterations`, `damping`, `tol`.
#[pyfunction]
fn dmft_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let opts = DmftOptions::default();
    let Method::Iterate {
        iterations,
        damping,
        tol,
    } = Method::iterate()
    else {
        unreachable!("Method::iterate() is the iteration")
    };
    let out = PyDict::new(py);
    out.set_item("samples", opts.samples)?;
    out.set_item("groups", opts.groups)?;
    out.set_item("seed", opts.seed)?;
    out.set_item("response", "auto")?;
    out.set_item("band", Response::DEFAULT_BAND)?;
    out.set_item("keep_kernels", opts.keep_kernels)?;
    out.set_item("method", "single")?;
    out.set_item("response_samples", opts.response_samples)?;
    out.set_item("iterations", iterations)?;
    out.set_item("damping", damping)?;
    out.set_item("tol", tol)?;
    Ok(out)
}

/// The number of groups a solve of `config` uses (`DmftOptions::groups_for`): `groups`,
/// or the default for the run's length and its (response) samples.
#[pyfunction]
#[pyo3(signature = (config, *, samples, groups, response_samples))]
fn groups_for(
    config: &Bound<'_, PyDict>,
    samples: usize,
    groups: Option<usize>,
    response_samples: Option<usize>,
) -> PyResult<usize> {
    let cfg = config_from_dict(config)?;
    let opts = DmftOptions {
        samples,
        groups,
        response_samples,
        ..DmftOptions::default()
    };
    Ok(opts.groups_for(&cfg))
}

/// The relative cost of each time step of a solve ([`dmft_step_costs`]): what a progress
/// bar's time estimate weighs the steps by.
#[pyfunction]
#[pyo3(signature = (config, *, samples, groups, response_samples, response, band))]
fn step_costs<'py>(
    py: Python<'py>,
    config: &Bound<'py, PyDict>,
    samples: usize,
    groups: Option<usize>,
    response_samples: Option<usize>,
    response: &str,
    band: usize,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let cfg = config_from_dict(config)?;
    let opts = DmftOptions {
        samples,
        groups,
        response_samples,
        response: response_arg(response, band)?,
        ..DmftOptions::default()
    };
    Ok(dmft_step_costs(&cfg, &opts).into_pyarray(py))
}

/// The fields of `dmft_sgd.Config`, in order, as `(name, kind, optional, description)`
/// with `kind` one of "str", "int", "float", "bool" ([`FlatConfig::FIELDS`]).
#[pyfunction]
fn config_fields() -> Vec<(&'static str, &'static str, bool, &'static str)> {
    FlatConfig::FIELDS
        .iter()
        .map(|f| (f.name, f.kind.name(), f.optional, f.doc.trim()))
        .collect()
}

/// The values in use for a config dict, as Rust resolves its `None` defaults:
/// `activation` ("linear" or "door"), `threshold` (the door's, None for linear), `tau`,
/// `m0`, and `classifies` (whether labels are ±1, [`Config::labels_are_signs`]). Validates the config first (ValueError naming the bad parameter).
#[pyfunction]
fn resolve_config<'py>(
    py: Python<'py>,
    config: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyDict>> {
    let cfg = config_from_dict(config)?;
    let activation = cfg.activation();
    let out = PyDict::new(py);
    out.set_item("loss", cfg.loss().name())?;
    out.set_item("activation", activation.name())?;
    out.set_item(
        "threshold",
        match activation {
            Activation::Door { threshold } => Some(threshold),
            _ => None,
        },
    )?;
    out.set_item("tau", cfg.resolved().tau)?;
    out.set_item("m0", cfg.m0())?;
    out.set_item("classifies", cfg.labels_are_signs())?;
    Ok(out)
}

/// The time grid `t_k` of a config's steps (every result's `t`).
#[pyfunction]
fn times<'py>(py: Python<'py>, config: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyArray1<f64>>> {
    Ok(config_from_dict(config)?.times().into_pyarray(py))
}

/// The step whose time is nearest to `t`, or None where `t` is off the grid (negative,
/// not finite, or past the last time by more than half a step).
#[pyfunction]
#[pyo3(signature = (config, *, t))]
fn step_at(config: &Bound<'_, PyDict>, t: f64) -> PyResult<Option<usize>> {
    Ok(config_from_dict(config)?.step_at(t))
}

/// Runs the finite-d ensemble; returns its (replicas, steps) float64 arrays and, with
/// `record_two_time`, its (replicas, steps, steps) C and R. `progress(done)` is called
/// with the number of finished replica-steps (the twin runs count).
#[pyfunction]
#[pyo3(signature = (config, *, d, replicas, seed, threads=None, progress=None,
    record_two_time=false))]
#[allow(clippy::too_many_arguments)]
fn simulate<'py>(
    py: Python<'py>,
    config: &Bound<'py, PyDict>,
    d: usize,
    replicas: usize,
    seed: u64,
    threads: Option<i64>,
    progress: Option<Py<PyAny>>,
    record_two_time: bool,
) -> PyResult<EnsembleOut> {
    let problem = problem_from_dict(config)?;
    let spec = EnsembleSpec::new(d, replicas)
        .seed(seed)
        .threads(threads_arg(threads)?)
        .record_two_time(record_two_time);
    // The ensemble runs on its own pool of `threads`; the waiting thread needs no other.
    let mut ens = run_detached(py, Some(1), progress, |control| {
        simulate_ensemble(&problem, &spec, control)
    })?;
    let shape = (ens.replicas, ens.steps);
    let t = std::mem::take(&mut ens.t).into_pyarray(py).unbind();
    let cube = |flat: Option<Vec<f64>>| -> PyResult<Option<Py<PyAny>>> {
        flat.map(|flat| {
            let array = Array3::from_shape_vec((shape.0, shape.1, shape.1), flat)
                .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
            Ok(array.into_pyarray(py).into_any().unbind())
        })
        .transpose()
    };
    let (c, r) = (cube(ens.c.take())?, cube(ens.r.take())?);
    let observables = observable_dict(py, ens.into_named(), |values| {
        let array = Array2::from_shape_vec(shape, values)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(array.into_pyarray(py).into_any())
    })?;
    Ok(EnsembleOut {
        t,
        observables,
        c,
        r,
    })
}

/// Solves the DMFT; returns its float64 arrays (observables and their standard errors
/// `(T,)`, `C, R, M_C, M_R` `(T, T)`, the latter two `None` unless kept) and what the run
/// used. `progress(done)` is called with the number of finished time steps.
#[pyfunction]
#[pyo3(signature = (config, *, samples, groups, seed, threads, method, response, band,
    response_samples, keep_kernels, iterations, damping, tol, keep_groups=None,
    progress=None))]
#[allow(clippy::too_many_arguments)]
fn solve_dmft<'py>(
    py: Python<'py>,
    config: &Bound<'py, PyDict>,
    samples: usize,
    groups: Option<usize>,
    seed: u64,
    threads: Option<i64>,
    method: &str,
    response: &str,
    band: usize,
    response_samples: Option<usize>,
    keep_kernels: bool,
    iterations: usize,
    damping: f64,
    tol: f64,
    keep_groups: Option<bool>,
    progress: Option<Py<PyAny>>,
) -> PyResult<DmftSolutionOut> {
    let problem = problem_from_dict(config)?;
    let method = match method {
        "single" => Method::SinglePass,
        "iterate" => Method::Iterate {
            iterations,
            damping,
            tol,
        },
        other => {
            return Err(Error::invalid(
                "method",
                format!("must be 'single' or 'iterate', got '{other}'"),
            )
            .into())
        }
    };
    let response = response_arg(response, band)?;
    let opts = DmftOptions {
        samples,
        groups,
        response,
        response_samples,
        keep_kernels,
        keep_groups: false,
        seed,
        method,
        threads: threads_arg(threads)?,
    };
    // None: the core's default for this problem and these options.
    let opts = DmftOptions {
        keep_groups: keep_groups.unwrap_or_else(|| opts.default_keep_groups(problem.config())),
        ..opts
    };
    // The solver runs on its own pool of `threads`; the waiting thread needs no other.
    let sol = run_detached(py, Some(1), progress, |control| {
        solve(&problem, &opts, control)
    })?;
    solution_out(py, sol)
}

/// The DMFT on the ladder of learning rates `lrs` (coarsest first) in one coupled pass
/// (`solve_dmft_ladder`): one solution per level, in the order of `lrs`.
/// `progress(done)` counts the finest level's steps.
#[pyfunction]
#[pyo3(signature = (config, *, lrs, samples, groups, seed, threads, response, band,
    response_samples, keep_kernels, keep_groups=false, progress=None))]
#[allow(clippy::too_many_arguments)]
fn solve_dmft_ladder(
    py: Python<'_>,
    config: &Bound<'_, PyDict>,
    lrs: Vec<f64>,
    samples: usize,
    groups: Option<usize>,
    seed: u64,
    threads: Option<i64>,
    response: &str,
    band: usize,
    response_samples: Option<usize>,
    keep_kernels: bool,
    keep_groups: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<Vec<DmftSolutionOut>> {
    let problem = problem_from_dict(config)?;
    let opts = DmftOptions {
        samples,
        groups,
        response: response_arg(response, band)?,
        response_samples,
        keep_kernels,
        keep_groups,
        seed,
        method: Method::SinglePass,
        threads: threads_arg(threads)?,
    };
    let levels = run_detached(py, Some(1), progress, |control| {
        ladder(&problem, &lrs, &opts, control)
    })?;
    levels
        .into_iter()
        .map(|sol| solution_out(py, sol))
        .collect()
}

/// The response estimator named `response` ("auto", "tangent" or "probe" with `band`).
fn response_arg(response: &str, band: usize) -> PyResult<Response> {
    match response {
        "auto" => Ok(Response::Auto),
        "tangent" => Ok(Response::Tangent),
        "probe" => Ok(Response::Probe { band }),
        other => Err(Error::invalid(
            "response",
            format!("must be 'auto', 'tangent' or 'probe', got '{other}'"),
        )
        .into()),
    }
}

/// A solution's arrays moved into numpy (no copies of the `T x T` matrices).
fn solution_out(py: Python<'_>, sol: DmftSolution) -> PyResult<DmftSolutionOut> {
    let t = sol.t.len();
    let square = |m: TimeMatrix| -> PyResult<Py<PyArray2<f64>>> {
        let array = Array2::from_shape_vec((t, t), m.into_vec())
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(array.into_pyarray(py).unbind())
    };
    let stack = |matrices: Vec<TimeMatrix>| -> PyResult<Py<PyAny>> {
        let g = matrices.len();
        let flat: Vec<f64> = matrices
            .into_iter()
            .flat_map(TimeMatrix::into_vec)
            .collect();
        let array = Array3::from_shape_vec((g, t, t), flat)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(array.into_pyarray(py).into_any().unbind())
    };
    let vector = |values: Vec<f64>| Ok(values.into_pyarray(py).into_any());
    let observables = observable_dict(py, sol.observables.into_named(), vector)?;
    let sem = match sol.sem {
        Some(sem) => Some(observable_dict(py, sem.into_named(), vector)?),
        None => None,
    };
    let two_time_sem = match sol.two_time_sem {
        Some(two) => {
            let out = PyDict::new(py);
            out.set_item("C", square(two.c)?)?;
            out.set_item("R", square(two.r)?)?;
            match two.kernels {
                Some(k) => {
                    out.set_item("M_C", square(k.m_c)?)?;
                    out.set_item("M_R", square(k.m_r)?)?;
                    out.set_item("mu", k.mu.into_pyarray(py))?;
                }
                None => {
                    for name in ["M_C", "M_R", "mu"] {
                        out.set_item(name, py.None())?;
                    }
                }
            }
            Some(out.unbind())
        }
        None => None,
    };
    // (groups, T) per observable: the groups' series side by side.
    let groups = sol.group_observables.len();
    let mut per_name: Vec<(&'static str, Vec<f64>)> = OBSERVABLES
        .iter()
        .map(|info| (info.name, Vec::with_capacity(groups * t)))
        .collect();
    for obs in sol.group_observables {
        for ((_, out), (_, values)) in per_name.iter_mut().zip(obs.into_named()) {
            out.extend(values);
        }
    }
    let group_observables = PyDict::new(py);
    for (name, values) in per_name {
        if values.is_empty() {
            group_observables.set_item(name, py.None())?;
        } else {
            let array = Array2::from_shape_vec((groups, t), values)
                .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
            group_observables.set_item(name, array.into_pyarray(py))?;
        }
    }
    let (c_groups, r_groups) = if sol.group_matrices.is_empty() {
        (None, None)
    } else {
        let (c, r): (Vec<TimeMatrix>, Vec<TimeMatrix>) =
            sol.group_matrices.into_iter().map(|m| (m.c, m.r)).unzip();
        (Some(stack(c)?), Some(stack(r)?))
    };
    let (m_c, m_r, mu) = match sol.kernels {
        Some(k) => (
            Some(square(k.m_c)?),
            Some(square(k.m_r)?),
            Some(k.mu.into_pyarray(py).unbind()),
        ),
        None => (None, None, None),
    };
    let (response, band) = match sol.response {
        Response::Probe { band } => ("probe", band),
        _ => ("tangent", 0),
    };
    let stage_seconds = PyDict::new(py);
    for (name, seconds) in sol.stage_seconds.named() {
        stage_seconds.set_item(name, seconds)?;
    }
    Ok(DmftSolutionOut {
        t: sol.t.into_pyarray(py).unbind(),
        observables,
        sem,
        c: square(sol.c)?,
        r: square(sol.r)?,
        m_c,
        m_r,
        mu,
        two_time_sem,
        group_observables: group_observables.unbind(),
        c_groups,
        r_groups,
        changes: sol.changes.into_pyarray(py).unbind(),
        change_noise: sol.change_noise.into_pyarray(py).unbind(),
        converged: sol.converged,
        response,
        band,
        groups: sol.groups,
        stage_seconds: stage_seconds.unbind(),
    })
}

/// The data of a user's array, which must be C-contiguous (an error names it otherwise).
fn contiguous<'a, T: Element, D: Dimension>(
    array: &'a PyReadonlyArray<'_, T, D>,
    name: &str,
) -> PyResult<&'a [T]> {
    array
        .as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be C-contiguous")))
}

/// [`contiguous`] for an optional array.
fn contiguous_if_given<'a, T: Element, D: Dimension>(
    array: &'a Option<PyReadonlyArray<'_, T, D>>,
    name: &str,
) -> PyResult<Option<&'a [T]>> {
    array.as_ref().map(|a| contiguous(a, name)).transpose()
}

/// The user's test set `(X_test, y_test)`: both or neither.
fn test_set<'a>(
    x_test: &'a Option<PyReadonlyArray2<'_, f64>>,
    y_test: &'a Option<PyReadonlyArray1<'_, f64>>,
) -> PyResult<Option<(&'a [f64], &'a [f64])>> {
    match (x_test, y_test) {
        (Some(x), Some(y)) => Ok(Some((contiguous(x, "X_test")?, contiguous(y, "y_test")?))),
        (None, None) => Ok(None),
        _ => Err(PyValueError::new_err(
            "X_test and y_test go together: give both or neither",
        )),
    }
}

/// SGD on user data (C-contiguous float64 arrays); returns its (steps,) arrays and the
/// final weights `w`.
#[pyfunction]
#[pyo3(signature = (config, x, y, v_star, w0, *, seed, batches=None, langevin_noise=None,
    x_test=None, y_test=None))]
#[allow(clippy::too_many_arguments)]
fn sgd_trajectory<'py>(
    py: Python<'py>,
    config: &Bound<'py, PyDict>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    v_star: PyReadonlyArray1<'py, f64>,
    w0: PyReadonlyArray1<'py, f64>,
    seed: u64,
    batches: Option<PyReadonlyArray2<'py, bool>>,
    langevin_noise: Option<PyReadonlyArray2<'py, f64>>,
    x_test: Option<PyReadonlyArray2<'py, f64>>,
    y_test: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<TrajectoryOut> {
    let problem = problem_from_dict(config)?;
    let data = DataSet {
        x: contiguous(&x, "X")?,
        y: contiguous(&y, "y")?,
        v_star: contiguous(&v_star, "v_star")?,
    };
    let run = UserRun {
        seed,
        batches: contiguous_if_given(&batches, "batches")?,
        langevin_noise: contiguous_if_given(&langevin_noise, "langevin_noise")?,
        test: test_set(&x_test, &y_test)?,
        ..UserRun::new(data, contiguous(&w0, "w0")?)
    };
    let traj = run_detached(py, Some(1), None, |control| {
        sgd_on_data(&problem, &run, control)
    })?;
    let mut traj = traj;
    let w = std::mem::take(&mut traj.w).into_pyarray(py).unbind();
    let t = std::mem::take(&mut traj.t).into_pyarray(py).unbind();
    let observables = observable_dict(py, traj.into_named(), |values| {
        Ok(values.into_pyarray(py).into_any())
    })?;
    Ok(TrajectoryOut { t, observables, w })
}

/// A committee's SGD on user data (`network_on_data`; C-contiguous float64 arrays, `v_star`
/// `(K*, d)`, `w0` `(K, d)`, `langevin_noise` `(steps, K, d)`): a dict of `t` (T,), `M`
/// (T, K, K*), `Q` (T, K, K), each observable (T,) (None where not recorded) and the
/// final weights `W` (K, d).
#[pyfunction]
#[pyo3(signature = (config, x, y, v_star, w0, *, seed, batches=None, langevin_noise=None,
    x_test=None, y_test=None))]
#[allow(clippy::too_many_arguments)]
fn network_trajectory<'py>(
    py: Python<'py>,
    config: &Bound<'py, PyDict>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    v_star: PyReadonlyArray2<'py, f64>,
    w0: PyReadonlyArray2<'py, f64>,
    seed: u64,
    batches: Option<PyReadonlyArray2<'py, bool>>,
    langevin_noise: Option<PyReadonlyArray3<'py, f64>>,
    x_test: Option<PyReadonlyArray2<'py, f64>>,
    y_test: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<Bound<'py, PyDict>> {
    let problem = problem_from_dict(config)?;
    let run = NetworkRun {
        seed,
        batches: contiguous_if_given(&batches, "batches")?,
        langevin_noise: contiguous_if_given(&langevin_noise, "langevin_noise")?,
        test: test_set(&x_test, &y_test)?,
        ..NetworkRun::new(
            contiguous(&x, "X")?,
            contiguous(&y, "y")?,
            contiguous(&v_star, "v_star")?,
            contiguous(&w0, "w0")?,
            v_star.as_array().ncols(),
        )
    };
    let out = run_detached(py, Some(1), None, |control| {
        network_on_data(&problem, &run, control)
    })?;
    network_trajectory_arrays(py, out)
}

/// A committee run's arrays as a dict: `t`, `M` `(T, K, K*)`, `Q` `(T, K, K)`, the
/// observables `(T,)` (None where not recorded) and the final weights `W` `(K, d)`.
fn network_trajectory_arrays(
    py: Python<'_>,
    run: NetworkTrajectory,
) -> PyResult<Bound<'_, PyDict>> {
    let (t, k, ks) = (run.t.len(), run.hidden, run.teacher_units);
    let d = run.w.len() / k;
    let shape_error = |e: numpy::ndarray::ShapeError| PyRuntimeError::new_err(e.to_string());
    let out = PyDict::new(py);
    out.set_item("t", run.t.into_pyarray(py))?;
    let overlaps = Array3::from_shape_vec((t, k, ks), run.overlaps).map_err(shape_error)?;
    out.set_item("M", overlaps.into_pyarray(py))?;
    let gram = Array3::from_shape_vec((t, k, k), run.gram).map_err(shape_error)?;
    out.set_item("Q", gram.into_pyarray(py))?;
    let names = ["train_loss", "test_loss", "train_error", "test_error"];
    let observables = [
        run.train_loss,
        run.test_loss,
        run.train_error,
        run.test_error,
    ];
    for (name, values) in names.into_iter().zip(observables) {
        if values.is_empty() {
            out.set_item(name, py.None())?;
        } else {
            out.set_item(name, values.into_pyarray(py))?;
        }
    }
    let w = Array2::from_shape_vec((k, d), run.w).map_err(shape_error)?;
    out.set_item("W", w.into_pyarray(py))?;
    Ok(out)
}

/// The test observables of the config's data model at the order parameters `m`, `q`:
/// `(test_loss, test_error)`, the error None unless labels are ±1.
#[pyfunction]
#[pyo3(signature = (config, *, m, q))]
fn test_observables(config: &Bound<'_, PyDict>, m: f64, q: f64) -> PyResult<(f64, Option<f64>)> {
    let cfg = config_from_dict(config)?;
    cfg.check_single_unit("test_observables (a function of m and q)")?;
    if !(m.is_finite() && q.is_finite() && q >= 0.0) {
        return Err(Error::invalid(
            "q",
            format!("m must be finite and q finite and >= 0, got m = {m}, q = {q}"),
        )
        .into());
    }
    let loss = cfg.sample_loss();
    let error = cfg
        .labels_are_signs()
        .then(|| test_error_with(&cfg, &loss.activation, m, q));
    Ok((test_loss_with(&cfg, &loss, m, q), error))
}

/// The steps of each level of the ladder `lrs` of the stochastic gradient flow (the
/// core's rules: a constant lr, a `tau` or full batch, each rate the one before divided
/// by an integer >= 2 and dividing the horizon), in the order of `lrs`.
#[pyfunction]
#[pyo3(signature = (config, *, lrs))]
fn ladder_steps(config: &Bound<'_, PyDict>, lrs: Vec<f64>) -> PyResult<Vec<usize>> {
    let levels = crate::dmft::ladder_configs(&problem_from_dict(config)?, &lrs)?;
    Ok(levels.iter().map(|level| level.steps()).collect())
}

/// The Richardson weights of order `order` on the ladder `lrs` (theory.md section 6.1).
#[pyfunction]
fn richardson_weights(lrs: Vec<f64>, order: usize) -> PyResult<Vec<f64>> {
    Ok(crate::dmft::richardson_weights(&lrs, order)?)
}

/// The (steps, n) boolean batch mask that `sgd_trajectory` draws for `seed`.
#[pyfunction]
#[pyo3(signature = (config, *, n, seed))]
fn minibatch_chain<'py>(
    py: Python<'py>,
    config: &Bound<'py, PyDict>,
    n: usize,
    seed: u64,
) -> PyResult<Bound<'py, numpy::PyArray2<bool>>> {
    let cfg = config_from_dict(config)?;
    let mask = py.detach(|| batch_mask(&cfg, n, seed))?;
    let array = Array2::from_shape_vec((cfg.steps, n), mask)
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    Ok(array.into_pyarray(py))
}

/// A Python callable `target(h_star, eps) -> y` as a [`TargetFn`]: called from the
/// ensemble's workers, each holding the GIL for the call, with `h_star` of shape
/// `(n, K*)` and `eps` of shape `(n,)`; what it returns is read as float64.
struct PyTarget(Py<PyAny>);

impl TargetFn for PyTarget {
    fn labels(&self, h_star: &[f64], eps: &[f64]) -> crate::Result<Vec<f64>> {
        let failed = |what: String| Error::invalid("target", what);
        Python::attach(|py| {
            let n = eps.len();
            let units = h_star.len().checked_div(n).unwrap_or(0);
            let fields = Array2::from_shape_vec((n, units), h_star.to_vec())
                .map_err(|e| failed(e.to_string()))?;
            let call = || -> PyResult<Vec<f64>> {
                let out = self
                    .0
                    .bind(py)
                    .call1((fields.into_pyarray(py), eps.to_vec().into_pyarray(py)))?;
                let numpy = py.import("numpy")?;
                let flat = numpy
                    .call_method1("asarray", (out, "float64"))?
                    .call_method0("ravel")?;
                let array: PyReadonlyArray1<f64> = flat.extract()?;
                Ok(array.as_array().to_vec())
            };
            call().map_err(|e| failed(format!("raised {e}")))
        })
    }
}

/// Runs the finite-d ensemble of a two-layer network (`simulate_network`): a dict of
/// float64 arrays, `t` (T,), `M` (replicas, T, K, K*), `Q` (replicas, T, K, K), each
/// recorded observable (replicas, T), and with `record_two_time` each replica's `C` and
/// `R` blocks (replicas, T, K, T, K); the errors are None unless labels are ±1.
/// `progress(done)` is called with the number of finished replica-steps (the twin runs
/// count); `target`, a callable `target(h_star, eps) -> y`, gives the teacher's labels.
#[pyfunction]
#[pyo3(signature = (config, *, d, replicas, seed, threads=None, progress=None, target=None,
    record_two_time=false))]
#[allow(clippy::too_many_arguments)]
fn simulate_network<'py>(
    py: Python<'py>,
    config: &Bound<'py, PyDict>,
    d: usize,
    replicas: usize,
    seed: u64,
    threads: Option<i64>,
    progress: Option<Py<PyAny>>,
    target: Option<Py<PyAny>>,
    record_two_time: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let problem = problem_from_dict(config)?;
    let spec = EnsembleSpec::new(d, replicas)
        .seed(seed)
        .threads(threads_arg(threads)?)
        .record_two_time(record_two_time);
    let target = target.map(PyTarget);
    let ens = run_detached(py, Some(1), progress, |control| {
        let target = target.as_ref().map(|t| t as &dyn TargetFn);
        network_ensemble(&problem, target, &spec, control)
    })?;
    network_arrays(py, ens)
}

/// A network run's arrays as a dict: `t`, `M` `(n, T, K, K*)`, `Q` `(n, T, K, K)`, the
/// observables `(n, T)` (None where not recorded), `n` replicas or groups, and the `C`,
/// `R` blocks `(n, T, K, T, K)` the DMFT kept or the simulation recorded (None otherwise).
fn network_arrays(py: Python<'_>, runs: NetworkRuns) -> PyResult<Bound<'_, PyDict>> {
    let (n, t, k, ks) = (runs.runs, runs.steps, runs.hidden, runs.teacher_units);
    let shape_error = |e: numpy::ndarray::ShapeError| PyRuntimeError::new_err(e.to_string());
    let out = PyDict::new(py);
    out.set_item("t", runs.t.into_pyarray(py))?;
    let overlaps = Array4::from_shape_vec((n, t, k, ks), runs.overlaps).map_err(shape_error)?;
    out.set_item("M", overlaps.into_pyarray(py))?;
    let gram = Array4::from_shape_vec((n, t, k, k), runs.gram).map_err(shape_error)?;
    out.set_item("Q", gram.into_pyarray(py))?;
    let names = ["train_loss", "test_loss", "train_error", "test_error"];
    let observables = [
        runs.train_loss,
        runs.test_loss,
        runs.train_error,
        runs.test_error,
    ];
    for (name, values) in names.into_iter().zip(observables) {
        if values.is_empty() {
            out.set_item(name, py.None())?;
        } else {
            let array = Array2::from_shape_vec((n, t), values).map_err(shape_error)?;
            out.set_item(name, array.into_pyarray(py))?;
        }
    }
    match runs.two_time {
        Some((c, r)) => {
            let c = ArrayD::from_shape_vec(vec![n, t, k, t, k], c).map_err(shape_error)?;
            let r = ArrayD::from_shape_vec(vec![n, t, k, t, k], r).map_err(shape_error)?;
            out.set_item("C", c.into_pyarray(py))?;
            out.set_item("R", r.into_pyarray(py))?;
        }
        None => {
            out.set_item("C", py.None())?;
            out.set_item("R", py.None())?;
        }
    }
    Ok(out)
}

/// The DMFT of a two-layer network (`solve_network_dmft`): the arrays of
/// `simulate_network`, one row per group of effective samples. `progress(done)` counts
/// time steps; `target` as for `simulate_network`; `keep_two_time` whether each group's
/// `C` and `R` blocks are returned (None: while they are small).
#[pyfunction]
#[pyo3(signature = (config, *, samples, groups, seed, threads=None, response="auto",
    progress=None, target=None, keep_two_time=None))]
#[allow(clippy::too_many_arguments)]
fn solve_network_dmft<'py>(
    py: Python<'py>,
    config: &Bound<'py, PyDict>,
    samples: usize,
    groups: usize,
    seed: u64,
    threads: Option<i64>,
    response: &str,
    progress: Option<Py<PyAny>>,
    target: Option<Py<PyAny>>,
    keep_two_time: Option<bool>,
) -> PyResult<Bound<'py, PyDict>> {
    let problem = problem_from_dict(config)?;
    let response = match response {
        "auto" => NetworkResponse::Auto,
        "tangent" => NetworkResponse::Tangent,
        "stein" => NetworkResponse::Stein,
        other => {
            return Err(Error::invalid(
                "response",
                format!("must be 'auto', 'tangent' or 'stein' for a network, got '{other}'"),
            )
            .into())
        }
    };
    let opts = NetworkDmftOptions {
        seed,
        threads: threads_arg(threads)?,
        response,
        keep_two_time,
        ..NetworkDmftOptions::sized(samples, groups)
    };
    let target = target.map(PyTarget);
    let sol = run_detached(py, Some(1), progress, |control| {
        let target = target.as_ref().map(|t| t as &dyn TargetFn);
        network_dmft(&problem, target, &opts, control)
    })?;
    network_arrays(py, sol)
}

/// Read bandwidth of main memory in bytes/s with `threads` threads (for the benchmarks).
#[pyfunction]
#[pyo3(signature = (nbytes=1 << 30, threads=None, repeats=5))]
fn measure_bandwidth(
    py: Python<'_>,
    nbytes: usize,
    threads: Option<i64>,
    repeats: usize,
) -> PyResult<f64> {
    let threads = threads_arg(threads)?;
    run_detached(py, threads, None, |_| {
        Ok(measure_read_bandwidth(nbytes, repeats))
    })
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("DivergenceError", m.py().get_type::<DivergenceError>())?;
    m.add(
        "InvalidParameterError",
        m.py().get_type::<InvalidParameterError>(),
    )?;
    m.add_class::<DmftSolutionOut>()?;
    m.add_class::<EnsembleOut>()?;
    m.add_class::<TrajectoryOut>()?;
    let registry = OBSERVABLES
        .iter()
        .map(|o| (o.name, o.label, o.description, o.needs_sign_labels).into_pyobject(m.py()))
        .collect::<PyResult<Vec<_>>>()?;
    m.add("OBSERVABLES", PyTuple::new(m.py(), registry)?)?;
    m.add("KEEP_GROUPS_ENTRIES", DmftOptions::KEEP_GROUPS_ENTRIES)?;
    m.add_function(wrap_pyfunction!(validate_config, m)?)?;
    m.add_function(wrap_pyfunction!(config_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(config_fields, m)?)?;
    m.add_function(wrap_pyfunction!(dmft_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(groups_for, m)?)?;
    m.add_function(wrap_pyfunction!(resolve_config, m)?)?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(times, m)?)?;
    m.add_function(wrap_pyfunction!(simulate_network, m)?)?;
    m.add_function(wrap_pyfunction!(solve_network_dmft, m)?)?;
    m.add_function(wrap_pyfunction!(step_costs, m)?)?;
    m.add_function(wrap_pyfunction!(step_at, m)?)?;
    m.add_function(wrap_pyfunction!(ladder_steps, m)?)?;
    m.add_function(wrap_pyfunction!(solve_dmft, m)?)?;
    m.add_function(wrap_pyfunction!(solve_dmft_ladder, m)?)?;
    m.add_function(wrap_pyfunction!(richardson_weights, m)?)?;
    m.add_function(wrap_pyfunction!(sgd_trajectory, m)?)?;
    m.add_function(wrap_pyfunction!(network_trajectory, m)?)?;
    m.add_function(wrap_pyfunction!(minibatch_chain, m)?)?;
    m.add_function(wrap_pyfunction!(test_observables, m)?)?;
    m.add_function(wrap_pyfunction!(measure_bandwidth, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
