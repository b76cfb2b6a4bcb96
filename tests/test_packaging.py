"""Packaging works: the wheel and sdist built from the tracked files hold every module and the
package data, an installed wheel imports and its ``dpig`` entry point runs; pip path == conda
path; CI runs the README's test command; notebooks committed clean."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PACKAGES = ("dpiglib", "data_prep")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_installs_the_pip_path():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    pip_entries = [d for d in deps if isinstance(d, dict) and "pip" in d]
    assert len(pip_entries) == 1, "environment.yml needs exactly one pip: section"
    # The conda path installs the same package with the same extras as scripts/install.sh.
    install_sh = (ROOT / "scripts" / "install.sh").read_text()
    m = re.search(r'install -e "(\.\[[a-z,]+\])"', install_sh)
    assert m, "scripts/install.sh must install the kit with `pip install -e \".[extras]\"`"
    assert pip_entries[0]["pip"] == ["-e " + m.group(1)]
    # ... and `all` really contains every other extra.
    extras = _pyproject()["project"]["optional-dependencies"]
    all_spec = " ".join(extras["all"])
    for name in extras:
        if name != "all":
            assert name in all_spec, f"extra [{name}] missing from [all]"
    # Python version: the conda pin satisfies requires-python.
    py = next(d for d in deps if isinstance(d, str) and d.startswith("python"))
    major, minor = map(int, py.split("=")[-1].split(".")[:2])
    floor = _pyproject()["project"]["requires-python"].removeprefix(">=")
    fmaj, fmin = map(int, floor.split(".")[:2])
    assert (major, minor) >= (fmaj, fmin)
    # The --no-deps wheels are named in environment.yml's instructions.
    assert "requirements-nodeps.txt" in (ROOT / "environment.yml").read_text()


def test_ci_runs_the_readme_test_command_and_it_runs_the_whole_suite(tmp_path):
    """.ci/run (with stand-ins for make and chromium) calls `make test`, the README's command,
    and `make test` installs and then runs pytest without a marker filter."""
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^make test\b", readme, re.M), "README names no `make test` command"
    assert re.search(r"^make pipeline\b", readme, re.M), "README names no `make pipeline` command"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "make_calls.txt"
    (bin_dir / "make").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (bin_dir / "chromium").write_text("#!/bin/sh\nexit 0\n")  # so .ci/run installs nothing
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["bash", str(ROOT / ".ci" / "run")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert calls.read_text().split() == ["test"]
    # run as from a shell even when this suite itself runs under `make test` (CI): no
    # "make[1]: Entering directory" lines from an inherited MAKELEVEL
    clean = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    dry = subprocess.run(["make", "-n", "--no-print-directory", "test"], cwd=ROOT, env=clean,
                         capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.strip().splitlines()
    assert "scripts/install.sh" in lines[0]  # set-up first
    assert re.fullmatch(r"\S*python -m pytest", lines[-1]), lines[-1]  # all tests, no -m filter


def test_torch_floor_admits_the_gpu_machines_torch():
    from packaging.requirements import Requirement

    import torch

    deps = [Requirement(d) for d in _pyproject()["project"]["dependencies"]]
    (req,) = [r for r in deps if r.name == "torch"]
    # GPU machines ship torch 2.11 without network access, so the floor must stay low.
    for version in ("2.4.0", "2.11.0", torch.__version__.split("+")[0]):
        assert req.specifier.contains(version), (str(req), version)


# --------------------------------------------------------------------------------------------
# The built wheel and sdist
# --------------------------------------------------------------------------------------------


def _tracked(*prefixes: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", "--", *prefixes], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return [p for p in out.splitlines() if (ROOT / p).is_file()]


#: the pretrained models tracked in dpiglib/pretrained/weights (a JSON beside each safetensors)
SHIPPED = [Path(p).stem for p in _tracked("dpiglib/pretrained/weights") if p.endswith(".json")]


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """Wheel and sdist built offline from a copy of the tracked package files, with a stand-in
    pretrained model in dpiglib/pretrained/weights (the package data)."""
    base = tmp_path_factory.mktemp("packaging")
    src, out = base / "src", base / "dist"
    for rel in _tracked("pyproject.toml", "README.md", "LICENSE", *PACKAGES):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    weights = src / "dpiglib" / "pretrained" / "weights"
    weights.mkdir(parents=True, exist_ok=True)
    (weights / "probe.safetensors").write_bytes(b"\0" * 16)
    (weights / "probe.json").write_text(json.dumps({"name": "probe"}))
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
           "-q", "-w", str(out), str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sdist = subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta "
                            "as b; print(b.build_sdist(sys.argv[1]))", str(out)], cwd=src,
                           capture_output=True, text=True, timeout=300)
    assert sdist.returncode == 0, sdist.stderr[-3000:]
    (wheel,) = out.glob("dpiglib-*.whl")
    (tarball,) = out.glob("dpiglib-*.tar.gz")
    return {"wheel": wheel, "sdist": tarball, "base": base}


def test_wheel_holds_every_module_the_package_data_and_the_metadata(dist):
    with zipfile.ZipFile(dist["wheel"]) as z:
        names = set(z.namelist())
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = z.read(f"{info}/entry_points.txt").decode()
        metadata = z.read(f"{info}/METADATA").decode()
    modules = [p for p in _tracked(*PACKAGES) if p.endswith(".py")]
    assert len(modules) > 40
    missing = [p for p in modules if p not in names]
    assert not missing, f"tracked modules missing from the wheel: {missing}"
    for f in ("probe.safetensors", "probe.json"):
        assert f"dpiglib/pretrained/weights/{f}" in names
    assert not any(n.startswith(("tests/", "notebooks/", "benchmarks/")) for n in names)
    assert re.search(r"^dpig = dpiglib\.cli:main$", entry_points, re.M)
    requires = {line.split(":", 1)[1].strip() for line in metadata.splitlines()
                if line.startswith("Requires-Dist:") and "extra ==" not in line}
    assert requires == set(_pyproject()["project"]["dependencies"])


def test_sdist_holds_the_sources_and_the_package_data(dist):
    with tarfile.open(dist["sdist"]) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    for rel in ("pyproject.toml", "README.md", "LICENSE", "dpiglib/pretrained/weights/probe.json",
                "dpiglib/pretrained/weights/probe.safetensors",
                *(p for p in _tracked(*PACKAGES) if p.endswith(".py"))):
        assert rel in names, rel


def test_installed_wheel_imports_its_own_files_and_dpig_runs(dist):
    """Installed into a bare folder (not the editable checkout): the modules, the package data
    and the console-script entry point all resolve there."""
    target = dist["base"] / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                           "--target", str(target), str(dist["wheel"])],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    probe = f"""
import contextlib, importlib.metadata as md, io, json, sys
sys.path.insert(0, {str(target)!r})
import data_prep, dpiglib, dpiglib.pretrained.registry as pre
(ep,) = [e for d in md.distributions(path=[{str(target)!r}]) for e in d.entry_points
         if e.group == "console_scripts" and e.name == "dpig"]
buf, code = io.StringIO(), None
with contextlib.redirect_stdout(buf):
    try:
        ep.load()(["evaluate", "--help"])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({{"dpiglib": dpiglib.__file__, "data_prep": data_prep.__file__,
                  "pretrained": pre.list_pretrained(), "weights": str(pre.WEIGHTS_DIR),
                  "code": code, "help": buf.getvalue()}}))
"""
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, cwd=dist["base"])
    assert res.returncode == 0, res.stderr[-3000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    for key in ("dpiglib", "data_prep", "weights"):
        assert Path(got[key]).resolve().is_relative_to(target.resolve()), (key, got[key])
    # the package data, found where it was installed: the stand-in and the shipped model
    assert got["pretrained"] == sorted(["probe", *SHIPPED])
    assert got["code"] == 0 and got["help"].startswith("usage: dpig evaluate")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_committed_clean_with_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs, f"{path.name}: outputs committed (run scripts/strip_notebooks.py)"
            assert cell.execution_count is None, f"{path.name}: execution count committed"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    src = tagged[0].source
    for name in ("preset", "data_root", "run_dir", "device", "seed"):
        assert re.search(rf"^{name}\s*=", src, re.M), f"{path.name}: parameters cell lacks {name}"


#: The archive of a notebook run executed on a lent GPU keeps its outputs on purpose.
STRIP_EXEMPT = ("docs/gpu_run/",)


def test_every_committed_notebook_is_stripped_but_the_gpu_archive():
    """Any notebook the repository tracks (exercises, docs, ...) is committed stripped, except
    the executed GPU run archived under docs/gpu_run/."""
    tracked = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True,
                             text=True)
    if tracked.returncode != 0:  # not a git checkout (an unpacked sdist): every notebook
        names = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.ipynb")
                 if ".ipynb_checkpoints" not in p.parts and ".venv" not in p.parts]
    else:
        names = tracked.stdout.split()
    assert any(n.startswith("notebooks/") for n in names)
    for name in names:
        if name.startswith(STRIP_EXEMPT):
            continue
        nb = nbformat.read(ROOT / name, as_version=4)
        dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                 and (c.outputs or c.execution_count is not None)]
        assert not dirty, f"{name}: outputs committed in cells {dirty} (scripts/strip_notebooks.py)"


def test_all_five_notebooks_exist():
    names = [p.name[:2] for p in NOTEBOOKS]
    assert names == ["01", "02", "03", "04", "05"], names


def test_install_script_stops_with_one_line_when_the_disk_is_too_small(tmp_path):
    """scripts/install.sh checks the free space before a fresh install (about 6.6 GB) and says so
    in one line, instead of failing half-way with "No space left on device" (a CI machine did)."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "df").write_text("#!/bin/sh\necho 'Filesystem 1024-blocks Used Available Capacity Mounted'\n"
                                 "echo '/dev/x 1000000 700000 300000 70% /'\n")
    (fake_bin / "df").chmod(0o755)
    venv = tmp_path / "venv"
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}", "VENV": str(venv)}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "install.sh")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "292 MiB free" in lines[0] and "7 GiB" in lines[0]
    assert not venv.exists()  # stopped before creating anything
