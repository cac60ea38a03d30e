"""Config: defaults, resolution, immutability, dict round trip, and every validation rule."""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

import dmft_sgd as ds
from dmft_sgd import _core


def test_defaults_follow_the_api():
    cfg = ds.Config()
    assert cfg.to_dict() == dict(
        data="mixture", clusters=2, teacher="sign", alpha=2.0, delta=0.5, rho=0.5, noise=0.0,
        loss=None, activation=None, threshold=None, lam=0.0, temperature=0.0, lr=0.1,
        momentum=0.0, nesterov=False, batch=1.0, tau=None, normalize_batch=False, steps=100,
        m0=None, q0=1.0, hidden=1, second_layer=None, teacher_hidden=1, teacher_activation="linear",
    )
    assert cfg.effective_loss == "logistic"
    assert cfg.effective_activation == "linear"
    assert cfg.effective_m0 == 0.0
    assert cfg.effective_tau == pytest.approx(0.1)


def test_three_clusters_default_to_the_door_and_a_positive_overlap():
    cfg = ds.Config(clusters=3)
    assert cfg.effective_activation == "door"
    assert cfg.effective_m0 == 0.1


def test_plain_sgd_tau_follows_lr_and_batch_through_replace():
    cfg = ds.Config(lr=0.2, batch=0.5)
    assert cfg.effective_tau == pytest.approx(0.4)
    assert cfg.replace(batch=0.25).effective_tau == pytest.approx(0.8)
    assert cfg.replace(tau=3.0).effective_tau == 3.0


def test_python_defaults_are_rusts_field_by_field():
    rust = _core.config_defaults()
    fields = dataclasses.fields(ds.Config)
    assert list(rust) == [f.name for f in fields]
    for f in fields:
        assert f.default == rust[f.name], f.name
        assert type(f.default) is type(rust[f.name]), f.name
    assert ds.Config().to_dict() == rust
    # The Options that Rust resolves are left unset.
    assert (rust["loss"], rust["activation"], rust["tau"], rust["m0"]) == (None, None, None, None)


def _documented_rule(cfg):
    """The resolution documented in Config's docstring (and used before Rust did it)."""
    square_teacher = cfg.data == "teacher" and cfg.teacher == "square"
    symmetric = cfg.clusters == 3 or square_teacher  # m = 0 is a fixed point
    activation = cfg.activation or ("door" if symmetric else "linear")
    tau = cfg.tau if cfg.tau is not None else cfg.lr / cfg.batch
    m0 = cfg.m0 if cfg.m0 is not None else (0.1 if symmetric else 0.0)
    default_threshold = 0.0 if square_teacher else 1.0
    threshold = cfg.threshold if cfg.threshold is not None else default_threshold
    threshold = threshold if activation == "door" else None
    classifies = cfg.data == "mixture" or cfg.teacher == "sign"
    loss = cfg.loss or ("logistic" if classifies else "square")
    return dict(loss=loss, activation=activation, threshold=threshold, tau=tau, m0=m0, classifies=classifies)


MODELS = [
    {},
    {"clusters": 3},
    {"loss": "square"},
    {"clusters": 3, "loss": "square", "rho": 0.3},
    {"batch": 0.3, "tau": 5.0},
    {"lr": 0.2, "batch": 0.25},
    {"lr": 0.3, "batch": 0.7},
    {"clusters": 3, "m0": 0.0},
    {"clusters": 3, "activation": "linear"},
    {"clusters": 3, "threshold": 2.5},
    {"activation": "door", "threshold": 0.5},
    {"m0": -0.3, "tau": 1.0, "batch": 0.5},
    {"data": "teacher"},
    {"data": "teacher", "teacher": "linear", "noise": 0.5},
    {"data": "teacher", "teacher": "square"},
    {"data": "teacher", "teacher": "linear", "loss": "square", "noise": 0.5},
    {"data": "teacher", "teacher": "square", "loss": "square"},
    {"data": "teacher", "teacher": "square", "loss": "square", "threshold": 0.5, "m0": 0.0},
    {"data": "teacher", "teacher": "square", "loss": "square", "activation": "linear"},
    {"data": "teacher", "teacher": "sign", "activation": "door"},
    {"temperature": 0.1, "normalize_batch": True, "batch": 0.5},
]


@pytest.mark.parametrize("changes", MODELS)
def test_effective_values_are_rusts_resolution(changes):
    cfg = ds.Config(**changes)
    rust = _core.resolve_config(cfg.to_dict())
    assert rust == _documented_rule(cfg)
    assert cfg.effective_loss == rust["loss"]
    assert cfg.effective_activation == rust["activation"]
    assert cfg.effective_tau == rust["tau"]
    assert cfg.effective_m0 == rust["m0"]
    resolved = cfg.resolved()
    assert {k: resolved[k] for k in rust if k != "classifies"} == {
        k: v for k, v in rust.items() if k != "classifies"}
    # The resolved values spelled out describe the same model.
    assert _core.resolve_config(resolved) == rust


@pytest.mark.parametrize("changes", [{"clusters": 3, "threshold": 2.5}, {"batch": 0.4}])
def test_none_defaults_run_like_their_resolved_values(changes):
    cfg = ds.Config(steps=5, **changes)
    explicit = ds.Config(**cfg.resolved())
    assert explicit != cfg
    a = ds.simulate(cfg, d=40, replicas=2, seed=1, threads=1)
    b = ds.simulate(explicit, d=40, replicas=2, seed=1, threads=1)
    for name in ("m", "q", "train_loss", "train_error", "test_error"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    chains = [ds.minibatch_chain(30, c, seed=2) for c in (cfg, explicit)]
    np.testing.assert_array_equal(*chains)


def test_immutable_equal_hashable_and_readable():
    cfg = ds.Config(batch=0.3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.batch = 0.5
    assert cfg == ds.Config(batch=0.3) and cfg != ds.Config(batch=0.4)
    assert hash(cfg) == hash(ds.Config(batch=0.3))
    assert "batch=0.3" in repr(cfg)


#: A warm-up to a peak of 0.2 in 30 steps, then a decay to 0.01: 300 rates.
WARM_UP = tuple(np.concatenate([np.linspace(0.0067, 0.2, 30), np.linspace(0.2, 0.01, 271)[1:]]))


@pytest.mark.parametrize("lr, text", [
    (0.05, "0.05"),
    (WARM_UP, "schedule(300 steps, 0.0067..0.2..0.01)"),          # the peak between the ends
    ((0.1,) * 300, "schedule(300 steps, 0.1)"),                   # constant
    ((0.1, 0.05, 0.02, 0.01), "schedule(4 steps, 0.1..0.01)"),    # monotone: the ends are the extremes
    ((0.1, 0.3, 0.02, 0.1), "schedule(4 steps, 0.1..0.3..0.02..0.1)"),  # a peak then a dip, in order
    ((0.1, 0.01, 0.1), "schedule(3 steps, 0.1..0.01..0.1)"),
    ((0.123456,), "schedule(1 step, 0.123)"),
    ((), "schedule(0 steps)"),
])
def test_a_learning_rate_is_shown_as_a_number_or_a_schedules_summary(lr, text):
    assert ds.config.format_lr(lr) == text
    assert ds.config.format_lr(np.array(lr)) == text


def test_the_repr_summarises_a_schedule_and_keeps_every_other_field():
    cfg = ds.Config(lr=WARM_UP, steps=300, batch=0.3)
    text = repr(cfg)
    assert "lr=schedule(300 steps, 0.0067..0.2..0.01)" in text and len(text) < 400
    plain = ds.Config(batch=0.3)
    assert repr(cfg) == repr(plain).replace("lr=0.1", "lr=schedule(300 steps, 0.0067..0.2..0.01)").replace(
        "steps=100", "steps=300")
    # A plain rate keeps the dataclass's repr: one that evaluates to an equal Config.
    assert eval(repr(plain), {"Config": ds.Config}) == plain


def test_dict_and_json_round_trip():
    cfg = ds.Config(clusters=3, rho=0.2, loss="square", tau=2.0, steps=7, m0=0.3)
    assert ds.Config.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_numbers_are_normalised():
    cfg = ds.Config(alpha=np.float32(1.5), steps=np.int64(12), lr=1)
    assert type(cfg.alpha) is float and type(cfg.steps) is int and type(cfg.lr) is float


def test_unknown_fields_are_named():
    with pytest.raises(ValueError, match="bogus"):
        ds.Config.from_dict({"bogus": 1})
    with pytest.raises(TypeError, match="bogus"):
        ds.Config().replace(bogus=1)


GOOD = {
    "clusters": [2, 3],
    "alpha": [1e-3, 2.0, 50],
    "delta": [1e-3, 0.5, 4.0],
    "loss": [None, "logistic", "square", "squared_hinge", "exponential", "hinge"],
    "activation": [None, "linear", "door", "tanh"],
    "threshold": [None],
    "lam": [0.0, 0.1, 10.0],
    "temperature": [0.0, 0.01, 2.0],
    "normalize_batch": [False, True],
    "lr": [1e-3, 0.1, 0.5],
    "batch": [0.01, 0.3, 1.0],
    "steps": [1, 100, 5000],
    "m0": [None, -1.0, 0.0, 0.5],
    "q0": [1e-8, 1.0],
}

BAD = {
    "clusters": [1, 4, 0],
    "alpha": [0.0, -1.0, math.nan, math.inf, 1e7],
    "delta": [0.0, -0.5, math.nan, math.inf, 1e300],
    "loss": ["huber", ""],
    "activation": ["softplus", "Linear", "sigmoid"],
    "data": ["teachers", "Mixture"],
    "threshold": [-0.1, -1.0, math.inf, math.nan],
    "lam": [-0.1, math.nan, math.inf, 1e7],
    "temperature": [-0.1, math.nan, math.inf],
    "lr": [0.0, -0.1, math.nan, math.inf],
    "batch": [0.0, -0.2, 1.5, math.nan],
    "tau": [0.0, -1.0, math.nan, math.inf],
    "steps": [0, -5],
    "m0": [math.nan, math.inf, -1e7],
    "q0": [0.0, -1.0, math.nan],
}

WRONG_TYPE = {
    "clusters": [2.0, "2", True],
    "alpha": ["2", None, True, [1.0]],
    "loss": [1],
    "activation": [1],
    "steps": [10.0, "10", None],
    "tau": ["1"],
    "normalize_batch": [1, "yes", None],
    "data": [None, 1],
    "noise": ["0"],
}


@pytest.mark.parametrize("name,value", [(k, v) for k, vs in GOOD.items() for v in vs])
def test_good_values_are_accepted(name, value):
    cfg = ds.Config(**{name: value})
    assert getattr(cfg, name) == value


@pytest.mark.parametrize("name,value", [(k, v) for k, vs in BAD.items() for v in vs])
def test_bad_values_raise_value_error_naming_the_parameter(name, value):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        ds.Config(**{name: value})


@pytest.mark.parametrize("rho", [0.01, 0.3, 0.99])
def test_rho_is_the_outer_mass_of_three_clusters(rho):
    assert ds.Config(clusters=3, rho=rho).rho == rho
    with pytest.raises(ValueError, match=r"^rho applies only to clusters=3 .*got 0.3 with clusters=2"):
        ds.Config(rho=0.3)  # two clusters have mass 1/2 each: never accepted and ignored


@pytest.mark.parametrize("rho", [0.0, 1.0, -0.1, math.nan])
def test_rho_out_of_range_is_refused(rho):
    with pytest.raises(ValueError, match=r"^rho must be in \(0, 1\)"):
        ds.Config(clusters=3, rho=rho)


@pytest.mark.parametrize("name,value", [(k, v) for k, vs in WRONG_TYPE.items() for v in vs])
def test_wrong_types_raise_type_error_naming_the_parameter(name, value):
    with pytest.raises(TypeError, match=name):
        ds.Config(**{name: value})


def test_tau_must_keep_the_switching_probabilities_below_one():
    # P(0->1) = lr/tau <= 1 and P(1->0) = lr (1-b)/(b tau) <= 1.
    ds.Config(lr=0.1, batch=0.5, tau=0.1)
    with pytest.raises(ValueError, match=r"^tau must be >= max\(lr, lr\*\(1-batch\)/batch\) = 0.1"):
        ds.Config(lr=0.1, batch=0.5, tau=0.09)
    ds.Config(lr=0.1, batch=0.1, tau=0.9)
    with pytest.raises(ValueError, match="^tau must be >="):
        ds.Config(lr=0.1, batch=0.1, tau=0.8)
    with pytest.raises(ValueError, match="^tau must be >="):
        ds.Config(lr=0.1, batch=0.5, tau=0.2).replace(lr=0.3)


def test_error_messages_state_the_allowed_range():
    with pytest.raises(ValueError, match=r"batch must be in \(0, 1\], got 1.5"):
        ds.Config(batch=1.5)
    with pytest.raises(ValueError, match=r"rho must be in \(0, 1\), got 1"):
        ds.Config(clusters=3, rho=1.0)


@pytest.mark.parametrize("changes,name", [
    ({"data": "teacher", "clusters": 3}, "clusters"),
    ({"data": "teacher", "delta": 1.0}, "delta"),
    ({"data": "teacher", "rho": 0.3}, "rho"),
    ({"noise": 0.1}, "noise"),
    ({"teacher": "linear"}, "teacher"),
])
def test_settings_of_the_other_data_model_are_refused(changes, name):
    with pytest.raises(ValueError, match=rf"^{name} applies only to data="):
        ds.Config(**changes)


@pytest.mark.parametrize("teacher", ["linear", "square"])
def test_the_logistic_loss_needs_labels_plus_minus_one(teacher):
    with pytest.raises(ValueError, match=rf"^loss 'logistic' needs labels ±1, but teacher='{teacher}'"):
        ds.Config(data="teacher", teacher=teacher, loss="logistic")
    # Left to its default, the loss follows the labels: square for real-valued ones.
    cfg = ds.Config(data="teacher", teacher=teacher)
    assert cfg.loss is None and cfg.effective_loss == "square" and not cfg.classifies
    assert ds.Config(data="teacher").effective_loss == "logistic"
    assert not ds.Config(data="teacher", teacher=teacher, loss="square").classifies
    assert ds.Config(data="teacher").classifies and ds.Config().classifies


def test_teacher_noise_must_be_non_negative():
    ds.Config(data="teacher", noise=0.0)
    for bad in (-0.1, math.nan, math.inf):
        with pytest.raises(ValueError, match="^noise must be in"):
            ds.Config(data="teacher", noise=bad)
    with pytest.raises(ValueError, match="^teacher must be 'linear', 'sign' or 'square'"):
        ds.Config(data="teacher", teacher="cubic")


@pytest.mark.parametrize("threshold", [0.0, 0.1, 1.0])
def test_a_door_threshold_needs_the_door(threshold):
    assert ds.Config(activation="door", threshold=threshold).effective_threshold == threshold
    assert ds.Config(clusters=3, threshold=threshold).effective_threshold == threshold
    with pytest.raises(ValueError, match="^threshold applies only to the door output"):
        ds.Config(threshold=threshold)
    with pytest.raises(ValueError, match="^threshold applies only to the door output"):
        ds.Config(clusters=3, activation="linear", threshold=threshold)


def test_a_misspelt_field_gets_the_closest_name_and_the_known_ones():
    for make in (lambda: ds.Config(lamda=0.1), lambda: ds.Config().replace(lamda=0.1)):
        with pytest.raises(TypeError, match=r"unknown Config field\(s\) \['lamda'\] \(did you mean 'lam'\?\); known: \['data',"):
            make()
    with pytest.raises(ValueError, match=r"did you mean 'lam' for 'lamda', 'steps' for 'step'\?"):
        ds.Config.from_dict({"step": 10, "lamda": 0.1})
    with pytest.raises(TypeError, match=r"\['zzz'\]; known"):  # nothing close: no hint
        ds.Config(zzz=1)
    assert ds.Config(lam=0.1).lam == 0.1


def test_the_dict_form_is_rusts_serde_document():
    # tests/data/configs.json is read by the Rust test configs_serialise_as_the_python_apis_document
    # too: the same five documents load and write back unchanged on both sides.
    docs = json.loads((Path(__file__).parent / "data" / "configs.json").read_text())
    assert len(docs) == 5
    for doc in docs:
        assert list(doc) == list(ds.Config.__dataclass_fields__)
        assert ds.Config.from_dict(doc).to_dict() == doc
    # The fields, their order, kinds and descriptions are the core's.
    fields = _core.config_fields()
    assert [f[0] for f in fields] == list(ds.Config().to_dict())
    assert dict((f[0], f[1]) for f in fields)["steps"] == "int"
    assert ds.config.FIELDS["tau"].optional and "persistence time" in ds.config.FIELDS["tau"].doc
