"""Printing results: human text, or JSON with ``--json``."""

from __future__ import annotations

import json
from typing import Any

import click


def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def json_option(func: Any) -> Any:
    """The ``--json`` flag every read command has."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(func)
