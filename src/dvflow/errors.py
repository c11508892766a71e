"""The one exception hierarchy of dvflow, and the exit codes the CLI maps it to.

Every error says what happened and what to do next, in one line. The CLI prints
``message`` and exits with ``exit_code``; a traceback is shown only with ``--verbose``.

Exit codes (documented in docs/cli.md):

==== =====================================================
0    success
1    any other dvflow error
2    bad usage (unknown option, missing argument)
3    not inside a git repository
4    the MLflow tracking store cannot be reached or created
5    bad project input (dvc.yaml, params, targets, dvflow's config)
7    ``dvflow reproduce``: the run did not reproduce
8    ``dvflow checkout``: a run's code or data could not be restored or verified
9    ``dvflow checkout``: refused, it would overwrite the user's work
10   ``dvflow register``: refused, the model's lineage could not be rebuilt by a teammate
251  DVC's configuration is invalid (DVC's own code)
252  interrupted: Ctrl-C or SIGTERM (DVC's own code)
253  not inside a DVC project (DVC's own code)
255  ``dvflow repro``: a stage failed (DVC's own code)
==== =====================================================

Where the condition is DVC's, the code is the one ``dvc`` returns for it
(``dvc/cli/__init__.py``), so that scripts written for ``dvc repro`` keep working.
"""

from __future__ import annotations


def one_line(text: object, *, last: bool = False) -> str:
    """The first (or last) non-blank line of ``text``: error messages stay one line.

    >>> one_line("failed\\n  details")
    'failed'
    >>> one_line("\\nfailed\\n  details: disk full\\n", last=True)
    'details: disk full'
    """
    lines = [line.strip() for line in str(text).splitlines() if line.strip()] or [""]
    return lines[-1] if last else lines[0]


def explain(exc: BaseException, limit: int = 600) -> str:
    """An error and its causes as one line: every line of DVC's message that says
    something (which key, which stage, which file), without its code excerpts.

    >>> explain(ValueError("'dvc.yaml' validation failed.\\n\\nextra keys, line 4\\n  4 │ x"))
    "'dvc.yaml' validation failed: extra keys, line 4"
    """
    parts: list[str] = []
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        for line in str(cause).splitlines():
            line = line.strip().rstrip(".")
            if line and "│" not in line and line not in parts and not any(line in p for p in parts):
                parts.append(line)
        cause = cause.__cause__
    text = ": ".join(parts) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


class DvflowWarning(UserWarning):
    """Best-effort metadata that could not be read; the run goes on without it."""


class DvflowError(Exception):
    """Base of every error dvflow raises on purpose."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# DVC's own exit codes (dvc/cli/__init__.py), returned where the condition is DVC's.
DVC_CONFIG_ERROR_EXIT_CODE = 251
DVC_INTERRUPTED_EXIT_CODE = 252
DVC_NOT_A_REPO_EXIT_CODE = 253
DVC_FAILURE_EXIT_CODE = 255


class NotAProjectError(DvflowError):
    """The folder is not inside a git repository or DVC project (exit 253 for a DVC
    project, as ``dvc`` returns outside one)."""

    exit_code = 3

    def __init__(self, path: str, what: str = "git repository") -> None:
        hint = "Run 'git init' and 'dvc init' there, or 'dvflow init' to create a project."
        super().__init__(f"{path} is not inside a {what}. {hint}")
        if "DVC" in what:
            self.exit_code = DVC_NOT_A_REPO_EXIT_CODE


class TrackingStoreError(DvflowError):
    """The MLflow tracking store cannot be reached, created or written."""

    exit_code = 4

    def __init__(self, uri: str, reason: str) -> None:
        super().__init__(
            f"cannot use the MLflow tracking store {uri}: {reason}. "
            "Check MLFLOW_TRACKING_URI or 'tracking_uri' in .dvflow/config.yaml."
        )


class StoreUnreachableError(TrackingStoreError):
    """A tracking server that does not answer at all (no connection, a time-out): the
    one store error ``dvflow repro`` survives, by spooling its records."""


class ProjectInputError(DvflowError):
    """dvc.yaml, params files, or the targets named on the command line are wrong."""

    exit_code = 5


class ConfigError(DvflowError):
    """dvflow's own configuration file or environment is wrong."""

    exit_code = 5


class PipelineFailedError(DvflowError):
    """A stage command failed; the exit code is DVC's own."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class InterruptedRunError(DvflowError):
    """The user pressed Ctrl-C or the process got SIGTERM (DVC's code for it)."""

    exit_code = DVC_INTERRUPTED_EXIT_CODE

    def __init__(self, recording: str = "the open MLflow runs were ended as KILLED") -> None:
        super().__init__(f"interrupted: {recording}.")


class NotReproducedError(DvflowError):
    """``dvflow reproduce`` ran the pipeline again and got other outputs or metrics."""

    exit_code = 7


class RestoreError(DvflowError):
    """``dvflow checkout`` could not restore a run's code or data, or not verify it."""

    exit_code = 8


class RestoreRefusedError(DvflowError):
    """Restoring would overwrite the user's work (a non-empty folder, a dirty tree)."""

    exit_code = 9


class ProjectBusyError(DvflowError):
    """Another DVC process holds the project's lock; nothing was run nor recorded."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
