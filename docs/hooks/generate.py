"""MkDocs hook: the pages generated at build time (mkdocs.yml, ``hooks:``).

* ``index.md`` and ``getting-started.md``: sections of README.md (the one source of the
  overview, the set-up and the ten-line tour), links rewritten for the site;
* ``cli.md``: the command line's reference, the ``--help`` of ``dmft-sgd`` and of every
  subcommand, formatted by argparse from ``dmft_sgd.cli.build_parser()``;
* ``api.md``: one mkdocstrings block per name of ``dmft_sgd.__all__``, grouped.

* ``examples/<name>.md``, a tutorial page per script of ``examples/``: what it shows
  (the handwritten ``docs/examples/<name>.md``, else the script's docstring), how to run
  it, its picture ``docs/<name>.png`` and its source; the nav's Examples section and the
  table of ``docs/examples/index.md`` list them all.

The functions below need neither mkdocs nor a build (tests/test_docs.py calls them); only
``on_files`` imports mkdocs.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import inspect
import os
import re
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[2]
#: The width --help is formatted to on the site (argparse reads $COLUMNS).
HELP_WIDTH = 88

#: The API page's sections; every name of ``dmft_sgd.__all__`` must be in one of them.
API_SECTIONS: list[tuple[str, str, list[str]]] = [
    ("Settings", "Every setting of a run, immutable and validated.", ["Config"]),
    ("Running", "The two engines, the stochastic gradient flow (the DMFT at lr -> 0), the same "
                "recursion on your own data, and sweeps over grids.",
     ["solve_dmft", "simulate", "sgf", "sgd_trajectory", "sweep", "point_seed"]),
    ("Results", "What the runs return: numpy arrays with the config that produced them.",
     ["DMFTResult", "SimulationResult", "NetworkResult", "NetworkDMFTResult", "TrajectoryResult", "NetworkTrajectoryResult", "SweepResult", "SGFResult", "load",
      "OBSERVABLES"]),
    ("Analysis", "Tools on top of the results.",
     ["fdt", "FDTCurve", "test_observables", "minibatch_chain"]),
    ("Errors", "What a run raises besides ValueError, TypeError and MemoryError.",
     ["DivergenceError", "InvalidParameterError"]),
]


def readme_section(title: str, text: str | None = None) -> str:
    """The body of the README's ``## title`` section (without its heading), or the part
    before the first ``##`` heading for ``title=""``."""
    text = (ROOT / "README.md").read_text() if text is None else text
    if not title:
        return text.split("\n## ", 1)[0].strip() + "\n"
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    if match is None:
        raise ValueError(f"README.md has no section '## {title}'")
    return match.group(1).strip() + "\n"


def _site_links(markdown: str) -> str:
    """README links made site links: pictures and pages of docs/ sit beside the pages;
    the README's own sections become the site's pages where there is one."""
    markdown = markdown.replace("](docs/", "](")
    markdown = markdown.replace("the picture above", "the picture on the [home page](index.md)")
    return markdown.replace("](#command-line)", "](cli.md)")


def index_page() -> str:
    intro = _site_links(readme_section(""))
    return intro + """
## On this site

* [Getting started](getting-started.md): install, run the main job, Python in ten lines.
* [Examples](examples/index.md): one tutorial page per script in `examples/`, with its picture.
* [Theory](theory.md): the equations and the numerical method, in the code's notation.
* [Command line](cli.md): every option of `dmft-sgd` and its subcommands.
* [API reference](api.md): every public name of `dmft_sgd`, from its docstrings.
"""


def getting_started_page() -> str:
    return ("# Getting started\n\n"
            "## Set-up\n\n" + _site_links(readme_section("Set-up")) +
            "\n## Python in ten lines\n\n" + _site_links(readme_section("Python in ten lines")) +
            "\nNext: the [examples](examples/index.md) draw the pictures of this site, the "
            "[API reference](api.md) documents every name used above, and the "
            "[command line](cli.md) runs the same engines from a shell.\n")


@contextlib.contextmanager
def _columns(width: int) -> Iterator[None]:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands of `parser` by name, in the parser's order."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


def cli_page() -> str:
    """The command-line reference: ``dmft-sgd --help`` and ``dmft-sgd <cmd> --help`` for
    every subcommand, as argparse formats them."""
    from dmft_sgd.cli import build_parser

    with _columns(HELP_WIDTH):
        parser = build_parser()
        commands = subcommands(parser)
        parts = [
            "# Command line\n",
            "The console script `dmft-sgd` (also `python -m dmft_sgd.cli`) runs the engines "
            "from a shell. This page is generated from its argparse parser "
            "(`dmft_sgd.cli.build_parser()`) when the site is built: it is the `--help` of "
            "the installed version.\n",
            "Subcommands: " + ", ".join(f"[`{name}`](#{name})" for name in commands) +
            ". Plain `dmft-sgd`, or `dmft-sgd` followed by options only, runs `compare`.\n",
            "## dmft-sgd\n",
            "```text\n" + parser.format_help().rstrip() + "\n```\n",
        ]
        for name, sub in commands.items():
            parts.append(f"## {name}\n")
            parts.append("```text\n" + sub.format_help().rstrip() + "\n```\n")
    return "\n".join(parts)


def api_page() -> str:
    """The API reference: a mkdocstrings block per public name, in `API_SECTIONS`."""
    import dmft_sgd

    public = set(dmft_sgd.__all__)
    listed = [name for _, _, names in API_SECTIONS for name in names]
    if set(listed) != public or len(listed) != len(public):
        raise ValueError(f"docs/hooks/generate.py: API_SECTIONS must list every name of dmft_sgd.__all__ "
                         f"once: missing {sorted(public - set(listed))}, extra {sorted(set(listed) - public)}")
    parts = ["# API reference\n",
             "Everything below is importable from the package, `import dmft_sgd as ds`, and "
             "generated from the docstrings when the site is built. The examples in the "
             "docstrings are run as doctests (`tests/test_docs.py`).\n"]
    for title, blurb, names in API_SECTIONS:
        parts.append(f"## {title}\n\n{blurb}\n")
        parts.extend(_api_block(name) for name in names)
    return "\n".join(parts)


def _api_block(name: str) -> str:
    """The mkdocstrings block of ``dmft_sgd.<name>``. A function named like its module
    (``fdt``, ``sweep``) is documented by its full path, else the module would be. A
    class lists its methods and properties: its fields are documented in its docstring
    (Parameters, Attributes), and as class attributes they would only show their
    defaults' types."""
    import dataclasses

    import dmft_sgd

    obj = getattr(dmft_sgd, name)
    if not callable(obj):  # data: its value's type would lend it a builtin docstring
        return _data_block(name, obj)
    module = Path(dmft_sgd.__file__).parent / f"{name}.py"
    path = f"dmft_sgd.{name}.{name}" if module.exists() else f"dmft_sgd.{name}"
    block = f"::: {path}\n"
    if isinstance(obj, type):
        fields = {f.name for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) else set()
        members = [m for m in vars(obj) if not m.startswith("_") and m not in fields]
        block += f"    options:\n      members: [{', '.join(members)}]\n"
    return block


def _data_block(name: str, value: Any) -> str:
    """A public constant: its value and, for ``OBSERVABLES``, what each name measures."""
    from dmft_sgd import results

    block = f"### `{name}`\n\n```python\n{name} = {value!r}\n```\n\n"
    if name == "OBSERVABLES":
        block += ("The observables every run records at every time step, in order (the Rust "
                  "core's registry): each result class has a field of each name, `mean(name)` "
                  "and `sem(name)`.\n\n| name | what it measures |\n| --- | --- |\n")
        block += "".join(f"| `{o}` | {results.DESCRIPTIONS[o]}"
                         f"{' (labels ±1 only: None for a regression teacher)' if o in results.ERRORS else ''} |\n"
                         for o in value)
    return block


def example_names() -> list[str]:
    """The example scripts, ``examples/*.py`` without the helpers (``_common.py``)."""
    return sorted(p.stem for p in (ROOT / "examples").glob("[!_]*.py"))


def _script_docstring(name: str) -> str:
    tree = ast.parse((ROOT / "examples" / f"{name}.py").read_text())
    return inspect.cleandoc(ast.get_docstring(tree) or f"The script examples/{name}.py.")


def example_prose(name: str) -> tuple[str, str]:
    """An example page's title and what it shows: the handwritten
    ``docs/examples/<name>.md`` (a ``# Title`` line, then prose), else the script's
    docstring, titled by its first phrase."""
    page = ROOT / "docs" / "examples" / f"{name}.md"
    if page.exists():
        head, _, body = page.read_text().partition("\n")
        if not head.startswith("# "):
            raise ValueError(f"{page} must start with a '# Title' line")
        return head[2:].strip(), body.strip()
    doc = _script_docstring(name)
    title = re.split(r"[:.]", doc, maxsplit=1)[0].strip()
    return title, doc


def example_page(name: str) -> str:
    """A tutorial page: what the script shows, how to run it, its picture (where
    ``docs/<name>.png`` exists) and its whole source."""
    title, prose = example_prose(name)
    picture = (f"## The picture\n\n![{title}: the picture of examples/{name}.py](../{name}.png)\n\n"
               if (ROOT / "docs" / f"{name}.png").exists() else "")
    return f"""# {title}

{prose}

## Run it

```bash
pip install "dmft-sgd[plot]"          # matplotlib, for the picture
python examples/{name}.py              # writes examples-output/{name}.png
python examples/{name}.py --quick      # a small run, a few seconds (what the tests run)
python examples/{name}.py --readme     # redraws docs/{name}.png at full size
```

`--out DIR` writes the picture into another folder. The scripts share their command line
(`examples/_common.py`).

{picture}## The source

````python title="examples/{name}.py"
{(ROOT / "examples" / f"{name}.py").read_text().rstrip()}
````
"""


def examples_table() -> str:
    rows = ["| page | what it shows |", "| --- | --- |"]
    for name in example_names():
        title = example_prose(name)[0]
        first = re.split(r"(?<=\.)\s", _script_docstring(name).replace("\n", " "), maxsplit=1)[0]
        head, colon, rest = first.partition(": ")
        what = rest if colon and len(head) < 60 else first   # "Title: what it shows."
        rows.append(f"| [{title}]({name}.md) | {what[:1].upper()}{what[1:].rstrip('.')} |")
    return "\n".join(rows) + "\n"


GENERATED = {
    "index.md": index_page,
    "getting-started.md": getting_started_page,
    "cli.md": cli_page,
    "api.md": api_page,
}
#: Where the examples' table goes in docs/examples/index.md.
TABLE_MARKER = "<!-- the examples' table, generated -->"


def on_config(config: Any) -> Any:
    """The Examples section of the nav lists every script."""
    for entry in config.nav:
        if isinstance(entry, dict) and "Examples" in entry:
            entry["Examples"] = ["examples/index.md"] + [
                {example_prose(name)[0]: f"examples/{name}.md"} for name in example_names()]
            break
    else:
        raise ValueError("mkdocs.yml: the nav has no 'Examples' section")
    return config


def on_files(files: Any, config: Any) -> Any:
    """Adds the generated pages; the example pages replace their prose files."""
    from mkdocs.structure.files import File

    for uri, make in GENERATED.items():
        files.append(File.generated(config, uri, content=make()))
    for name in example_names():
        uri = f"examples/{name}.md"
        prose = files.get_file_from_path(uri)
        if prose is not None:
            files.remove(prose)
        files.append(File.generated(config, uri, content=example_page(name)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri == "examples/index.md":
        if TABLE_MARKER not in markdown:
            raise ValueError(f"docs/examples/index.md lost its marker {TABLE_MARKER}")
        markdown = markdown.replace(TABLE_MARKER, examples_table())
    return markdown
