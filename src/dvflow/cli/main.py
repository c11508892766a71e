"""The ``dvflow`` entry point: the command group and the one place errors become exit
codes (see ``dvflow.errors``). ``dvflow --help`` and ``--version`` import neither
mlflow nor dvc."""

from __future__ import annotations

import os
import sys
import traceback

import click

from dvflow import __version__
from dvflow.cli import verbosity
from dvflow.errors import (
    DVC_CONFIG_ERROR_EXIT_CODE,
    DVC_INTERRUPTED_EXIT_CODE,
    DVC_NOT_A_REPO_EXIT_CODE,
    DvflowError,
    explain,
    one_line,
)

_LAZY_COMMANDS = {
    # name: (module, attribute, one-line help)
    "commit": (
        "dvflow.cli.commit",
        "commit_command",
        "Commit code, params, dvc.lock and .dvc files together; bind runs; push DVC then git.",
    ),
    "checkout": (
        "dvflow.cli.checkout",
        "checkout_command",
        "Restore a run's exact code and data (into a new worktree), and verify them.",
    ),
    "config": (
        "dvflow.cli.config",
        "config_command",
        "Read or write a setting (--local: the git-ignored per-user file), as 'dvc config'.",
    ),
    "demo": (
        "dvflow.cli.demo",
        "demo_command",
        "Create an example project, run it twice with a changed parameter, compare the runs.",
    ),
    "doctor": (
        "dvflow.cli.doctor",
        "doctor_command",
        "Check the project against the guide's practices (--fix repairs the safe ones).",
    ),
    "diff": (
        "dvflow.cli.diff",
        "diff_command",
        "Show what differs between two runs: code, params, data, environment, metrics.",
    ),
    "exp": (
        "dvflow.cli.exp",
        "exp_group",
        "DVC experiments as MLflow runs: 'dvflow exp sync' records every experiment and commit.",
    ),
    "init": (
        "dvflow.cli.init",
        "init_command",
        "Create a new dvflow project, or adopt an existing one with --here.",
    ),
    "register": (
        "dvflow.cli.register",
        "register_command",
        "Register a DVC-tracked model as an MLflow model version (gated on its lineage).",
    ),
    "registry": (
        "dvflow.cli.register",
        "registry_group",
        "Registered models: 'registry fetch models:/NAME/1' gets one through DVC.",
    ),
    "reproduce": (
        "dvflow.cli.reproduce",
        "reproduce_command",
        "Run a run's pipeline again from its exact code and data; say if it reproduced.",
    ),
    "repro": (
        "dvflow.cli.repro",
        "repro_command",
        "Run the DVC pipeline and record every stage in MLflow.",
    ),
    "sync": (
        "dvflow.cli.sync",
        "sync_command",
        "Upload the runs spooled while the tracking store could not be written (--status).",
    ),
    "ui": (
        "dvflow.cli.ui",
        "ui_command",
        "Start MLflow's UI on the project's tracking store (on 127.0.0.1).",
    ),
    "runs": (
        "dvflow.cli.runs",
        "runs_command",
        "List recorded runs, newest first: by stage, data version, commit or status.",
    ),
    "show": (
        "dvflow.cli.show",
        "show_command",
        "Show one run's code, params, data, metrics and stages, and whether it can be restored.",
    ),
    "snapshot": (
        "dvflow.cli.snapshot",
        "snapshot_command",
        "Show the code, data, params and environment a run would record now.",
    ),
}


class LazyGroup(click.Group):
    """Import a command's module only when that command runs (fast --help)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_LAZY_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _LAZY_COMMANDS:
            return None
        import importlib

        module, attr, _ = _LAZY_COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(module), attr)
        # Every command takes -v/-q, as every DVC command does.
        return verbosity.add_options(command)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _LAZY_COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dvflow")
def cli() -> None:
    """dvflow: DVC pipelines recorded in MLflow with their exact code, data and params."""


cli.params.extend(verbosity.options())


def _dvc_error_class(module_name: str, name: str) -> type[BaseException] | None:
    # Only if dvc was imported by the command: never import it just to map errors.
    module = sys.modules.get(module_name)
    found = getattr(module, name, None) if module else None
    return found if isinstance(found, type) else None


def _dvc_exit_code(exc: BaseException) -> int | None:
    """DVC's own exit code for one of DVC's errors (dvc/cli/__init__.py), else None."""
    for module, name, code in (
        ("dvc.config", "ConfigError", DVC_CONFIG_ERROR_EXIT_CODE),
        ("dvc.exceptions", "NotDvcRepoError", DVC_NOT_A_REPO_EXIT_CODE),
    ):
        error = _dvc_error_class(module, name)
        if error is not None and isinstance(exc, error):
            return code
    return None


def _is_store_error(exc: BaseException) -> bool:
    # Only the classes of modules the command imported: never import them to map errors.
    classes = [
        getattr(sys.modules.get(module), name, None)
        for module, name in (
            ("mlflow.exceptions", "MlflowException"),
            ("sqlalchemy.exc", "SQLAlchemyError"),
            ("sqlite3", "Error"),
        )
    ]
    return any(cls is not None and isinstance(exc, cls) for cls in classes)


def _exit(code: int) -> None:
    """Exit with ``code``; skip the interpreter's teardown once mlflow is loaded.

    A process that imported mlflow spends about a second tearing it down (atexit
    handlers, SQLAlchemy engines, module finalisation) after dvflow's work is done and
    every run is closed; ``dvflow repro`` must not cost that much more than ``dvc
    repro``.
    """
    if "mlflow" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _fail(message: str, code: int, verbose: bool) -> None:
    """One line on stderr (the traceback before it with --verbose), then exit ``code``."""
    if verbose:
        traceback.print_exc()
    click.echo(f"dvflow: error: {message}", err=True)
    _exit(code)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with the documented code (docs/cli.md)."""
    args = sys.argv[1:] if argv is None else argv
    verbosity.reset()
    try:
        cli.main(args=args, prog_name="dvflow", standalone_mode=False)
    except DvflowError as exc:
        _fail(exc.message, exc.exit_code, verbosity.wants_traceback(args))
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("dvflow: interrupted", err=True)
        _exit(DVC_INTERRUPTED_EXIT_CODE)
    except click.ClickException as exc:
        exc.show()
        _exit(exc.exit_code)
    except Exception as exc:
        verbose = verbosity.wants_traceback(args)
        dvc_code = _dvc_exit_code(exc)
        if dvc_code is not None:
            _fail(f"{one_line(exc)}. Fix it and run the command again.", dvc_code, verbose)
        dvc_error = _dvc_error_class("dvc.exceptions", "DvcException")
        if dvc_error is not None and isinstance(exc, dvc_error):
            _fail(f"{explain(exc)}. Fix it and run the command again.", 5, verbose)
        if _is_store_error(exc):
            from dvflow.tracking.store import describe_failure

            # The documented code of a store that fails, whichever layer let it escape.
            _fail(f"the MLflow tracking store failed: {describe_failure(exc)}", 4, verbose)
        # A defect of dvflow's own: still one line, and the way to see more.
        _fail(
            f"internal error: {type(exc).__name__}: {one_line(exc)} "
            "(run with --verbose for the traceback, and please report it)",
            1,
            verbose,
        )
    _exit(0)
