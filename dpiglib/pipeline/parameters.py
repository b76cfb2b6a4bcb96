"""Notebook parameters: the ``parameters`` cells, command-line values and their types.

Not part of the paper. Each numbered notebook declares its parameters in one cell tagged
``parameters`` (docs/conventions.md, "Notebook parameters"); this module finds the notebooks and
reads those cells without running them with papermill's own inspection (what
``papermill.inspect_notebook`` runs: names, annotated types, defaults as source text), and types
values the way papermill does: ``-p NAME VALUE`` text with papermill's ``-p`` rule, while ``-f``
YAML files keep their YAML types. A notebook-only parameter must match the type of its default.
Used by :mod:`dpiglib.pipeline.runner`.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from dpiglib.config import ConfigError

__all__ = ["CliValue", "parse_cli_value", "load_params_file", "NotebookSpec",
           "default_notebook_dir", "notebook_parameters", "discover_notebooks", "coerce_like",
           "NON_LITERAL"]

_NOTEBOOK_PATTERN = re.compile(r"^\d\d_.+\.ipynb$")
NON_LITERAL = object()  # a parameters-cell default that is not a Python literal


class CliValue(str):
    """Text typed on a command line (``-p NAME VALUE``): its type is decided by the target.

    A string parameter keeps the text as typed (``-p tag 001`` stays ``"001"``); other targets
    parse it the way papermill's ``-p`` does (:func:`parse_cli_value`).
    """


def parse_cli_value(text: str) -> Any:
    """Papermill's ``-p`` rule: ``True``/``False``/``None``, then int, then float, else str.

    Calls papermill's own resolver (``papermill.cli._resolve_type``, private but what ``papermill
    -p`` runs; ``tests/test_pipeline.py`` pins the rule).
    """
    from papermill.cli import _resolve_type

    return _resolve_type(str(text))


def load_params_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML (or JSON) parameters file (papermill's ``-f``): a mapping of name → value."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"parameters file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"parameters file {str(path)!r} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise ConfigError(f"parameters file {str(path)!r} must hold a mapping of names to values")
    return data


# --------------------------------------------------------------------------------------------
# Notebooks and their parameters cells
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotebookSpec:
    """One numbered notebook: its path and the defaults of its ``parameters`` cell."""

    path: Path
    parameters: Mapping[str, Any]

    @property
    def name(self) -> str:
        return self.path.name


def default_notebook_dir() -> Path:
    """The repository's ``notebooks/`` folder next to the ``dpiglib`` package."""
    return Path(__file__).resolve().parents[2] / "notebooks"


def notebook_parameters(path: str | os.PathLike) -> dict[str, Any]:
    """Names and default values assigned in the (first) cell tagged ``parameters``.

    The cell is read by papermill's own inspection, the Python translator's ``inspect`` that
    ``papermill.inspect_notebook`` and ``execute_notebook``'s unknown-parameter check run for a
    Python kernel (called directly: the pipeline always runs ``python3``, so a notebook without
    kernel metadata still works). It gives each default as source text; defaults that are Python
    literals (``ast.literal_eval``) keep their value, the others map to an internal marker (their
    type is then not checked). A notebook without such a cell declares no parameters.

    Papermill reads the cell line by line: write one ``name = literal`` per line (a line with two
    ``=``, such as ``d = dict(a=1)``, is skipped with papermill's warning; a ``#`` inside a string
    starts the help text, which makes that default non-literal).

    Raises:
        ConfigError: the parameters cell is not valid Python.
    """
    import nbformat
    from papermill.translators import PythonTranslator

    nb = nbformat.read(str(path), as_version=4)
    tagged = (c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", []))
    cell = next(tagged, None)
    if cell is None:
        return {}
    try:  # papermill parses line by line and would skip a broken line silently
        ast.parse(cell.source)
    except SyntaxError as exc:
        raise ConfigError(f"{Path(path).name}: parameters cell is not valid Python: {exc}") from exc
    out: dict[str, Any] = {}
    for param in PythonTranslator.inspect(cell):
        try:
            out[param.name] = ast.literal_eval(param.default)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            out[param.name] = NON_LITERAL
    return out


def discover_notebooks(directory: str | os.PathLike | None = None,
                       only: Iterable[str] | None = None) -> list[NotebookSpec]:
    """The ``NN_*.ipynb`` notebooks of ``directory`` in order, with their parameters.

    Args:
        directory: default :func:`default_notebook_dir`.
        only: keep notebooks whose name starts with one of these (``"02"``, ``"03_stage2"``).

    Raises:
        ConfigError: the folder is missing, holds no numbered notebook, or ``only`` matches none.
    """
    directory = Path(directory) if directory is not None else default_notebook_dir()
    if not directory.is_dir():
        raise ConfigError(f"notebook folder {str(directory)!r} does not exist (use --notebooks)")
    paths = sorted(p for p in directory.iterdir() if _NOTEBOOK_PATTERN.match(p.name))
    if not paths:
        raise ConfigError(f"no numbered notebooks (NN_*.ipynb) in {str(directory)!r}")
    if only:
        wanted = [w.strip() for w in only if w.strip()]
        kept = [p for p in paths if any(p.name.startswith(w) for w in wanted)]
        if not kept:
            raise ConfigError(f"--only {','.join(wanted)} matches no notebook; available: "
                              + ", ".join(p.name for p in paths))
        paths = kept
    return [NotebookSpec(p.resolve(), notebook_parameters(p)) for p in paths]


# --------------------------------------------------------------------------------------------
# Types of notebook-only parameters
# --------------------------------------------------------------------------------------------


def coerce_like(name: str, value: Any, default: Any) -> Any:
    """Coerce a notebook-only parameter to the type of its default in the parameters cell."""
    raw = str(value) if isinstance(value, CliValue) else None
    if default is None or default is NON_LITERAL:
        return parse_cli_value(raw) if raw is not None else value
    kind = type(default)
    if kind is str:
        if raw is not None or isinstance(value, str):
            return str(value)
    else:
        if raw is not None:
            value = parse_cli_value(raw)
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
                return value.lower() in ("true", "yes")
        elif kind is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
        elif kind is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        elif kind in (list, tuple):
            if isinstance(value, str):
                value = [parse_cli_value(v.strip()) for v in value.split(",") if v.strip()]
            if isinstance(value, (list, tuple)):
                return list(value)
        elif kind is dict and isinstance(value, dict):
            return value
    raise ConfigError(f"parameter {name!r} expects {kind.__name__} (its default is {default!r}), "
                      f"got {value!r} ({type(value).__name__})")
