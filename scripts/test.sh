#!/usr/bin/env bash
# Run dvflow's checks and tests in a fresh virtual environment (.venv by default):
# install the project with its test extras, then ruff, mypy and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${DVFLOW_VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# shellcheck disable=SC1091
source "$venv/bin/activate"
mkdir -p .logs
echo "installing dvflow with its test extras (log: .logs/install.log)"
# pip on some machines prints many harmless 'Location ... is ignored' warnings.
{ python -m pip install --upgrade pip && python -m pip install -e ".[test]"; } \
    >.logs/install.log 2>&1 || { tail -40 .logs/install.log; exit 1; }

# Tests make real git commits: give git an identity if the machine has none.
git config --global user.email >/dev/null 2>&1 || git config --global user.email "tests@dvflow.invalid"
git config --global user.name >/dev/null 2>&1 || git config --global user.name "dvflow tests"

echo "== ruff"
ruff check src tests benchmarks
ruff format --check src tests benchmarks
echo "== mypy"
mypy
echo "== pytest"
python -m pytest -n "${DVFLOW_TEST_WORKERS:-2}" "$@"
