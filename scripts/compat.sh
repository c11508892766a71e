#!/usr/bin/env bash
# The version matrix: dvflow's compatibility subset against the oldest and the newest
# dvc and mlflow that pyproject.toml allows, each in its own virtual environment
# (.venv-compat-oldest, .venv-compat-newest), installed from the package index.
#
# The subset covers every DVC and MLflow internal dvflow uses
# (tests/unit/test_integrations.py exercises each function of the two adapters,
# tests/func/test_fast_listing.py the SQL tables read without mlflow) and the public
# APIs through the paths users take: `dvflow repro` end to end, the in-script API under
# `dvc repro`, metrics and plots read by DVC's own API, the tracking store.
# See docs/cli.md, "Versions".
#
# Usage: bash scripts/compat.sh [oldest|newest]...   (default: both)
# Environment: DVFLOW_COMPAT_OLDEST_PYTHON (default: python3.10, else pyenv's 3.10),
#   DVFLOW_COMPAT_NEWEST_PYTHON (default python3), DVFLOW_TEST_WORKERS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

# The floors: keep them equal to pyproject.toml's lower bounds.
OLDEST_PINS=("dvc==3.66.0" "mlflow==3.0.0")
# The ceilings: the newest release inside the ranges, resolved at run time.
NEWEST_PINS=("dvc>=3.66,<4" "mlflow>=3.0,<4")
SUBSET=(
    tests/unit
    tests/func/test_fast_listing.py
    tests/func/test_repro.py
    tests/func/test_run_api.py
    tests/func/test_results_dvc.py
    tests/func/test_store.py
)

find_python310() {
    if command -v python3.10 >/dev/null 2>&1 && python3.10 -V >/dev/null 2>&1; then
        echo python3.10
    elif [ -x "${PYENV_ROOT:-$HOME/.pyenv}/versions/3.10.13/bin/python" ]; then
        echo "${PYENV_ROOT:-$HOME/.pyenv}/versions/3.10.13/bin/python"
    else
        ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10.*/bin/python 2>/dev/null | tail -1
    fi
}

run_lane() {
    local name=$1 python=$2
    shift 2
    local venv=".venv-compat-$name" started=$SECONDS
    [ -n "$python" ] || { echo "compat $name: no Python interpreter found" >&2; return 1; }
    mkdir -p .logs
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    echo "== compat $name: installing $* on $("$venv/bin/python" -V) (log: .logs/compat-$name.log)"
    install_into "$venv" ".logs/compat-$name.log" --upgrade -e . "$@" \
        "pytest>=8" "pytest-xdist>=3.5" "scikit-learn>=1.3" "pandas>=2.0" "dvclive>=3.40" \
        "cryptography>=41"
    "$venv/bin/python" -c 'import dvc, mlflow, sys; print(f"   dvc {dvc.__version__}, mlflow {mlflow.__version__}, python {sys.version.split()[0]}")'
    local installed=$((SECONDS - started))
    "$venv/bin/python" -m compileall -q src  # as scripts/test.sh does, for this Python
    # The venv's own `dvflow` and `dvc` come first on PATH for the tests' subprocesses.
    PATH="$PWD/$venv/bin:$PATH" "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        -n "${DVFLOW_TEST_WORKERS:-2}" "${SUBSET[@]}"
    echo "== compat $name: passed (install ${installed}s, total $((SECONDS - started))s)"
}

# shellcheck source=scripts/install.sh
source scripts/install.sh
# shellcheck source=scripts/git-identity.sh
source scripts/git-identity.sh
give_git_an_identity "dvflow tests" "tests@dvflow.invalid"

lanes=("$@")
[ ${#lanes[@]} -gt 0 ] || lanes=(oldest newest)
for lane in "${lanes[@]}"; do
    case "$lane" in
        oldest) run_lane oldest "${DVFLOW_COMPAT_OLDEST_PYTHON:-$(find_python310)}" "${OLDEST_PINS[@]}" ;;
        newest) run_lane newest "${DVFLOW_COMPAT_NEWEST_PYTHON:-python3}" "${NEWEST_PINS[@]}" ;;
        *) echo "unknown lane '$lane' (oldest or newest)" >&2; exit 2 ;;
    esac
done
