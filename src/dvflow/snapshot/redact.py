"""Keeping secrets out of everything dvflow records.

A credential never reaches MLflow: user:password in URLs is removed, and environment
variables whose names look secret are left out entirely (their names included).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fnmatch import fnmatchcase
from urllib.parse import urlsplit, urlunsplit

_SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|AUTH|SESSION|COOKIE|PRIVATE", re.IGNORECASE
)
# scp-like git remotes: user@host:path (no scheme). The user is kept (it is not secret).
# Greedy up to the last '@' before the path: a password may itself contain '@'.
_URL_WITH_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/?#\s]*@)")


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


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name looks like it holds a secret."""
    return bool(_SECRET_NAME.search(name))


def strip_credentials(url: str) -> str:
    """Remove ``user:password@`` (or a bare token as user) from a URL.

    >>> strip_credentials("https://bob:s3cret@github.com/acme/repo.git")
    'https://github.com/acme/repo.git'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return _URL_WITH_USERINFO.sub(r"\g<scheme>", url)
    if parts.scheme and (parts.username or parts.password):
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return _URL_WITH_USERINFO.sub(r"\g<scheme>", url)


def redact_text(text: str) -> str:
    """Strip credentials from every URL inside a free text value."""
    return _URL_WITH_USERINFO.sub(r"\g<scheme>", text)


def safe_variables(environ: Mapping[str, str], prefixes: tuple[str, ...]) -> dict[str, str]:
    """The variables whose names start with one of ``prefixes``, minus secret-looking ones,
    with credentials stripped from any URL in their values."""
    return {
        name: redact_text(value)
        for name, value in sorted(environ.items())
        if name.startswith(prefixes) and not is_secret_name(name)
    }
