"""The repository cites its own reference of the paper and the original code, and nothing outside.

Every tracked ``.py``, ``.md`` and ``.ipynb`` file is scanned:

(a) no pointer to documents users do not have (the shared reference folder outside the
    repository, its specification file, and the other notes that lived beside them; the
    patterns are spelled below in pieces, so this file does not match them itself);
(b) every citation ``orig §N``, ``orig §N.N``, ``orig §N.N.N`` or ``orig BN`` names a heading of
    ``docs/original_code.md``, and every link to that page or to ``docs/glossary.md`` names an
    existing anchor (GitHub's heading slugs);
(c) the old forms ``spec §…`` / ``spec B…`` and a bare ``§`` outside an ``orig`` citation fail.

Failures list ``file:line`` of every offender. The glossary test checks that the terms the
notebooks link to have their own heading.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORIGINAL = "docs/original_code.md"
GLOSSARY = "docs/glossary.md"

#: Exempt from the scan: this file (it names the forbidden patterns) and the GPU-run archive.
EXEMPT_FILES = ("tests/test_citations.py",)
EXEMPT_DIRS = ("docs/gpu_run/",)

#: Pointers to documents outside the repository.
FORBIDDEN = tuple("".join(parts) for parts in (
    ("../", "shared"), ("shared", "/reference"), ("dpig", "_spec"), ("shared", "/notes"),
    ("peers", ".md"), ("market_csv", "_format.md")))

#: ``orig §3.6``, ``orig §3.1-3.2``, ``orig §6.4–§6.5``, ``orig B8``, ``orig B1-B5``.
SECTION_CITE = re.compile(r"\borig\s+§\s?(\d+(?:\.\d+)*)(?:\s?[-–]\s?§?(\d+(?:\.\d+)*))?",
                          re.IGNORECASE)
BUG_CITE = re.compile(r"\borig\s+(B\d+)\b(?:\s?[-–]\s?(B\d+)\b)?", re.IGNORECASE)
OLD_FORM = re.compile(r"\bspec\s+(?:§|B\d)", re.IGNORECASE)
LINK = re.compile(r"(original_code|glossary)\.md#([^\s)\]>`\"']+)")

GLOSSARY_TERMS = (
    "GAN", "Discriminator", "Critic", "WGAN", "Weight clipping", "Gradient penalty", "Embedding",
    "Heatmap", "Pose mask", "U-Net", "SSIM", "FID", "IS", "IS-proxy", "MMD", "Fréchet distance",
    "Slerp", "PCKh", "Inversion", "ROI and crop_and_resize", "Pose auto-encoder",
    "Mapping network", "Copy-source baseline", "Leakage",
)

#: Numbers the reference must keep (the original specification's numbering).
REQUIRED_NUMBERS = (
    ["§1", "§2", "§3", "§4", "§5", "§6", "§7", "§8"]
    + [f"§2.{i}" for i in range(1, 8)] + [f"§3.{i}" for i in range(1, 9)]
    + [f"§4.{i}" for i in range(1, 5)] + ["§6.1", "§6.2", "§6.3", "§7.1"]
    + [f"B{i}" for i in range(1, 18)]
)


def slug(text: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, each space a hyphen."""
    text = re.sub(r"`", "", text.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def headings(path: Path) -> list[str]:
    out, fence = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
        elif not fence and re.match(r"#{1,6}\s", line):
            out.append(line.lstrip("#").strip())
    return out


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for h in headings(path):
        s = slug(h)
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}-{n}")
    return out


def numbers(path: Path) -> set[str]:
    """``§3.6`` / ``B8`` keys of the headings ``### §3.6 …`` / ``### B8 …``."""
    keys = set()
    for h in headings(path):
        m = re.match(r"(§\d+(?:\.\d+)*|B\d+)(?:\s|$)", h)
        if m:
            keys.add(m.group(1))
    return keys


def tracked_files() -> list[str]:
    try:
        res = subprocess.run(["git", "ls-files", "-z", "--", "*.py", "*.md", "*.ipynb"],
                             cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    files = [f for f in res.stdout.split("\0") if f]
    return [f for f in files
            if f not in EXEMPT_FILES and not f.startswith(EXEMPT_DIRS) and (ROOT / f).is_file()]


def text_lines(rel: str):
    """(location, line) pairs; notebooks by cell, so locations point into the cell sources."""
    path = ROOT / rel
    if rel.endswith(".ipynb"):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for c, cell in enumerate(nb.get("cells", [])):
            src = cell.get("source", "")
            src = "".join(src) if isinstance(src, list) else src
            for i, line in enumerate(src.splitlines(), 1):
                yield f"{rel}:cell {c}:line {i}", line
    else:
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            yield f"{rel}:{i}", line


def _report(what: str, offenders: list[str]) -> str:
    shown = "\n  ".join(offenders[:80])
    more = f"\n  … and {len(offenders) - 80} more" if len(offenders) > 80 else ""
    return f"{len(offenders)} {what}:\n  {shown}{more}"


@pytest.fixture(scope="module")
def corpus():
    return [(loc, line) for rel in tracked_files() for loc, line in text_lines(rel)]


def test_reference_keeps_the_numbering():
    keys = numbers(ROOT / ORIGINAL)
    missing = [k for k in REQUIRED_NUMBERS if k not in keys]
    assert not missing, f"{ORIGINAL} lacks headings for {missing}"


def test_no_pointers_outside_the_repository(corpus):
    bad = [f"{loc}: {s!r} in: {line.strip()[:120]}"
           for loc, line in corpus for s in FORBIDDEN if s in line]
    assert not bad, _report(f"pointers to documents users do not have (cite {ORIGINAL}, "
                            "docs/conventions.md or docs/data.md instead)", bad)


def test_no_old_citation_form(corpus):
    bad = []
    for loc, line in corpus:
        if loc.startswith(ORIGINAL + ":"):
            continue
        if OLD_FORM.search(line):
            bad.append(f"{loc}: 'spec …' -> write 'orig …': {line.strip()[:120]}")
        elif "§" in SECTION_CITE.sub("", line):
            bad.append(f"{loc}: bare '§' -> write 'orig §N': {line.strip()[:120]}")
    assert not bad, _report("citations not in the form 'orig §N' / 'orig BN'", bad)


def test_citations_resolve(corpus):
    keys = numbers(ROOT / ORIGINAL)
    bad = []
    for loc, line in corpus:
        for m in SECTION_CITE.finditer(line):
            for n in m.groups():
                if n and f"§{n}" not in keys:
                    bad.append(f"{loc}: orig §{n}")
        for m in BUG_CITE.finditer(line):
            for n in m.groups():
                if n and n.upper() not in keys:
                    bad.append(f"{loc}: orig {n}")
    assert not bad, _report(f"citations with no heading in {ORIGINAL}", bad)


def test_links_to_reference_and_glossary_resolve(corpus):
    targets = {"original_code": anchors(ROOT / ORIGINAL), "glossary": anchors(ROOT / GLOSSARY)}
    bad = [f"{loc}: {page}.md#{a}"
           for loc, line in corpus for page, a in LINK.findall(line) if a not in targets[page]]
    assert not bad, _report("links to anchors that do not exist", bad)


def test_reference_is_self_consistent():
    """Inside the reference, every '§N.N' and every '](#anchor)' link names one of its headings."""
    path = ROOT / ORIGINAL
    keys, own = numbers(path), anchors(path)
    bad = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for n in re.findall(r"§(\d+(?:\.\d+)*)", line):
            if f"§{n}" not in keys:
                bad.append(f"{ORIGINAL}:{i}: §{n}")
        for a in re.findall(r"\]\(#([^)]+)\)", line):
            if a not in own:
                bad.append(f"{ORIGINAL}:{i}: #{a}")
    assert not bad, _report("references inside the reference that do not resolve", bad)


def test_glossary_terms_have_headings():
    have = {h.lower() for h in headings(ROOT / GLOSSARY)}
    missing = [t for t in GLOSSARY_TERMS if t.lower() not in have]
    assert not missing, f"{GLOSSARY} lacks '## Term' headings for {missing}"
    own = anchors(ROOT / GLOSSARY)
    bad = [a for a in re.findall(r"\]\(#([^)]+)\)", (ROOT / GLOSSARY).read_text(encoding="utf-8"))
           if a not in own]
    assert not bad, f"{GLOSSARY} links to missing anchors {bad}"


def test_readme_and_design_link_the_reference():
    for rel in ("README.md", "docs/design.md"):
        text = (ROOT / rel).read_text(encoding="utf-8")
        for page in ("original_code.md", "glossary.md"):
            assert page in text, f"{rel} does not link {page}"


def test_slug_matches_github():
    assert slug("§3.6 Stage-I losses and optimisation") == "36-stage-i-losses-and-optimisation"
    assert slug("B15 Box normalisation and crop_and_resize") == "b15-box-normalisation-and-crop_and_resize"
    assert slug("§6.2 score_mask.py: mask-SSIM and mask-IS") == "62-score_maskpy-mask-ssim-and-mask-is"
    assert slug("Fréchet distance") == "fréchet-distance"
