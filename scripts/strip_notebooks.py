"""Strip outputs and execution counts from notebooks before they are committed.

    python scripts/strip_notebooks.py notebooks/*.ipynb     # rewrite in place
    python scripts/strip_notebooks.py --check notebooks/*.ipynb   # exit 1 if any has outputs
"""
from __future__ import annotations

import argparse
import sys

import nbformat


def has_outputs(nb) -> bool:
    return any(c.get("outputs") or c.get("execution_count") for c in nb.cells if c.cell_type == "code")


def strip(nb):
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs = []
            c.execution_count = None
        c.metadata.pop("execution", None)
        c.metadata.pop("papermill", None)
    nb.metadata.pop("papermill", None)
    return nb


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--check", action="store_true", help="only report notebooks that have outputs")
    args = ap.parse_args(argv)
    dirty = []
    for p in args.paths:
        nb = nbformat.read(p, as_version=4)
        if args.check:
            if has_outputs(nb):
                dirty.append(p)
        else:
            nbformat.write(strip(nb), p)
    if dirty:
        print("notebooks with outputs: " + ", ".join(dirty), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
