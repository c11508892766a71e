"""The ``dvflow`` entry point: the command group and the one place errors become exit
codes (see ``dvflow.errors``). ``dvflow --help`` and ``--version`` import neither
mlflow nor dvc."""

from __future__ import annotations

import os
import sys
import traceback

import click

from dvflow import __version__
from dvflow.errors import DvflowError, one_line

_LAZY_COMMANDS = {
    # name: (module, attribute, one-line help)
    "commit": (
        "dvflow.cli.commit",
        "commit_command",
        "Commit code, params, dvc.lock and .dvc files together; bind runs; push DVC then git.",
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
    "init": (
        "dvflow.cli.init",
        "init_command",
        "Create a new dvflow project, or adopt an existing one with --here.",
    ),
    "repro": (
        "dvflow.cli.repro",
        "repro_command",
        "Run the DVC pipeline and record every stage in MLflow.",
    ),
    "ui": (
        "dvflow.cli.ui",
        "ui_command",
        "Start MLflow's UI on the project's tracking store (on 127.0.0.1).",
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
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _LAZY_COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dvflow")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks of errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """dvflow: DVC pipelines recorded in MLflow with their exact code, data and params."""
    ctx.obj = {"verbose": verbose}


def _dvc_error_class() -> type[BaseException] | None:
    # Only if dvc was imported by the command: never import it just to map errors.
    module = sys.modules.get("dvc.exceptions")
    return getattr(module, "DvcException", None) if module else None


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
    verbose = "-v" in args or "--verbose" in args
    try:
        cli.main(args=args, prog_name="dvflow", standalone_mode=False)
    except DvflowError as exc:
        _fail(exc.message, exc.exit_code, verbose)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("dvflow: interrupted", err=True)
        _exit(130)
    except click.ClickException as exc:
        exc.show()
        _exit(exc.exit_code)
    except Exception as exc:
        dvc_error = _dvc_error_class()
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
