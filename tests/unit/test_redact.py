import pytest

from dvflow.snapshot.redact import (
    REDACTED,
    is_credential_content,
    is_credential_file,
    is_secret_key,
    is_secret_name,
    redact_data,
    redact_text,
    safe_variables,
    secret_values,
    strip_credentials,
)


def test_strip_credentials_removes_user_and_password() -> None:
    assert strip_credentials("https://bob:s3cret@github.com/acme/r.git") == (
        "https://github.com/acme/r.git"
    )


def test_strip_credentials_removes_a_bare_token_user_and_keeps_the_port() -> None:
    assert strip_credentials("https://ghp_abc123@host:8443/r.git") == "https://host:8443/r.git"


def test_strip_credentials_leaves_plain_urls_alone() -> None:
    for url in ("https://github.com/acme/r.git", "git@github.com:acme/r.git", "/srv/repo"):
        assert strip_credentials(url) == url


def test_secret_names() -> None:
    for name in (
        "AWS_SECRET_ACCESS_KEY",
        "GITHUB_TOKEN",
        "DB_PASSWORD",
        "MLFLOW_TRACKING_PASSWORD",
    ):
        assert is_secret_name(name)
    for name in ("DVC_STAGE", "MLFLOW_TRACKING_URI", "CUDA_VISIBLE_DEVICES"):
        assert not is_secret_name(name)


def test_safe_variables_filters_names_and_values() -> None:
    environ = {
        "MLFLOW_TRACKING_URI": "http://u:pw@server:5000",
        "MLFLOW_TRACKING_TOKEN": "abc",
        "DVC_STAGE": "train",
        "HOME": "/root",
    }
    assert safe_variables(environ, ("MLFLOW_", "DVC_")) == {
        "DVC_STAGE": "train",
        "MLFLOW_TRACKING_URI": "http://server:5000",
    }


def test_redact_text_strips_every_url() -> None:
    text = "pushed to s3://key:secret@bucket/x and https://t@h/y"
    assert redact_text(text) == "pushed to s3://bucket/x and https://h/y"


def test_credential_files_by_exact_conventional_names() -> None:
    for path in (
        ".env",
        "deploy/.env.production",
        ".envrc",
        "certs/server.pem",
        "tls.key",
        "id_rsa",
        "home/id_ed25519.pub",
        ".netrc",
        ".pypirc",
        ".npmrc",
        ".git-credentials",
        "credentials",
        "gcp/service-account-prod.json",
        ".dvc/config.local",
        "sub/project/.dvc/config.local",
    ):
        assert is_credential_file(path), path
    for path in (
        "tokenizer.py",
        "secret_sharing.py",
        "src/auth/credentials_form.py",
        "keyboard.py",
        "environment.yml",
        ".dvc/config",
    ):
        assert not is_credential_file(path), path


def test_redaction_is_linear_on_long_runs_of_letters_and_digits() -> None:
    # The URL pattern once rescanned such runs: 200k characters took 31 s.
    import random
    import string
    import time

    rnd = random.Random(0)
    alphabet = string.ascii_letters + string.digits
    texts = [
        "a" * 10_000_000,
        "".join(rnd.choices(alphabet, k=10_000_000)),
        ("x://" + "a" * 50 + " ") * (10_000_000 // 55),
        ("ab1+.-" * 2_000_000),
    ]
    for text in texts:
        started = time.perf_counter()
        redact_text(text, ())
        # Well under a second on a quiet machine; generous for a loaded 2-core one.
        assert time.perf_counter() - started < 5, text[:20]


def test_redaction_of_code_and_logs_is_linear() -> None:
    import time

    chunk = (
        "def train(lr, tokenizer, max_tokens=5):\n"
        "    key = hash(lr)  # a key, not a secret\n"
        "INFO connecting to https://db.example.com/x?page=2 with password=hunter2\n"
        "+    aws_secret_access_key = abcDEF123/xyz\n"
    )
    text = chunk * (10_000_000 // len(chunk))
    started = time.perf_counter()
    out = redact_text(text, ())
    assert time.perf_counter() - started < 5
    assert "hunter2" not in out and "abcDEF123" not in out
    assert out.count("max_tokens=5") == text.count("max_tokens=5")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+    password = two words", "+    password = [REDACTED]"),
        ("  secret_access_key = AbC123", "  secret_access_key = [REDACTED]"),
        ("export GITHUB_TOKEN=abc123", "export GITHUB_TOKEN=[REDACTED]"),
        ('{"client_secret": "xyz", "pad_token": "[PAD]"}',
         '{"client_secret": "[REDACTED]", "pad_token": "[PAD]"}'),
        ("connect password=hunter2 host=db", "connect password=[REDACTED] host=db"),
        ("GET /x?token=abc&page=2", "GET /x?token=[REDACTED]&page=2"),
        ("Authorization: Basic dXNlcjpwdw==", "Authorization: Basic [REDACTED]"),
        ("curl -H 'Authorization: Bearer eyJ.a.b'", "curl -H 'Authorization: Bearer [REDACTED]'"),
        ("sent bearer abcd1234", "sent bearer [REDACTED]"),
        ("AccountName=a;AccountKey=k3y==;Suffix=x", "AccountName=a;AccountKey=[REDACTED];Suffix=x"),
        ("id AKIAABCDEFGHIJKLMNOP", "id [REDACTED]"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\nok",
         "[REDACTED]\nok"),
        ("İstanbul pwd: x İ", "İstanbul pwd: [REDACTED] İ"),
    ],
)  # fmt: skip
def test_redact_text_removes_secrets(text: str, expected: str) -> None:
    assert redact_text(text, ()) == expected


@pytest.mark.parametrize(
    "text",
    [
        "if token == other: pass",
        "max_tokens: 512\ntokenizer: bert\nbypass: true\noauth_enabled: true",
        "key = hash(lr)\nkeys: [a, b]\npassword_file = /run/secret",
        "git@github.com:acme/repo.git and https://github.com/acme/repo.git",
        "risk-assessment-model-version-two",
    ],
)
def test_redact_text_leaves_ordinary_text_alone(text: str) -> None:
    assert redact_text(text, ()) == text


def test_secret_environment_values_are_redacted_wherever_they_appear() -> None:
    environ = {
        "MY_API_TOKEN": "tok-12345",
        "DB_PASSWORD": "pw",  # too short to redact everywhere
        "XDG_SESSION_DESKTOP": "ubuntu",  # not a secret
        "HOME": "/root",
    }
    values = secret_values(environ)
    assert values == ("tok-12345",)
    assert redact_text("echo tok-12345 on ubuntu, pw", values) == "echo [REDACTED] on ubuntu, pw"


def test_credential_content_and_secret_keys() -> None:
    assert is_credential_content('{\n  "type": "service_account",\n  "project_id": "p"\n}')
    assert is_credential_content("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n")
    assert not is_credential_content("# how to make a private key: ssh-keygen\n")
    assert is_secret_key("db.password") and is_secret_key("aws.secret_access_key")
    assert not is_secret_key("tokenizer") and not is_secret_key("pad_token")
    assert redact_data({"db": {"password": "x", "url": "s3://k:s@b/"}, "lr": 0.1}, ()) == {
        "db": {"password": REDACTED, "url": "s3://b/"},
        "lr": 0.1,
    }
