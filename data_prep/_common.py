"""Shared bits of the data_prep command-line tools: one-line failures, exit codes."""

from __future__ import annotations

import sys
from typing import NoReturn


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: MESSAGE`` (one line) to stderr and exit with ``code``."""
    print("error: " + " ".join(str(message).split()), file=sys.stderr)
    raise SystemExit(code)
