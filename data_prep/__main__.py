"""``python -m data_prep``: list the dataset tools (each has its own ``--help``).

Tools are the package's public modules; the first line of each module docstring is shown. The
docstrings are read with ``ast``, so listing imports none of them (some need optional packages).
"""

from __future__ import annotations

import ast
from pathlib import Path


def tools() -> dict[str, str]:
    """``{module name: first docstring line}`` for every public module of ``data_prep``."""
    out = {}
    for path in sorted(Path(__file__).parent.glob("*.py")):
        if path.name.startswith("_"):
            continue
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        out[path.stem] = doc.strip().splitlines()[0] if doc.strip() else ""
    return out


def main() -> None:
    print("dataset tools (docs/data.md); run python -m data_prep.TOOL --help for options:")
    for name, what in tools().items():
        print(f"  {name:<14} {what}")


if __name__ == "__main__":
    main()
