"""Keeping secrets out of everything dvflow records.

A credential never reaches MLflow. ``redact_text`` replaces, in any free text (a patch,
a stage's stderr, a command, a requirements file):

- the current value of every secret-looking environment variable, wherever it appears
  (values of at least ``MIN_SECRET_VALUE_LENGTH`` characters: shorter ones are words);
- ``user:password@`` in URLs;
- ``Authorization:`` headers and ``Bearer`` tokens;
- the value of a secret-looking key in config-like text (``password = x``,
  ``token: x``, ``export API_KEY=x``, ``"client_secret": "x"``, ``?token=x``);
- private-key blocks and credentials of well-known shapes (``AKIA...``, ``ghp_...``).

Every pattern is matched in time linear in the text (10 MB in well under a second): a
pattern may only start where a word starts, and never rescans what it consumed.
Environment variables whose names look secret are left out of the environment record
(their names included), and credential files out of ``git.diff``, by name and content.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REDACTED = "[REDACTED]"
# A secret-looking variable's value is redacted wherever it appears only from this
# length on: "true", "1" or "dev" would erase ordinary words.
MIN_SECRET_VALUE_LENGTH = 6

_SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|AUTH|SESSION|COOKIE|PRIVATE", re.IGNORECASE
)
# Variables whose names match _SECRET_NAME but whose values are not secrets, and are
# words or paths that redacting everywhere would mangle (XDG_SESSION_DESKTOP=ubuntu).
_NOT_SECRET_NAME = re.compile(
    r"^(XDG_SESSION_\w+|DBUS_SESSION_BUS_ADDRESS|SSH_AUTH_SOCK|GPG_AGENT_INFO|"
    r"SESSION_MANAGER|\w*KEYBOARD\w*|\w*KEYMAP\w*|\w*_KEY_?(FILE|PATH))$",
    re.IGNORECASE,
)

# Redaction is driven by literal hits: each literal below is found with one fast scan
# of the lower-cased text, and only the few characters around a hit are examined, with
# anchored patterns. Nothing is rescanned: a pattern allowed to start anywhere made
# 200k characters take 31 s.
_LITERALS = (
    "://", "authorization", "bearer", "pass", "pwd", "secret", "token", "key",
    "credential", "auth", "sas", "sig", "connection", "-----begin", "akia",
    "github_pat_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "xox", "sk-", "aiza", "glpat-",
)  # fmt: skip
_FINDERS = [(literal, re.compile(re.escape(literal))) for literal in _LITERALS]
# A value longer than this is redacted up to here (bounds the work per hit).
_MAX_VALUE = 65_536
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789+.-")
_USERINFO = re.compile(r"[^/?#\s]{0,65536}@")
_AUTHORIZATION_VALUE = re.compile(
    r"[\"']?[ \t]*[:=][ \t]*[\"']?(?:(?:bearer|basic|token|digest|negotiate)[ \t]+)?"
    r"([^\s\"',;]{1,65536})"
)
_BEARER_VALUE = re.compile(r"[ \t]+([a-z0-9._~+/=-]{4,65536})")
# After a secret-looking key: the separator and the value (one quoted string or word).
_SEPARATOR_VALUE = re.compile(
    r"[\"']?[ \t]*(?:=(?!=)|:(?![:/]))[ \t]*"
    r"(?P<value>\"[^\"\n]{0,4096}\"|'[^'\n]{0,4096}'|[^\s\"',;&]{1,65536})?"
)
# Words that end a secret key, and what must come before them. `pass`, `pwd`, `auth`,
# `sas` and `sig` must start the key or follow a separator (not `bypass`, `oauth`);
# `key` must follow api/access/private/account/secret; tokenizer settings
# (`pad_token`) are not secrets.
_KEY_WORDS = re.compile(
    r"password|passwd|passphrase|secret|credentials?|connection[_-]?string|token|"
    r"(?<=api)key|(?<=api[_-])key|(?<=access)key|(?<=access[_-])key|(?<=private)key|"
    r"(?<=private[_-])key|(?<=account)key|(?<=account[_-])key|(?<=secret)key|"
    r"(?<=secret[_-])key|(?<![a-z0-9])(?:pass|pwd|auth|sas|sig)"
)
# Cheap first test of a hit: the characters that may follow a key.
_AFTER_KEY = frozenset("\"' \t:=")
_WORD_LENGTHS = {"pa": 4, "pw": 3, "se": 6, "cr": 10, "co": 10, "to": 5, "ke": 3}
_WORD_LENGTHS.update({"au": 4, "sa": 3, "si": 3})
_NOT_SECRET_TOKENS = ("pad_", "eos_", "bos_", "unk_", "cls_", "sep_", "mask_")
# What may come before a key at the start of a config line: a diff marker, indentation,
# `export`, an opening quote. The value is then the rest of the line.
_LINE_LEAD = re.compile(r"[+\- ]?[ \t]*(?:export[ \t]+)?[\"']?")
_QUOTED = re.compile(r"([\"'])(.*)\1,?")
# Credentials of well-known shapes, after their literal prefix (prefix -> rest).
_SHAPES = {
    "akia": re.compile(r"[0-9a-z]{16}"),
    "github_pat_": re.compile(r"\w{20,200}"),
    "ghp_": re.compile(r"[a-z0-9]{30,200}"),
    "xox": re.compile(r"[abprs]-[\w-]{10,200}"),
    "sk-": re.compile(r"[a-z0-9_-]{20,200}"),
    "aiza": re.compile(r"[0-9a-z_-]{35}"),
    "glpat-": re.compile(r"[\w-]{20,200}"),
    # A private-key block, bounded: a header without its footer ends the match there.
    "-----begin": re.compile(
        r" [a-z0-9 ]{0,40}private key-----(?:[^-]{0,20000}-----end [a-z0-9 ]{0,40}"
        r"private key-----)?"
    ),
}
for _prefix in ("gho_", "ghu_", "ghs_", "ghr_"):
    _SHAPES[_prefix] = _SHAPES["ghp_"]
_CREDENTIAL_CONTENT = re.compile(
    r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----|PuTTY-User-Key-File-\d|"
    r"\"type\"[ \t]*:[ \t]*\"service_account\"|\"private_key(?:_id)?\"[ \t]*:"
)
# The only character whose lower case is two characters long (İ): replaced before
# lower-casing, so that positions in the lower-cased text are positions in the text.
_LONG_LOWER = str.maketrans({"\u0130": "i"})


# Files that hold credentials by convention, matched on the file's exact name (never a
# substring: `*token*` would drop `tokenizer.py`, `*secret*` would drop `secret_sharing.py`).
CREDENTIAL_FILE_NAMES = (
    ".env",
    ".env.*",
    ".envrc",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.keystore",
    "*.jks",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    ".pypirc",
    ".npmrc",
    ".git-credentials",
    "credentials",
    "credentials.json",
    "service-account*.json",
)
# DVC keeps remote credentials in .dvc/config.local (`dvc remote modify --local`).
CREDENTIAL_FILE_PATHS = (".dvc/config.local",)


def is_credential_file(path: str) -> bool:
    """Whether a file (a ``/``-separated path) holds credentials by convention.

    >>> is_credential_file("deploy/.env"), is_credential_file("src/tokenizer.py")
    (True, False)
    """
    name = path.rsplit("/", 1)[-1]
    if any(fnmatchcase(name, pattern) for pattern in CREDENTIAL_FILE_NAMES):
        return True
    return any(path == p or path.endswith(f"/{p}") for p in CREDENTIAL_FILE_PATHS)


def is_credential_content(text: str) -> bool:
    """Whether a file's text is a credential whatever its name: a private key, a
    service-account JSON.

    >>> is_credential_content('{"type": "service_account", "project_id": "p"}')
    True
    """
    return _CREDENTIAL_CONTENT.search(text) is not None


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name looks like it holds a secret."""
    return bool(_SECRET_NAME.search(name))


def secret_values(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The values of the secret-looking variables of ``environ`` (default: this
    process's), longest first, that are long enough to be redacted wherever they appear.
    """
    environ = os.environ if environ is None else environ
    found = {
        value
        for name, value in environ.items()
        if len(value) >= MIN_SECRET_VALUE_LENGTH
        and is_secret_name(name)
        and not _NOT_SECRET_NAME.match(name)
    }
    return tuple(sorted(found, key=len, reverse=True))


def strip_credentials(url: str) -> str:
    """Remove ``user:password@`` (or a bare token as user) from a URL.

    >>> strip_credentials("https://bob:s3cret@github.com/acme/repo.git")
    'https://github.com/acme/repo.git'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return _strip_userinfo(url)
    if parts.scheme and (parts.username or parts.password):
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return _strip_userinfo(url)


def _lower(text: str) -> str:
    return (text.translate(_LONG_LOWER) if "\u0130" in text else text).lower()


def _strip_userinfo(text: str) -> str:
    return _replace(text, [s for s in _secrets(_lower(text)) if s[2] == ""])


def _word_before(low: str, pos: int) -> bool:
    return pos > 0 and (low[pos - 1].isalnum() or low[pos - 1] in "_-")


def _url(low: str, pos: int) -> tuple[int, int, str] | None:
    if pos == 0 or low[pos - 1] not in _SCHEME_CHARS:
        return None
    match = _USERINFO.match(low, pos + 3)
    return (pos + 3, match.end(), "") if match else None


def _after(pattern: re.Pattern[str], low: str, pos: int) -> tuple[int, int, str] | None:
    match = pattern.match(low, pos)
    return (*match.span(1), REDACTED) if match else None


def _shape(literal: str, low: str, pos: int) -> tuple[int, int, str] | None:
    if literal != "-----begin" and _word_before(low, pos):
        return None
    match = _SHAPES[literal].match(low, pos + len(literal))
    return (pos, match.end(), REDACTED) if match else None


def _pair(low: str, pos: int) -> tuple[int, int, str] | None:
    """The secret of ``<key> = <value>`` where the key ends with a secret word at
    ``pos``: the rest of the line when the key starts a config line, else one word or
    quoted string."""
    end = pos + _WORD_LENGTHS.get(low[pos : pos + 2], 0)
    if low.startswith(("word", "wd"), end):
        end += 4 if low[end] == "w" and low[end + 1] == "o" else 2
    elif low.startswith(("phrase", "s"), end):
        end += 6 if low[end] == "p" else 1
    elif low.startswith(("string", "_string", "-string"), end):
        end += 6 if low[end] == "s" else 7
    if low[end : end + 1] not in _AFTER_KEY:
        return None  # most hits: `keys`, `tokenizer`, `passes`
    word = _KEY_WORDS.match(low, pos)
    if word is None or (word.group() == "token" and low.endswith(_NOT_SECRET_TOKENS, 0, pos)):
        return None
    match = _SEPARATOR_VALUE.match(low, word.end())
    if match is None:
        return None
    key_start, floor = pos, max(0, pos - 128)
    while key_start > floor and (low[key_start - 1].isalnum() or low[key_start - 1] in "_.-"):
        key_start -= 1
    newline = low.rfind("\n", max(0, key_start - 64), key_start)
    line_start = newline + 1 if newline >= 0 else (0 if key_start <= 64 else -1)
    value = match.group("value")
    value_start = match.end() - len(value or "")
    if line_start >= 0 and _LINE_LEAD.fullmatch(low, line_start, key_start):
        line_end = low.find("\n", value_start, value_start + _MAX_VALUE)
        value = low[value_start : value_start + _MAX_VALUE if line_end < 0 else line_end]
        value = value.rstrip()
    if not value:
        return None
    quoted = _QUOTED.fullmatch(value)
    if quoted:
        return value_start + 1, value_start + 1 + len(quoted.group(2)), REDACTED
    return value_start, value_start + len(value), REDACTED


def _secret(literal: str, low: str, pos: int) -> tuple[int, int, str] | None:
    if literal == "://":
        return _url(low, pos)
    if literal == "authorization":
        return None if _word_before(low, pos) else _after(_AUTHORIZATION_VALUE, low, pos + 13)
    if literal == "bearer":
        return None if _word_before(low, pos) else _after(_BEARER_VALUE, low, pos + 6)
    if literal in _SHAPES:
        return _shape(literal, low, pos)
    return _pair(low, pos)


def _secrets(low: str) -> list[tuple[int, int, str]]:
    """(start, end, replacement) of every credential in ``low``, in order, disjoint."""
    hits = sorted(
        (match.start(), literal) for literal, finder in _FINDERS for match in finder.finditer(low)
    )
    found: list[tuple[int, int, str]] = []
    done = 0
    for pos, literal in hits:
        if pos < done:
            continue  # inside a secret already found
        secret = _secret(literal, low, pos)
        if secret is not None and secret[1] > secret[0]:
            found.append(secret)
            done = secret[1]
    return found


def _replace(text: str, found: list[tuple[int, int, str]]) -> str:
    parts, done = [], 0
    for start, end, replacement in found:
        parts += [text[done:start], replacement]
        done = end
    parts.append(text[done:])
    return "".join(parts)


def redact_text(text: str, values: tuple[str, ...] | None = None) -> str:
    """Remove every credential dvflow can recognise from a free text.

    ``values`` are the secret values to redact wherever they appear (default: those of
    this process's secret-looking environment variables, see ``secret_values``).

    >>> redact_text("pushed to s3://key:secret@bucket/x and https://t@h/y")
    'pushed to s3://bucket/x and https://h/y'
    >>> redact_text("db_password = hunter2 2\\nAuthorization: Bearer abc.def", ())
    'db_password = [REDACTED]\\nAuthorization: Bearer [REDACTED]'
    """
    for value in secret_values() if values is None else values:
        if value in text:
            text = text.replace(value, REDACTED)
    found = _secrets(_lower(text))
    return _replace(text, found) if found else text


def is_secret_key(key: str) -> bool:
    """Whether a config or params key (its last dotted part) names a secret.

    >>> is_secret_key("db.password"), is_secret_key("tokenizer"), is_secret_key("pad_token")
    (True, False, False)
    """
    last = re.split(r"[.:]", key)[-1].lower()
    return any(
        _pair(f"{last}=x", match.start()) is not None
        for match in _KEY_WORDS.finditer(last)
        if match.end() == len(last)
    )


def redact_data(data: Any, values: tuple[str, ...] | None = None) -> Any:
    """``data`` (JSON-like: mappings, lists, strings) with ``redact_text`` applied to every
    string, and the value of every secret-looking key replaced."""
    values = secret_values() if values is None else values
    if isinstance(data, str):
        return redact_text(data, values)
    if isinstance(data, Mapping):
        return {
            key: (
                REDACTED
                if isinstance(key, str) and is_secret_key(key) and isinstance(value, str | int)
                else redact_data(value, values)
            )
            for key, value in data.items()
        }
    if isinstance(data, list | tuple):
        return [redact_data(item, values) for item in data]
    return data


def safe_variables(environ: Mapping[str, str], prefixes: tuple[str, ...]) -> dict[str, str]:
    """The variables whose names start with one of ``prefixes``, minus secret-looking ones,
    with credentials stripped from any URL in their values."""
    values = secret_values(environ)
    return {
        name: redact_text(value, values)
        for name, value in sorted(environ.items())
        if name.startswith(prefixes) and not is_secret_name(name)
    }
