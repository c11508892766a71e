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

Redaction takes time linear in the text (10 MB of config-like text in about 0.3 s,
``benchmarks/redaction.py``): every pattern starts with a literal, found by the regex
engine's fast search, and looks ahead only a bounded way (see ``_FINDERS``).
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

# Redaction is driven by literals. Each literal has one finder, a pattern that starts
# with the literal (found by the regex engine's fast literal search in the lower-cased
# text) and then checks in lookarounds, in C, what makes a hit a credential: no word
# before a prefix, a separator after a key, userinfo after `://`. Ordinary text
# (`keys`, `tokenizer`, `https://host/`) costs no Python at all, and a credential a few
# operations: 10 MB of config-like text take a fraction of a second. A finder consumes
# only its literal, as a plain search does (what follows may hold the next hit), and
# looks ahead only as far as no other hit of its own can start (a value is read in
# Python, for the hits outside a secret already found): nothing is rescanned (a
# pattern allowed to start anywhere once made 200k characters take 31 s). A lookbehind
# goes after its literal: before it, it would cost the fast search (10x).
_NOT_AFTER_WORD = r"(?<![\w-]LITERAL)"
# A value longer than this is redacted up to here (bounds the work per hit).
_MAX_VALUE = 65_536
# Credentials of well-known shapes: prefix -> the rest.
_SHAPES = {
    "akia": r"[0-9a-z]{16}",
    "github_pat_": r"\w{20,200}",
    "ghp_": r"[a-z0-9]{30,200}",
    "gho_": r"[a-z0-9]{30,200}",
    "ghu_": r"[a-z0-9]{30,200}",
    "ghs_": r"[a-z0-9]{30,200}",
    "ghr_": r"[a-z0-9]{30,200}",
    "xox": r"[abprs]-[\w-]{10,200}",
    "sk-": r"[a-z0-9_-]{20,200}",
    "aiza": r"[0-9a-z_-]{35}",
    "glpat-": r"[\w-]{20,200}",
}
# How a hit's secret is found: its span is the finder's group 1 (USERINFO, removed;
# SPAN), or runs from the literal to the group's end (WHOLE); or it is read after the
# literal (AUTHORIZATION, KEY).
_USERINFO, _SPAN, _WHOLE, _AUTHORIZATION, _KEY = range(5)
# Literal -> (what follows it, how its secret is found).
_OTHER_FINDERS = {
    # userinfo after a scheme: it holds no `/`, so no other `://`
    "://": (r"(?<=[a-z0-9+.\-]://)(?=([^/?#\s]{0,65536}@))", _USERINFO),
    "authorization": (_NOT_AFTER_WORD + r"(?=[\"']?[ \t]*[:=])", _AUTHORIZATION),
    # the token holds no space, so no other `bearer `
    "bearer": (_NOT_AFTER_WORD + r"(?=[ \t]+([a-z0-9._~+/=-]{4,65536}))", _SPAN),
    # A private-key block, bounded: a header without its footer ends the match there.
    "-----begin": (
        r"(?=( [a-z0-9 ]{0,40}private key-----(?:[^-]{0,20000}-----end [a-z0-9 ]{0,40}"
        r"private key-----)?))",
        _WHOLE,
    ),
    **{p: (_NOT_AFTER_WORD + f"(?=({rest}))", _WHOLE) for p, rest in _SHAPES.items()},
}
_AUTHORIZATION_VALUE = re.compile(
    r"[\"']?[ \t]*[:=][ \t]*[\"']?(?:(?:bearer|basic|token|digest|negotiate)[ \t]+)?"
    r"([^\s\"',;]{1,65536})"
)
# The words that end a secret key, by the literal they start with, and what must come
# before them. `pass`, `pwd`, `auth`, `sas` and `sig` must start the key or follow a
# separator (not `bypass`, `oauth`); `key` must follow api/access/private/account/secret;
# tokenizer settings (`pad_token`) are not secrets.
_SEPARATOR = r"[\"']?[ \t]*(?:=(?!=)|:(?![:/]))"
_KEY_OWNERS = (
    "(?:"
    + "|".join(
        f"(?<={owner}{joint}key)"
        for owner in ("api", "access", "private", "account", "secret")
        for joint in ("", "_", "-")
    )
    + ")"
)
_NOT_SECRET_TOKENS = ("pad_", "eos_", "bos_", "unk_", "cls_", "sep_", "mask_")
_KEY_WORDS = {
    "pass": r"pass(?:word|wd|phrase|(?<![a-z0-9]pass))",
    "secret": "secret",
    "credential": "credentials?",
    "connection": "connection[_-]?string",
    "token": "token" + "".join(f"(?<!{prefix}token)" for prefix in _NOT_SECRET_TOKENS),
    "key": "key" + _KEY_OWNERS,
    **{word: f"{word}(?<![a-z0-9]{word})" for word in ("pwd", "auth", "sas", "sig")},
}
# After a secret key: the separator, then the value (one quoted string or word).
_SEPARATOR_VALUE = re.compile(
    _SEPARATOR + r"[ \t]*(?P<value>\"[^\"\n]{0,4096}\"|'[^'\n]{0,4096}'|[^\s\"',;&]{1,65536})?"
)
_FINDERS: list[tuple[re.Pattern[str], int]] = [
    *(
        (re.compile(re.escape(literal) + after.replace("LITERAL", re.escape(literal))), how)
        for literal, (after, how) in _OTHER_FINDERS.items()
    ),
    *(
        # `key`'s separator first: it rules out most hits at once
        (re.compile(f"key(?={_SEPARATOR}){_KEY_OWNERS}"), _KEY)
        if literal == "key"
        else (re.compile(f"(?:{words})(?={_SEPARATOR})"), _KEY)
        for literal, words in _KEY_WORDS.items()
    ),
]
_KEY_WORD = re.compile("|".join(f"(?:{words})" for words in _KEY_WORDS.values()))
# A key that starts a config line, after what may come before it: a diff marker,
# indentation, `export`, an opening quote (at most _MAX_LEAD characters). Its value is
# then the rest of the line.
_LINE_KEY = re.compile(r"[+\- ]?[ \t]*(?:export[ \t]+)?[\"']?(?P<key>[\w.-]{0,128})")
_MAX_LEAD = 64
_QUOTED = re.compile(r"([\"'])(.*)\1,?")
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


def _pair(low: str, pos: int, end: int) -> tuple[int, int, str] | None:
    """The secret of ``<key> = <value>`` where ``low[pos:end]`` is a secret key's last
    word: the rest of the line when the key starts a config line, else one word or
    quoted string."""
    match = _SEPARATOR_VALUE.match(low, end)
    if match is None:
        return None
    value = match.group("value")
    value_start = match.start("value") if value else match.end()
    # Does the key start a config line? Only a key of at most 128 characters after at
    # most _MAX_LEAD characters can, hence the bounded search for the line's start.
    newline = low.rfind("\n", max(0, pos - 128 - _MAX_LEAD), pos)
    line_start = newline + 1 if newline >= 0 else (0 if pos <= 128 + _MAX_LEAD else -1)
    key = _LINE_KEY.fullmatch(low, line_start, pos) if line_start >= 0 else None
    if key is not None and key.start("key") - line_start <= _MAX_LEAD:
        line_end = low.find("\n", value_start, value_start + _MAX_VALUE)
        value = low[value_start : value_start + _MAX_VALUE if line_end < 0 else line_end]
        value = value.rstrip()
    if not value:
        return None
    quoted = _QUOTED.fullmatch(value) if value[0] in "\"'" else None
    if quoted:
        return value_start + 1, value_start + 1 + len(quoted.group(2)), REDACTED
    return value_start, value_start + len(value), REDACTED


def _secrets(low: str) -> list[tuple[int, int, str]]:
    """(start, end, replacement) of every credential in ``low``, in order, disjoint."""
    # Per hit: (position, how, two numbers): the secret's span (USERINFO, SPAN, WHOLE),
    # or the end of the literal and -1 (AUTHORIZATION, KEY). Sorted by position, then `how`.
    hits: list[tuple[int, int, int, int]] = []
    finders_hit = 0
    for finder, how in _FINDERS:
        if how in (_USERINFO, _SPAN):
            found = [(m.start(), how, *m.span(1)) for m in finder.finditer(low)]
        elif how == _WHOLE:
            found = [(m.start(), how, m.start(), m.end(1)) for m in finder.finditer(low)]
        else:
            found = [(m.start(), how, m.end(), -1) for m in finder.finditer(low)]
        if found:
            hits += found
            finders_hit += 1
    if finders_hit > 1:  # one finder's hits are in order already
        hits.sort()
    secrets: list[tuple[int, int, str]] = []
    done = 0
    for pos, how, start, end in hits:
        if pos < done:
            continue  # inside a secret already found
        if how == _KEY:
            secret = _pair(low, pos, start)
        elif how == _AUTHORIZATION:
            value = _AUTHORIZATION_VALUE.match(low, start)
            secret = (*value.span(1), REDACTED) if value else None
        else:
            secret = (start, end, "" if how == _USERINFO else REDACTED)
        if secret is not None and secret[1] > secret[0]:
            secrets.append(secret)
            done = secret[1]
    return secrets


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
        match.end() == len(last) and _pair(f"{last}=x", match.start(), match.end()) is not None
        for match in _KEY_WORD.finditer(last)
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
