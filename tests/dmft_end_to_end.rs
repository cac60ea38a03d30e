//! The DMFT solver end to end, through the public API only: thread invariance, the single
//! causal pass against the damped iteration, and the symmetry of three clusters at
//! `m0 = 0`. Runs optimised (`[profile.test]` in Cargo.toml).

use dmft_sgd::{
    simulate, solve_dmft, solve_dmft_ladder, Activation, Clusters, Config, Control, Data,
    DmftOptions, DmftSolution, EnsembleSpec, Loss, Method, Problem, Teacher,
};

/// The problem of a valid `cfg`, parsed once.
fn problem(cfg: &Config) -> Problem {
    Problem::new(cfg.clone()).expect("a valid setting")
}

fn solve(cfg: &Config, opts: &DmftOptions) -> DmftSolution {
    solve_dmft(&problem(cfg), opts, &Control::new()).expect("a valid setting solves")
}

fn plain_sgd() -> Config {
    Config {
        alpha: 2.0,
        delta: 0.5,
        lam: 0.05,
        lr: 0.2,
        batch: 0.3,
        steps: 40,
        ..Config::default()
    }
}

#[test]
fn same_seed_same_numbers_for_1_2_and_3_threads() {
    let cfg = plain_sgd();
    let opts = DmftOptions::default().samples(3_000).groups(4).seed(9);
    let one = solve(&cfg, &opts.threads(Some(1)));
    for threads in [2, 3] {
        let other = solve(&cfg, &opts.threads(Some(threads)));
        assert_eq!(one, other, "{threads} threads");
    }
    // Another seed gives other numbers (the comparison above is not vacuous).
    let reseeded = solve(&cfg, &opts.seed(10).threads(Some(2)));
    assert_ne!(one.observables, reseeded.observables);
}

#[test]
fn a_solve_says_where_its_time_went() {
    let sol = solve(&plain_sgd(), &DmftOptions::default().samples(2_000).seed(1));
    // Every stage ran (a clock of nanoseconds over 40 steps and 8 groups).
    let stages = sol.stage_seconds.named();
    assert!(
        stages.iter().all(|(_, seconds)| *seconds > 0.0),
        "{stages:?}"
    );
    // Timings are not part of the result's value: a second solve is equal.
    assert_eq!(
        sol,
        solve(&plain_sgd(), &DmftOptions::default().samples(2_000).seed(1))
    );
}

#[test]
fn teacher_models_with_langevin_noise_are_thread_invariant_and_record_their_observables() {
    let cfg = Config {
        data: Data::Teacher(Teacher::Linear),
        loss: Some(Loss::Square),
        noise: 0.3,
        temperature: 0.05,
        normalize_batch: true,
        ..plain_sgd()
    };
    let opts = DmftOptions::default().samples(2_000).groups(4).seed(3);
    let one = solve(&cfg, &opts.threads(Some(1)));
    assert_eq!(one, solve(&cfg, &opts.threads(Some(3))));
    // A regression teacher has no classification errors: those series are empty.
    let obs = &one.observables;
    assert!(obs.train_error.is_empty() && obs.test_error.is_empty());
    assert_eq!(obs.test_loss.len(), cfg.steps);
    let spec = EnsembleSpec::new(50, 2).seed(1);
    let run = |threads| {
        simulate(
            &problem(&cfg),
            &spec.threads(Some(threads)),
            &Control::new(),
        )
        .unwrap()
    };
    let ens = run(1);
    assert_eq!(ens, run(2));
    assert!(ens.test_error.is_empty() && ens.test_loss.len() == 2 * cfg.steps);
    // The sign teacher classifies.
    let sign = Config {
        data: Data::Teacher(Teacher::Sign),
        ..plain_sgd()
    };
    assert_eq!(solve(&sign, &opts).observables.test_error.len(), sign.steps);
}

#[test]
fn single_pass_agrees_with_the_damped_iteration_within_monte_carlo_error() {
    let cfg = plain_sgd();
    let opts = DmftOptions::default().samples(8_000).groups(8).seed(1);
    let single = solve(&cfg, &opts);
    let iterated = solve(
        &cfg,
        &opts.seed(2).method(Method::Iterate {
            iterations: 25,
            damping: 0.3,
            tol: 0.0,
        }),
    );
    // Fresh samples every iteration: the change settles at the Monte Carlo noise level
    // (a few percent), where the iteration stops, short of tol = 0; the first ones moved
    // far from zero kernels.
    let rounds = iterated.changes.len();
    assert!(iterated.converged && rounds < 25, "{:?}", iterated.changes);
    assert_eq!(iterated.change_noise.len(), rounds);
    assert!(iterated.changes[0] > 0.5 && iterated.changes[rounds - 1] < 0.3);
    assert!(iterated.changes[rounds - 1] <= iterated.change_noise[rounds - 1]);
    let (sa, sb) = (single.sem.unwrap(), iterated.sem.unwrap());
    let (a, b) = (&single.observables, &iterated.observables);
    for (((name, x), (_, y)), ((_, ex), (_, ey))) in a
        .named()
        .into_iter()
        .zip(b.named())
        .zip(sa.named().into_iter().zip(sb.named()))
    {
        for k in 0..cfg.steps {
            let se = (ex[k] * ex[k] + ey[k] * ey[k]).sqrt();
            // 5 combined standard errors (7 degrees of freedom each), plus rounding.
            assert!(
                (x[k] - y[k]).abs() <= 5.0 * se + 1e-12,
                "{name} at step {k}: {} vs {} (sem {se})",
                x[k],
                y[k]
            );
        }
    }
}

#[test]
fn three_clusters_from_m0_zero_keep_m_exactly_zero() {
    // m = 0 is a fixed point of the three-cluster problem (the unstable one): the mirror
    // pairs of effective samples keep it exactly, at every step and in every group.
    let cfg = Config {
        clusters: Clusters::Three { rho: 0.5 },
        m0: Some(0.0),
        lr: 0.1,
        batch: 0.5,
        steps: 30,
        ..Config::default()
    };
    let sol = solve(
        &cfg,
        &DmftOptions::default().samples(2_000).groups(4).seed(3),
    );
    assert!(
        sol.observables.m.iter().all(|&m| m == 0.0),
        "{:?}",
        sol.observables.m
    );
    assert!(sol.sem.unwrap().m.iter().all(|&s| s == 0.0));
    // The dynamics did run: q moved away from q0.
    let q = &sol.observables.q;
    assert!((q[cfg.steps - 1] - q[0]).abs() > 1e-3, "{q:?}");
    assert!(sol.observables.test_error.iter().all(|e| e.is_finite()));
}

#[test]
fn bad_options_are_errors_naming_the_parameter() {
    let cfg = plain_sgd();
    for (opts, name) in [
        (DmftOptions::default().samples(3), "samples"),
        (DmftOptions::default().samples(100).groups(0), "groups"),
        (
            DmftOptions::default().samples(100).threads(Some(0)),
            "threads",
        ),
    ] {
        match solve_dmft(&problem(&cfg), &opts, &Control::new()) {
            Err(dmft_sgd::Error::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{name}: {other:?}"),
        }
    }
}

/// With the `serde` feature, configs, options and solutions round-trip through JSON.
#[cfg(feature = "serde")]
#[test]
fn configs_options_and_solutions_round_trip_through_serde() {
    let cfg = plain_sgd();
    let opts = DmftOptions::default().samples(200).groups(2);
    let sol = solve(&cfg, &opts);
    let back: DmftSolution = serde_json::from_str(&serde_json::to_string(&sol).unwrap()).unwrap();
    assert!(back == sol, "the solution changed in the round trip");
    let cfg_back: Config = serde_json::from_str(&serde_json::to_string(&cfg).unwrap()).unwrap();
    assert_eq!(cfg_back, cfg);
    let opts_back: DmftOptions =
        serde_json::from_str(&serde_json::to_string(&opts).unwrap()).unwrap();
    assert_eq!(opts_back, opts);
}

/// The serde form of a `Config` is its flat form, the document the Python API writes
/// (`Config.to_dict`, result files): tests/data/configs.json, read by the Python tests too
/// (tests/test_config.py), holds five models; each loads and writes back unchanged.
#[cfg(feature = "serde")]
#[test]
fn configs_serialise_as_the_python_apis_document() {
    let docs: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("data/configs.json")).unwrap();
    assert_eq!(docs.len(), 5);
    for doc in docs {
        let cfg: Config = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(serde_json::to_value(&cfg).unwrap(), doc);
        // Every field, in the Python API's order.
        let text = serde_json::to_string(&cfg).unwrap();
        let at: Vec<usize> = dmft_sgd::FlatConfig::FIELDS
            .iter()
            .map(|f| text.find(&format!("\"{}\":", f.name)).unwrap())
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert_eq!(doc.as_object().unwrap().len(), at.len());
    }
    // A threshold with `activation: null` sets the model's default door; it is written
    // back as that door, the same dynamics spelled out.
    let implicit: Config = serde_json::from_str(r#"{"clusters": 3, "threshold": 2.5}"#).unwrap();
    let text = serde_json::to_string(&implicit).unwrap();
    assert!(
        text.contains(r#""activation":"door","threshold":2.5"#),
        "{text}"
    );
    // Missing fields take the defaults; unknown ones and broken rules are refused.
    let sparse: Config = serde_json::from_str(r#"{"clusters": 3, "steps": 7}"#).unwrap();
    assert_eq!(sparse.clusters, Clusters::Three { rho: 0.5 });
    assert_eq!(sparse.steps, 7);
    assert!(serde_json::from_str::<Config>(r#"{"lamda": 0.1}"#).is_err());
    let err = serde_json::from_str::<Config>(r#"{"rho": 0.3}"#).unwrap_err();
    assert!(
        err.to_string().contains("rho applies only to clusters=3"),
        "{err}"
    );
}

#[test]
fn the_default_groups_depend_on_the_run_length_and_the_pairs() {
    let opts = DmftOptions::default();
    let steps = |steps| Config {
        steps,
        ..Config::default()
    };
    assert_eq!(opts.groups_for(&steps(DmftOptions::LONG_RUN_STEPS)), 8);
    assert_eq!(opts.groups_for(&steps(DmftOptions::LONG_RUN_STEPS + 1)), 4);
    assert_eq!(opts.samples(6).groups_for(&steps(10)), 3);
    assert_eq!(opts.groups(5).groups_for(&steps(10_000)), 5);
    let sol = solve(&steps(5), &DmftOptions::default().samples(6));
    assert_eq!(sol.groups, 3);
}

/// A loss of the user's own, through `LossFn`: the Huber loss of the residual `o - y`.
#[derive(Debug, Clone, Copy)]
struct Huber {
    delta: f64,
}

impl dmft_sgd::LossFn for Huber {
    fn name(&self) -> &str {
        "huber"
    }
    fn ell_and_slope(&self, y: f64, o: f64) -> (f64, f64) {
        let r = o - y;
        if r.abs() <= self.delta {
            (0.5 * r * r, r)
        } else {
            (
                self.delta * (r.abs() - 0.5 * self.delta),
                self.delta * r.signum(),
            )
        }
    }
    fn curvature(&self, y: f64, o: f64) -> f64 {
        f64::from((o - y).abs() <= self.delta)
    }
}

fn huber(delta: f64) -> dmft_sgd::SampleLoss<Huber> {
    dmft_sgd::SampleLoss {
        loss: Huber { delta },
        activation: Activation::Linear,
    }
}

/// A user's loss runs in both engines. With a threshold no residual reaches it is the
/// square loss, and gives the built-in path's numbers bit for bit (the test loss by the
/// general integral, within 1e-9 of the closed form); with a small one the DMFT matches
/// the simulation at d = 1000 within 5 combined standard errors + 1/d at every step.
#[test]
fn a_users_loss_runs_in_both_engines() {
    let cfg = Config {
        data: Data::Teacher(Teacher::Linear),
        noise: 1.0,
        alpha: 3.0,
        lam: 0.05,
        batch: 0.3,
        steps: 60,
        ..plain_sgd()
    };
    let square = Config {
        loss: Some(Loss::Square),
        ..cfg.clone()
    };
    let opts = DmftOptions::default().samples(2_000).groups(4).seed(5);
    let control = Control::new();
    let built_in = solve(&square, &opts);
    let wide = dmft_sgd::solve_dmft_with(&problem(&cfg), &huber(1e9), &opts, &control).unwrap();
    assert_eq!(
        (&wide.c, &wide.r, &wide.kernels),
        (&built_in.c, &built_in.r, &built_in.kernels)
    );
    let (a, b) = (&wide.observables, &built_in.observables);
    assert_eq!((&a.m, &a.q, &a.train_loss), (&b.m, &b.q, &b.train_loss));
    for (x, y) in a.test_loss.iter().zip(&b.test_loss) {
        assert!((x - y).abs() < 1e-9 * y, "{x} vs {y}");
    }
    let spec = EnsembleSpec::new(50, 2).seed(1);
    let sim_wide = dmft_sgd::simulate_with(&problem(&cfg), &huber(1e9), &spec, &control).unwrap();
    assert_eq!(
        sim_wide.m,
        simulate(&problem(&square), &spec, &control).unwrap().m
    );

    let robust = huber(0.5);
    let theory = dmft_sgd::solve_dmft_with(
        &problem(&cfg),
        &robust,
        &opts.samples(32_000).groups(8),
        &control,
    )
    .unwrap();
    let sim = dmft_sgd::simulate_with(
        &problem(&cfg),
        &robust,
        &EnsembleSpec::new(1000, 16).seed(2),
        &control,
    )
    .unwrap();
    let sem = theory.sem.as_ref().unwrap();
    let mut worst = 0.0f64;
    for (name, series, errors, sim_series) in [
        ("m", &theory.observables.m, &sem.m, &sim.m),
        ("q", &theory.observables.q, &sem.q, &sim.q),
        (
            "train_loss",
            &theory.observables.train_loss,
            &sem.train_loss,
            &sim.train_loss,
        ),
        (
            "test_loss",
            &theory.observables.test_loss,
            &sem.test_loss,
            &sim.test_loss,
        ),
    ] {
        let (mean, sim_sem) = sim.mean_sem(sim_series);
        for k in 0..cfg.steps {
            let se = (errors[k].powi(2) + sim_sem[k].powi(2)).sqrt();
            let gap = (series[k] - mean[k]).abs();
            worst = worst.max(gap / se);
            assert!(
                gap <= 5.0 * se + 1e-3,
                "{name} at step {k}: {} vs {} (se {se})",
                series[k],
                mean[k]
            );
        }
    }
    println!("Huber: largest |DMFT - simulation| / se = {worst:.2}");
}

#[test]
fn two_time_error_bars_are_the_spread_of_the_kept_groups() {
    let cfg = plain_sgd();
    let opts = DmftOptions::default()
        .samples(2_000)
        .groups(4)
        .seed(3)
        .keep_groups(true);
    for method in [
        Method::SinglePass,
        Method::Iterate {
            iterations: 3,
            damping: 0.3,
            tol: 0.0,
        },
    ] {
        let sol = solve(&cfg, &opts.method(method));
        let sem = sol.two_time_sem.as_ref().expect("4 groups give error bars");
        let kernels_sem = sem.kernels.as_ref().expect("kept kernels have error bars");
        let (t, g) = (cfg.steps, sol.group_matrices.len() as f64);
        assert_eq!(sol.group_matrices.len(), 4);
        assert_eq!(sol.group_observables.len(), 4);
        // Every group starts at C(0,0) = q0: no spread.
        assert_eq!(sem.c.at(0, 0), 0.0);
        for (k, l) in [(5, 5), (20, 3), (39, 39), (39, 10)] {
            // The sem of C(k,k) is that of q(k); every entry is the kept groups' spread.
            let values: Vec<f64> = sol.group_matrices.iter().map(|m| m.c.at(k, l)).collect();
            let mean = values.iter().sum::<f64>() / g;
            let spread = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (g - 1.0);
            let expected = (spread / g).sqrt();
            assert!(
                (sem.c.at(k, l) - expected).abs() <= 1e-12 * (1.0 + expected),
                "C({k},{l})"
            );
            assert!((sol.c.at(k, l) - mean).abs() < 1e-12, "mean C({k},{l})");
            let r: Vec<f64> = sol.group_matrices.iter().map(|m| m.r.at(k, l)).collect();
            let r_mean = r.iter().sum::<f64>() / g;
            assert!((sol.r.at(k, l) - r_mean).abs() < 1e-12, "mean R({k},{l})");
        }
        let q_sem = &sol.sem.as_ref().unwrap().q;
        for k in [1, 17, t - 1] {
            assert!(
                (sem.c.at(k, k) - q_sem[k]).abs() <= 1e-12 * q_sem[k],
                "q({k})"
            );
            assert!(sem.c.at(k, k) > 0.0 && sem.r.at(k, k - 1) == 0.0); // R(k+1,k) = 1
            assert!(kernels_sem.m_c.at(k, k) > 0.0 && kernels_sem.mu[k] >= 0.0);
        }
    }
    // One group: no error bars; kernels not kept: none for them.
    let one = solve(&cfg, &opts.groups(1));
    assert!(one.two_time_sem.is_none() && one.sem.is_none());
    let bare = solve(&cfg, &opts.keep_kernels(false).keep_groups(false));
    assert!(bare.two_time_sem.unwrap().kernels.is_none() && bare.group_matrices.is_empty());
}

/// The ladder of the stochastic gradient flow: persistent SGD at lr 0.1, 0.05, 0.025.
fn ladder_case() -> (Config, [f64; 3], DmftOptions) {
    let cfg = Config {
        batch: 0.3,
        tau: Some(1.0),
        lr: 0.1,
        steps: 31,
        ..Config::default()
    };
    let opts = DmftOptions::default().samples(4_000).groups(8).seed(4);
    (cfg, [0.1, 0.05, 0.025], opts)
}

#[test]
fn the_ladder_finest_level_is_the_plain_solve_and_threads_do_not_matter() {
    let (cfg, lrs, opts) = ladder_case();
    let control = Control::new();
    let one = solve_dmft_ladder(&problem(&cfg), &lrs, &opts.threads(Some(1)), &control).unwrap();
    let two = solve_dmft_ladder(&problem(&cfg), &lrs, &opts.threads(Some(2)), &control).unwrap();
    assert_eq!(one, two);
    let finest = Config {
        lr: 0.025,
        steps: 121,
        ..cfg
    };
    assert_eq!(one[2], solve(&finest, &opts));
    assert_eq!(
        one.iter().map(|l| l.t.len()).collect::<Vec<_>>(),
        [31, 61, 121]
    );
}

#[test]
fn coupled_levels_keep_their_law_and_move_together() {
    let (cfg, lrs, opts) = ladder_case();
    let levels = solve_dmft_ladder(&problem(&cfg), &lrs, &opts, &Control::new()).unwrap();
    // The coarsest level has the law of a plain solve at its lr (another seed).
    let plain = solve(&cfg, &opts.seed(5));
    let (a, b) = (&levels[0], &plain);
    for k in [10, 20, 30] {
        for (x, y, sx, sy) in [
            (
                &a.observables.m,
                &b.observables.m,
                &a.sem.as_ref().unwrap().m,
                &b.sem.as_ref().unwrap().m,
            ),
            (
                &a.observables.q,
                &b.observables.q,
                &a.sem.as_ref().unwrap().q,
                &b.sem.as_ref().unwrap().q,
            ),
        ] {
            let z = (x[k] - y[k]) / sx[k].hypot(sy[k]);
            assert!(z.abs() < 4.0, "step {k}: z = {z}");
        }
    }
    // Its groups move with the finer level's: m at the horizon, correlation over groups.
    let at_end = |level: &DmftSolution| -> Vec<f64> {
        level
            .group_observables
            .iter()
            .map(|o| *o.m.last().unwrap())
            .collect()
    };
    let (x, y) = (at_end(&levels[0]), at_end(&levels[1]));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (mx, my) = (mean(&x), mean(&y));
    let cov: f64 = x.iter().zip(&y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let var = |v: &[f64], m: f64| v.iter().map(|a| (a - m).powi(2)).sum::<f64>();
    let corr = cov / (var(&x, mx) * var(&y, my)).sqrt();
    assert!(corr > 0.9, "correlation of the levels {corr}");
}
