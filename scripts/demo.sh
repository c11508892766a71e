#!/usr/bin/env bash
# The demo on a fresh machine: install dvflow in .venv, then `dvflow demo` creates an
# example project in ./demo, runs its pipeline twice (a parameter changed in between)
# and compares the two runs, all tracked in an embedded SQLite store.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${DVFLOW_VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# shellcheck disable=SC1091
source "$venv/bin/activate"
echo "installing dvflow (log: .logs/install.log)"
# shellcheck source=scripts/install.sh
source scripts/install.sh
install_into "$venv" .logs/install.log -e ".[demo]"
# The demo makes git commits: an identity through the environment if git has none.
# shellcheck source=scripts/git-identity.sh
source scripts/git-identity.sh
give_git_an_identity "dvflow demo" "demo@dvflow.invalid"

dvflow demo "${1:-demo}"
