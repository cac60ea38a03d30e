"""The documentation: the docstrings' examples run (doctest), and the site's generated
pages (docs/hooks/generate.py) cover every subcommand, public name and example. The
site itself is built by `bash .ci/build-docs DIR` (mkdocs build --strict)."""

import argparse
import doctest
import importlib
import importlib.util
import re
from pathlib import Path

import pytest

import dmft_sgd
from dmft_sgd.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
#: The modules whose docstrings have examples (doctest runs them all).
MODULES = ["dmft_sgd.config", "dmft_sgd.dmft", "dmft_sgd.simulation", "dmft_sgd.results", "dmft_sgd.fdt",
           "dmft_sgd.sweep", "dmft_sgd.sgf"]


def load_generator():
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "hooks" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generate():
    return load_generator()


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)  # not the attribute: dmft_sgd.fdt is the function
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0


def test_every_public_function_and_class_has_an_example_or_is_listed():
    # Examples where a call says more than the words; Config's come with its docstring
    # (config.py) and the result classes are what the examples return.
    without = {"DMFTResult", "SimulationResult", "TrajectoryResult", "SweepResult", "FDTCurve", "SGFResult",
               "DivergenceError", "InvalidParameterError", "OBSERVABLES", "NetworkResult", "NetworkDMFTResult",
               "NetworkTrajectoryResult"}
    for name in dmft_sgd.__all__:
        if name not in without:
            assert ">>>" in (getattr(dmft_sgd, name).__doc__ or ""), name


def test_cli_reference_lists_every_subcommand(generate):
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    commands = set(actions[0].choices)
    assert commands == {"compare", "dmft", "simulate", "plot", "sweep", "fdt", "sgf"}
    assert set(generate.subcommands(parser)) == commands
    page = generate.cli_page()
    headings = re.findall(r"^## (\S+)$", page, flags=re.M)
    assert headings == ["dmft-sgd", *generate.subcommands(parser)]
    for name in commands:
        assert f"usage: dmft-sgd {name} " in page, name
    # Every option of every subcommand is on the page, as argparse prints it.
    for name, sub in generate.subcommands(parser).items():
        for action in sub._actions:
            if action.help == argparse.SUPPRESS:  # hidden aliases (--normalize_batch)
                continue
            for option in action.option_strings:
                assert option in page, (name, option)


def test_api_reference_documents_every_public_name(generate):
    page = generate.api_page()
    blocks = re.findall(r"^::: (\S+)$", page, flags=re.M)
    constants = re.findall(r"^### `(\S+)`$", page, flags=re.M)  # data: written by the hook
    assert constants == ["OBSERVABLES"]
    assert sorted([path.rsplit(".", 1)[1] for path in blocks] + constants) == sorted(dmft_sgd.__all__)
    for name in dmft_sgd.OBSERVABLES:
        assert f"| `{name}` |" in page
    # A function named like its module is documented by its full path (else the module is).
    assert "dmft_sgd.fdt.fdt" in blocks and "dmft_sgd.sweep.sweep" in blocks
    # A dataclass's members leave out its fields (documented in its docstring).
    config_members = re.search(r"::: dmft_sgd.Config\n    options:\n      members: \[(.*)\]", page).group(1)
    assert "replace" in config_members and "alpha" not in config_members.split(", ")


def test_result_docstrings_list_every_observable_as_an_attribute():
    for cls in (dmft_sgd.DMFTResult, dmft_sgd.SimulationResult, dmft_sgd.TrajectoryResult):
        doc = cls.__doc__
        assert "Attributes\n    ----------\n" in doc
        for name in dmft_sgd.OBSERVABLES:
            assert re.search(rf"^    {name} : ndarray", doc, flags=re.M), (cls, name)
    assert re.search(r"^    test_error_sem : ndarray \(T,\)", dmft_sgd.DMFTResult.__doc__, flags=re.M)


def test_every_example_has_a_tutorial_page(generate):
    names = generate.example_names()
    assert {"gd_vs_sgd", "phase_retrieval", "effective_temperature"} <= set(names)
    table = generate.examples_table()
    for name in names:
        page = generate.example_page(name)
        assert page.startswith("# ") and f"python examples/{name}.py" in page
        assert (ROOT / "examples" / f"{name}.py").read_text().rstrip() in page  # the whole source
        if (ROOT / "docs" / f"{name}.png").exists():
            assert f"](../{name}.png)" in page
        assert f"]({name}.md)" in table


def test_getting_started_comes_from_the_readme(generate):
    page = generate.getting_started_page()
    assert "## Set-up" in page and "## Python in ten lines" in page
    assert "import dmft_sgd as ds" in page and "pip install" in page
    assert "](docs/" not in page and "](#" not in page
