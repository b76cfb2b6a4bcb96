"""What the notebooks teach, checked statically on their committed JSON (fast, nothing runs).

* every numbered notebook ends with a ``## Exercises`` markdown cell: a numbered list (1., 2., …)
  of at least 3 exercises, each with a hint (worked answers live in ``docs/exercises.md``);
* notebooks 02 and 03 state their objectives in LaTeX display math (``$$…$$``) with ``\\lambda``
  and with ``\\mathbb{E}`` or ``\\min`` / ``\\max``;
* notebook 02 shows the library's Stage-I step itself: a code cell calls
  ``inspect.getsource(stage1_step)`` with ``stage1_step`` imported from
  ``dpiglib.training.stage1`` (one source of truth, never a copy).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["01_data_preparation", "02_stage1_training", "03_stage2_training",
             "04_sampling_explorer", "05_evaluation"]
ITEM = re.compile(r"^(\d+)\.\s+\S")
DISPLAY_MATH = re.compile(r"\$\$(.+?)\$\$", re.S)


def _cells(name: str, kind: str) -> list[str]:
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    return [c.source for c in nb.cells if c.cell_type == kind]


def _exercise_items(source: str) -> list[str]:
    """The top-level numbered items of a markdown cell, each with its continuation lines."""
    items: list[list[str]] = []
    for line in source.splitlines()[1:]:
        m = ITEM.match(line)
        if m:
            items.append([line])
        elif items and (line.startswith((" ", "\t")) or not line.strip()):
            items[-1].append(line)
        elif items:
            break  # the list ended
    return ["\n".join(i) for i in items]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_ends_with_numbered_exercises_with_hints(name):
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    headed = [i for i, c in enumerate(nb.cells)
              if c.cell_type == "markdown" and c.source.splitlines()[:1] == ["## Exercises"]]
    assert headed, f"{name}: no markdown cell headed exactly '## Exercises'"
    assert headed[-1] == len(nb.cells) - 1, f"{name}: the '## Exercises' cell is not the last cell"
    items = _exercise_items(nb.cells[headed[-1]].source)
    numbers = [int(ITEM.match(i).group(1)) for i in items]
    assert len(items) >= 3, f"{name}: {len(items)} numbered exercises, need at least 3"
    assert numbers == list(range(1, len(items) + 1)), f"{name}: exercises numbered {numbers}"
    no_hint = [n for n, text in zip(numbers, items) if "hint" not in text.lower()]
    assert not no_hint, f"{name}: exercises {no_hint} have no hint"


@pytest.mark.parametrize("name", ["02_stage1_training", "03_stage2_training"])
def test_objective_is_written_in_latex(name):
    blocks = [m.group(1) for src in _cells(name, "markdown") for m in DISPLAY_MATH.finditer(src)]
    assert blocks, f"{name}: no $$…$$ display math in any markdown cell"
    assert any(r"\lambda" in b for b in blocks), f"{name}: no \\lambda in the objective's math"
    assert any(r"\mathbb{E}" in b or r"\min" in b or r"\max" in b for b in blocks), (
        f"{name}: the objective's math has neither \\mathbb{{E}} nor \\min / \\max")


def test_stage1_objective_names_every_weighted_term():
    math = "\n".join(m.group(1) for src in _cells("02_stage1_training", "markdown")
                     for m in DISPLAY_MATH.finditer(src))
    for term in (r"\lambda_{L1}", r"\lambda_{pose}", r"\log \sigma(D(\hat x))", r"\tfrac{1}{2}"):
        assert term in math, f"notebook 02's objective lacks {term}"


def test_stage2_objective_has_both_wgan_variants():
    text = "\n".join(_cells("03_stage2_training", "markdown"))
    math = "\n".join(m.group(1) for m in DISPLAY_MATH.finditer(text))
    assert r"\lambda_{GP}" in math and r"\nabla" in math, "notebook 03: no gradient-penalty term"
    assert "wgan-clip" in text and "clip" in math + text, "notebook 03: weight clipping not stated"


def _code_trees(name: str):
    for src in _cells(name, "code"):
        # IPython magics and shell escapes are not Python
        lines = [ln for ln in src.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        yield ast.parse("\n".join(lines))


def test_notebook02_shows_the_library_step_source():
    imported = calls = False
    for tree in _code_trees("02_stage1_training"):
        for node in ast.walk(tree):
            if (isinstance(node, ast.ImportFrom) and node.module == "dpiglib.training.stage1"
                    and any(a.name == "stage1_step" and a.asname is None for a in node.names)):
                imported = True
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "getsource" and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "inspect" and node.args
                    and isinstance(node.args[0], ast.Name) and node.args[0].id == "stage1_step"):
                calls = True
    assert imported, "notebook 02 does not import stage1_step from dpiglib.training.stage1"
    assert calls, "notebook 02 has no code cell calling inspect.getsource(stage1_step)"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_cell_stacks_sampler_output_with_dataset_images_across_devices(name):
    """On a GPU the sampler's images live on ``cuda`` and the dataset's on the CPU: a cell that
    ``torch.stack``s or ``torch.cat``s a dataset item's ``["image"]`` with a sampler call in the
    same expression must move the sampler's output with ``.cpu()`` first (notebook 04 stopped on
    exactly that in the first H200 run, docs/gpu_run/README.md)."""
    offenders = []
    for tree in _code_trees(name):
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("stack", "cat")
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"):
                continue
            text = ast.unparse(node)
            if "['image']" in text and "sampler." in text:
                offenders.append(text[:120])
    assert not offenders, f"{name}: mixes devices on a GPU: {offenders}"
