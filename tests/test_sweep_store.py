"""Sweeps that survive (`sweep(..., store=PATH)`): every finished point is on disk at
once, a re-run resumes without recomputing it and returns the same numbers, broken or
foreign files are caught."""

import contextlib
import importlib
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

import dmft_sgd as ds

# The module (the package's `sweep` attribute is the function).
sweep_module = importlib.import_module("dmft_sgd.sweep")

BASE = ds.Config(lr=0.2, lam=0.05, steps=15)
GRID = {"batch": [0.3, 1.0], "tau": [None, 2.0]}


@pytest.fixture
def count_runs(monkeypatch):
    """Counts the points actually computed (the default pool runs them in threads)."""
    calls = []
    original = sweep_module.run_point_timed

    def counted(kind, config, seed, run_kwargs):
        calls.append(config)
        return original(kind, config, seed, run_kwargs)

    monkeypatch.setattr(sweep_module, "run_point_timed", counted)
    return calls


@contextlib.contextmanager
def warnings_as_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def assert_same_sweep(a, b):
    assert a.points == b.points and a.seeds == b.seeds and a.configs == b.configs
    for ra, rb in zip(a.results, b.results):
        assert (ra is None) == (rb is None)
        if ra is not None:
            for name in ("t", *ds.OBSERVABLES, "C", "R"):
                if hasattr(ra, name):
                    np.testing.assert_array_equal(getattr(ra, name), getattr(rb, name))


def test_a_rerun_reads_every_point_back_and_computes_none(tmp_path, count_runs):
    first = ds.sweep(BASE, GRID, samples=400, store=tmp_path / "s")
    assert len(count_runs) == 4 and first.status == ["computed"] * 4
    assert len(list((tmp_path / "s").glob("point-*.npz"))) == 4
    again = ds.sweep(BASE, GRID, samples=400, store=tmp_path / "s")
    assert len(count_runs) == 4 and again.status == ["loaded"] * 4
    assert_same_sweep(first, again)
    # A grown grid computes only its new points.
    grown = ds.sweep(BASE, {"batch": [0.3, 1.0, 0.5], "tau": [None, 2.0]}, samples=400, store=tmp_path / "s")
    assert len(count_runs) == 6 and grown.status.count("loaded") == 4
    table = grown.status_table()
    assert list(table["status"]).count("computed") == 2
    # Every point has its run time: a loaded one shows the time its file records, the
    # one measured when it was computed.
    assert table["seconds"].notna().all() and (table["seconds"] > 0).all()
    assert again.seconds == first.seconds and grown.seconds[:4] == first.seconds[:4]
    assert list(again.status_table()["seconds"]) == first.seconds


def test_a_sweep_killed_part_way_resumes_and_equals_an_uninterrupted_one(tmp_path, count_runs):
    store = tmp_path / "killed"
    script = textwrap.dedent(f"""
        from concurrent.futures import ThreadPoolExecutor
        import dmft_sgd as ds
        base = ds.Config(lr=0.2, lam=0.05, steps=400)
        grid = {{"batch": [0.2, 0.3, 0.5, 0.7, 1.0]}}
        with ThreadPoolExecutor(1) as pool:
            ds.sweep(base, grid, executor=pool, samples=4000, threads=1, store={str(store)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(store.glob("point-*.npz"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = len(list(store.glob("point-*.npz")))
    assert 2 <= finished < 5, finished
    base = ds.Config(lr=0.2, lam=0.05, steps=400)
    grid = {"batch": [0.2, 0.3, 0.5, 0.7, 1.0]}
    resumed = ds.sweep(base, grid, samples=4000, threads=1, store=store)
    assert len(count_runs) == 5 - finished and resumed.status.count("loaded") == finished
    assert_same_sweep(resumed, ds.sweep(base, grid, samples=4000, threads=1))


def test_a_truncated_or_tampered_point_is_reported_and_computed_again(tmp_path, count_runs):
    store = tmp_path / "s"
    reference = ds.sweep(BASE, GRID, kind="simulate", d=30, replicas=3, store=store)
    files = sorted(store.glob("point-*.npz"))
    files[0].write_bytes(files[0].read_bytes()[:100])           # truncated
    meta, arrays = ds._io.read(files[1])
    arrays["m"] = arrays["m"] + 1e-12                             # tampered, header intact
    ds._io.write(files[1], meta.pop("kind"), {k: v for k, v in meta.items() if k not in ("format", "version")},
                 arrays)
    with pytest.warns(UserWarning, match="computed again") as caught:
        again = ds.sweep(BASE, GRID, kind="simulate", d=30, replicas=3, store=store)
    assert len(caught) == 2 and any("digest" in str(w.message) for w in caught)
    assert len(count_runs) == 6 and again.status.count("computed") == 2
    assert_same_sweep(reference, again)


def test_store_files_are_readable_by_colleagues_under_umask_022(tmp_path):
    before = os.umask(0o022)
    try:
        ds.sweep(BASE.replace(loss="square", steps=300), {"lr": [0.2, 3.0]}, samples=200, store=tmp_path / "s")
    finally:
        os.umask(before)
    files = sorted((tmp_path / "s").iterdir())
    assert {f.name.split(".", 1)[-1] for f in files} == {"json", "npz", "failed.json"}
    assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {f.name: 0o644 for f in files}


def test_a_store_of_another_sweep_is_refused(tmp_path):
    ds.sweep(BASE, GRID, samples=400, store=tmp_path / "s")
    with pytest.raises(ValueError, match="base_config"):
        ds.sweep(BASE.replace(alpha=3.0), GRID, samples=400, store=tmp_path / "s")
    with pytest.raises(ValueError, match="run_options"):
        ds.sweep(BASE, GRID, samples=800, store=tmp_path / "s")
    with pytest.raises(ValueError, match="seed"):
        ds.sweep(BASE, GRID, samples=400, seed=1, store=tmp_path / "s")
    ds.sweep(BASE, GRID, samples=400, threads=1, store=tmp_path / "s")  # threads do not matter


def test_deterministic_failures_stay_recorded_unless_retried(tmp_path, count_runs):
    grid = {"lr": [0.2, 3.0]}   # lr=3 with the square loss diverges
    base = BASE.replace(loss="square", steps=300)
    first = ds.sweep(base, grid, samples=200, store=tmp_path / "s")
    assert [f["index"] for f in first.failures] == [1] and "DivergenceError" in first.failures[0]["error"]
    assert len(list((tmp_path / "s").glob("*.failed.json"))) == 1
    again = ds.sweep(base, grid, samples=200, store=tmp_path / "s")
    assert len(count_runs) == 2 and again.failures[0]["error"] == first.failures[0]["error"]
    ds.sweep(base, grid, samples=200, store=tmp_path / "s", retry_failed=True)
    assert len(count_runs) == 3


def test_the_command_line_sweep_resumes_from_its_store(tmp_path):
    cmd = [sys.executable, "-m", "dmft_sgd.cli", "sweep", "--grid", "batch=0.3,1", "--steps", "10",
           "--samples", "200", "--store", str(tmp_path / "s"), "--out", str(tmp_path / "out"), "--quiet"]
    for _ in range(2):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "s").glob("point-*.npz"))) == 2
    assert ds.load(tmp_path / "out" / "sweep.npz").status == ["loaded", "loaded"]


@pytest.mark.slow
def test_ctrl_c_stops_a_sweep_promptly_keeps_finished_points_and_resumes(tmp_path, count_runs):
    store = tmp_path / "interrupted"
    base = ds.Config(lr=0.2, lam=0.05, steps=1000)
    grid = {"batch": [0.2, 0.3, 0.5, 0.7, 1.0, 0.4]}
    script = textwrap.dedent(f"""
        import dmft_sgd as ds
        base = ds.Config(lr=0.2, lam=0.05, steps=1000)
        try:
            ds.sweep(base, {grid!r}, samples=8000, store={str(store)!r})
        except KeyboardInterrupt:
            raise SystemExit(130)
    """)
    proc = subprocess.Popen([sys.executable, "-W", "ignore", "-c", script])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(store.glob("point-*.npz")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    start = time.monotonic()
    assert proc.wait(timeout=60) == 130
    # Prompt: the running solves stop within a step, not at the end of their points.
    assert time.monotonic() - start < 3
    finished = len(list(store.glob("point-*.npz")))
    assert 1 <= finished < len(grid["batch"])
    resumed = ds.sweep(base, grid, samples=8000, store=store)
    assert len(count_runs) == len(grid["batch"]) - finished
    assert_same_sweep(resumed, ds.sweep(base, grid, samples=8000))


def test_two_sweeps_writing_one_store_at_once_leave_it_whole(tmp_path, count_runs):
    store = tmp_path / "shared"
    script = textwrap.dedent(f"""
        import dmft_sgd as ds
        base = ds.Config(lr=0.2, lam=0.05, steps=60)
        ds.sweep(base, {{"batch": [0.2, 0.3, 0.5, 0.7, 1.0]}}, samples=2000, threads=1, store={str(store)!r})
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    base = ds.Config(lr=0.2, lam=0.05, steps=60)
    grid = {"batch": [0.2, 0.3, 0.5, 0.7, 1.0]}
    with warnings_as_errors():
        again = ds.sweep(base, grid, samples=2000, threads=1, store=store)
    assert count_runs == [] and again.status == ["loaded"] * 5
    assert not list(store.glob("*.tmp"))
    assert_same_sweep(again, ds.sweep(base, grid, samples=2000, threads=1))


@pytest.mark.slow
def test_a_dask_worker_killed_while_it_holds_a_point_does_not_lose_the_sweep(tmp_path):
    distributed = pytest.importorskip("distributed")
    import os
    import threading

    base = ds.Config(lr=0.2, lam=0.05, steps=600)
    grid = {"batch": [0.2, 0.3, 0.5, 1.0]}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            killed = []

            def kill_a_busy_worker():
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and not killed:
                    busy = [w for w, keys in client.processing().items() if keys]
                    if busy:
                        pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                        os.kill(pid, signal.SIGKILL)
                        killed.append(busy[0])
                    time.sleep(0.05)

            killer = threading.Thread(target=kill_a_busy_worker)
            killer.start()
            result = ds.sweep(base, grid, executor=client, samples=6000, threads=1, store=tmp_path / "s")
            killer.join()
    assert killed
    # Every point is either computed (dask ran it again elsewhere) or reported.
    assert all(s in ("computed", "failed") for s in result.status)
    assert sum(r is not None for r in result.results) + len(result.failures) == len(grid["batch"])
    assert len(list((tmp_path / "s").glob("point-*.npz"))) == sum(r is not None for r in result.results)


def test_a_refused_store_names_each_field_that_differs_with_both_values(tmp_path):
    ds.sweep(BASE, GRID, samples=400, store=tmp_path / "s")
    with pytest.raises(ValueError) as refused:
        ds.sweep(BASE.replace(alpha=3.0, lam=0.1), GRID, samples=800, response="probe", store=tmp_path / "s")
    message = str(refused.value)
    assert ("(base_config.alpha: store has 2.0, this sweep 3.0; base_config.lam: store has 0.05, this sweep 0.1; "
            "run_options.response: store has (not set), this sweep 'probe'; "
            "run_options.samples: store has 400, this sweep 800)") in message
    assert "delta" not in message  # only what differs, not the whole config
