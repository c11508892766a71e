"""dvflow's project template (``templates/project``): its files, filled in.

``templates/README.md`` documents the template and its two tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from dvflow.errors import DvflowError

if TYPE_CHECKING:
    from importlib.abc import Traversable

NAME_TOKEN = "__PROJECT_NAME__"
REQUIREMENTS_TOKEN = "__REQUIREMENTS__"


def template_files() -> Iterator[tuple[str, bytes]]:
    """Every file of the template as (relative path with ``/``, bytes)."""

    def walk(folder: Traversable, prefix: str) -> Iterator[tuple[str, bytes]]:
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name == "__pycache__" or entry.name.endswith(".pyc"):
                continue  # left behind if the template's own tests ran in place
            if entry.is_dir():
                yield from walk(entry, f"{prefix}{entry.name}/")
            else:
                yield f"{prefix}{entry.name}", entry.read_bytes()

    yield from walk(template_root(), "")


def template_file(relative: str) -> bytes:
    """The bytes of one template file (before its tokens are filled)."""
    return (template_root() / relative).read_bytes()


def template_root() -> Traversable:
    """The template's folder inside the installed package."""
    from importlib.resources import files

    return files("dvflow.apps") / "templates" / "project"


def fill_tokens(relative: str, data: bytes, tokens: dict[str, str]) -> bytes:
    """``data`` with every token replaced; a token left over is a bug in dvflow."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data  # a binary file has no tokens
    for token, value in tokens.items():
        text = text.replace(token, value)
    if any(token in text for token in tokens):
        raise DvflowError(f"a template token is left in {relative}: a bug in dvflow.")
    return text.encode("utf-8")


def append_patterns(target: Path, template: bytes) -> bool:
    """Append the template's ignore patterns that ``target`` lacks; whether any were."""
    existing = target.read_text(encoding="utf-8", errors="replace")
    present = {line.strip() for line in existing.splitlines()}
    missing = [
        line.strip()
        for line in template.decode("utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#") and line.strip() not in present
    ]
    if not missing:
        return False
    separator = "" if not existing else "\n" if existing.endswith("\n") else "\n\n"
    with target.open("a", encoding="utf-8") as file:
        file.write(separator + "# Added by dvflow init\n" + "\n".join(missing) + "\n")
    return True


def missing_params(params_file: Path) -> list[str]:
    """The starter pipeline's params that ``params_file`` does not define."""
    import yaml

    template = yaml.safe_load((template_root() / "params.yaml").read_text(encoding="utf-8"))
    try:
        own = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        own = None  # unreadable: every param counts as missing
    sections = own if isinstance(own, dict) else {}
    return [
        f"{section}.{key}"
        for section, values in template.items()
        for key in values
        if not isinstance(sections.get(section), dict) or key not in sections[section]
    ]


def pytest_imports_from_root(root: Path) -> bool:
    """Whether pytest, configured as in ``root``, imports ``src.<module>`` from ``root``.

    pytest reads the first of these files that configures it; the template's
    ``pyproject.toml`` sets ``pythonpath = ["."]``.
    """
    import configparser

    from dvflow.apps.requirements import read_toml

    for name, section in (
        ("pytest.ini", "pytest"),
        ("pyproject.toml", None),
        ("tox.ini", "pytest"),
        ("setup.cfg", "tool:pytest"),
    ):
        path = root / name
        if not path.is_file():
            continue
        if section is None:
            options = (read_toml(path) or {}).get("tool", {}).get("pytest", {}).get("ini_options")
            if options is None:
                continue  # pytest skips a pyproject.toml without its settings
            entries = options.get("pythonpath", [])
            paths = entries.split() if isinstance(entries, str) else list(entries)
        else:
            parser = configparser.ConfigParser()
            try:
                parser.read_string(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, configparser.Error):
                return False
            if not parser.has_section(section):
                continue
            paths = parser.get(section, "pythonpath", fallback="").split()
        return any(str(entry).strip().rstrip("/") == "." for entry in paths)
    return False
