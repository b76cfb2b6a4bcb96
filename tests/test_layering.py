"""The package layout: layers that import only downwards, and no import cycles.

Every ``import`` of every module under ``dpiglib/`` counts, function-level ones included (a
lazy import still ties two modules together). The layers, lowest first (docs/design.md):

    config, core → data, synth → models → training → sampling, photos → metrics → pretrained
    → ui → pipeline → cli (and the package's own ``__init__``/``__main__``)

A module may import from its own layer or any layer below it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "dpiglib"

LAYERS = [
    {"dpiglib.config", "dpiglib.core"},
    {"dpiglib.data", "dpiglib.synth"},
    {"dpiglib.models"},
    {"dpiglib.training"},
    {"dpiglib.sampling", "dpiglib.photos"},
    {"dpiglib.metrics"},
    {"dpiglib.pretrained"},
    {"dpiglib.ui"},
    {"dpiglib.pipeline"},
    {"dpiglib.cli", "dpiglib.__main__", "dpiglib"},
]


def modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The dpiglib modules ``name`` imports anywhere in its source (relative imports resolved)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".")
                pkg = pkg[: len(pkg) - node.level + (1 if path.name == "__init__.py" else 0)]
                base = ".".join(pkg + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for t in targets:
            while t and t not in known:  # a name imported from a module → that module
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {n: imports_of(n, p, set(mods)) for n, p in mods.items()}


def layer_of(module: str) -> int:
    best = None
    for i, layer in enumerate(LAYERS):
        for top in layer:
            if module == top or module.startswith(top + "."):
                if best is None or len(top) > len(best[1]):
                    best = (i, top)
    assert best is not None, f"{module} belongs to no layer: add its package to LAYERS"
    return best[0]


def test_every_module_has_a_layer():
    for m in modules():
        layer_of(m)


def test_imports_run_downwards_only():
    bad = [f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
           for a, deps in graph().items() for b in deps
           if b != "dpiglib" and layer_of(b) > layer_of(a)]
    assert not bad, "imports that go up a layer:\n" + "\n".join(sorted(bad))


def find_cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in g:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_counting_function_level_imports():
    # a package's __init__ runs when one of its modules is imported; the inits here are
    # docstrings only, so the edge module -> its own package carries nothing
    g = {a: {b for b in deps if not a.startswith(b + ".")} for a, deps in graph().items()}
    assert find_cycles(g) == []


def test_cycle_finder_finds_a_planted_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_top_of_the_package_is_small_and_networks_live_in_a_subpackage():
    top = sorted(p.name for p in PKG.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert len(top) <= 6, top
    for net in ("encoders", "generator", "discriminator", "pose_ae", "mapping", "losses"):
        assert (PKG / "models" / f"{net}.py").is_file(), net


def test_a_checkpoint_written_before_the_move_still_loads():
    """The layout move renamed modules, not state-dict keys: a width-4 Stage-I checkpoint that
    main wrote at commit 40fa14d (flat modules) loads into today's Stage1Model."""
    import torch

    from dpiglib.core.checkpoint import load_checkpoint
    from dpiglib.training.stage1 import load_stage1

    path = Path(__file__).parent / "golden" / "stage1_width4_main_40fa14d.pt"
    model, pae, cfg = load_stage1(path)
    assert cfg.model.width == 4 and pae is None
    stored = load_checkpoint(path, expected_kind="stage1")["model"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, stored[k]), k
    out = model.reconstruct(torch.zeros(1, 3, 64, 32), torch.zeros(1, 7, 4),
                            torch.ones(1, 7), -torch.ones(1, 18, 64, 32), torch.ones(1, 1, 64, 32))
    assert out.shape == (1, 3, 64, 32) and torch.isfinite(out).all()
