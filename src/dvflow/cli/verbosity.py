"""``-v/--verbose`` and ``-q/--quiet`` on every command, with DVC's meaning.

As in DVC (``dvc/cli/__init__.py``): ``-v`` shows DVC's debug log and the traceback of
an error, ``-vv`` DVC's trace log; ``-q`` shows only errors (DVC's log at CRITICAL, no
summary, no warnings). Stage commands still write to the terminal, as under ``dvc -q
repro``, and ``--json`` output is still printed: it was asked for. Both options go
before or after the command name: ``dvflow -v repro`` and ``dvflow repro -v``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import click

from dvflow import env


@dataclass
class Verbosity:
    """How much this invocation shows: counts of ``-v`` and ``-q``."""

    verbose: int = 0
    quiet: int = 0

    @property
    def dvc_level(self) -> int | None:
        """The level DVC's loggers get, as ``dvc`` sets it; None leaves DVC's default."""
        if self.quiet:
            return logging.CRITICAL
        if self.verbose == 1:
            return logging.DEBUG
        if self.verbose > 1:
            return 5  # DVC's TRACE level (dvc.logger.TRACE)
        return None


_current = Verbosity()


def current() -> Verbosity:
    """The verbosity of the running invocation."""
    return _current


def reset() -> None:
    """Back to the defaults (a new invocation in the same process)."""
    _current.verbose = _current.quiet = 0


def _count(attribute: str) -> Callable[[click.Context, click.Parameter, int], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: int) -> None:
        setattr(_current, attribute, getattr(_current, attribute) + (value or 0))

    return callback


def options() -> list[click.Option]:
    """The two options, for the group and for every command."""
    return [
        click.Option(
            ["-v", "--verbose"],
            count=True,
            expose_value=False,
            callback=_count("verbose"),
            help="Be verbose: DVC's debug log, tracebacks of errors (-vv: trace).",
        ),
        click.Option(
            ["-q", "--quiet"],
            count=True,
            expose_value=False,
            callback=_count("quiet"),
            help="Be quiet: only errors (and --json output) are printed.",
        ),
    ]


def add_options(command: click.Command) -> click.Command:
    """Give ``command`` ``-v`` and ``-q`` (once), applied when it runs."""
    if any(param.name == "verbose" for param in command.params):
        return command
    command.params.extend(options())
    if command.callback is not None:
        command.callback = _applied(command.callback)
    return command


def _applied(callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        with applied(json_output=bool(kwargs.get("as_json"))):
            return callback(*args, **kwargs)

    return run


@contextlib.contextmanager
def applied(json_output: bool = False) -> Iterator[None]:
    """Apply the verbosity while a command runs: DVC's log level, and with ``-q`` this
    process's own stdout silenced (not the stage commands': they write to the
    terminal themselves, as under ``dvc -q repro``)."""
    with contextlib.ExitStack() as stack:
        level = _current.dvc_level
        if level is not None:
            stack.enter_context(_dvc_log_level(level))
        if _current.quiet:
            # Only errors from this process's logging: DVC's, MLflow's and alembic's
            # (MLflow 3.0 announces its table checks at INFO on every store it opens).
            logging.disable(logging.WARNING)
            stack.callback(logging.disable, logging.NOTSET)
            # ... and the recorder process's (dvflow repro), which opens the store too.
            stack.enter_context(_environ(env.DVFLOW_QUIET, "1"))
        if _current.quiet and not json_output:
            devnull = stack.enter_context(open(os.devnull, "w", encoding="utf-8"))  # noqa: PTH123
            stack.enter_context(contextlib.redirect_stdout(devnull))
        yield


@contextlib.contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


@contextlib.contextmanager
def _dvc_log_level(level: int) -> Iterator[None]:
    # Importing DVC sets up its loggers (and their INFO level): import it first, and
    # only when -v or -q asked for it (dvflow --help never imports DVC).
    import dvc.logger

    with dvc.logger.set_loggers_level(level):
        yield


def is_quiet() -> bool:
    """Whether ``-q`` was given: warnings and summaries are not printed."""
    return _current.quiet > 0


def wants_traceback(args: list[str]) -> bool:
    """Whether an error should show its traceback (``-v``), also when it happened
    before the options were parsed."""
    return _current.verbose > 0 or any(
        arg == "--verbose" or (arg.startswith("-v") and set(arg[1:]) == {"v"}) for arg in args
    )
