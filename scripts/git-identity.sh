# shellcheck shell=bash
# Sourced by scripts/test.sh and scripts/demo.sh. Commits made by the tests and the demo
# need a git identity; on a fresh machine git has none. Give one to this shell's
# processes through the environment, never by writing the user's git configuration,
# and only for what git has not configured (globally or system-wide: a new repository
# sees nothing else).
#
# Usage: give_git_an_identity NAME EMAIL
give_git_an_identity() {
    if ! git config --global user.name >/dev/null 2>&1 &&
        ! git config --system user.name >/dev/null 2>&1; then
        export GIT_AUTHOR_NAME="${GIT_AUTHOR_NAME:-$1}"
        export GIT_COMMITTER_NAME="${GIT_COMMITTER_NAME:-$1}"
    fi
    if ! git config --global user.email >/dev/null 2>&1 &&
        ! git config --system user.email >/dev/null 2>&1; then
        export GIT_AUTHOR_EMAIL="${GIT_AUTHOR_EMAIL:-$2}"
        export GIT_COMMITTER_EMAIL="${GIT_COMMITTER_EMAIL:-$2}"
    fi
}
