#!/usr/bin/env bash
# Run dvflow's checks and tests in a fresh virtual environment (.venv by default):
# install the project with its test extras, then ruff, mypy and pytest.
#
# Usage: bash scripts/test.sh [--fast] [pytest arguments...]
#   --fast  the inner loop: only the tests not marked slow (pytest -m "not slow"),
#           the ones that spawn no chain of dvc/mlflow processes. CI runs everything.
# Environment: DVFLOW_VENV (default .venv), DVFLOW_TEST_WORKERS (default 2),
#   DVFLOW_SKIP_INSTALL=1 to reuse the virtual environment as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

lane=()
if [ "${1:-}" = "--fast" ]; then
    shift
    lane=(-m "not slow")
fi

venv="${DVFLOW_VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# shellcheck disable=SC1091
source "$venv/bin/activate"
if [ -z "${DVFLOW_SKIP_INSTALL:-}" ]; then
    echo "installing dvflow with its test extras (log: .logs/install.log)"
    # shellcheck source=scripts/install.sh
    source scripts/install.sh
    install_into "$venv" .logs/install.log -e ".[test]"
fi

# Tests make real git commits: an identity through the environment if git has none.
# shellcheck source=scripts/git-identity.sh
source scripts/git-identity.sh
give_git_an_identity "dvflow tests" "tests@dvflow.invalid"

echo "== ruff"
ruff check src tests benchmarks
ruff format --check src tests benchmarks
echo "== mypy"
mypy
echo "== pytest"
# Every test starts dvflow processes: each would compile dvflow's modules again where
# PYTHONDONTWRITEBYTECODE is set (the installed packages are compiled at install).
python -m compileall -q src
python -m pytest -n "${DVFLOW_TEST_WORKERS:-2}" ${lane[@]+"${lane[@]}"} "$@"
