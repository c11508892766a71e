from dvflow.snapshot.redact import (
    is_credential_file,
    is_secret_name,
    redact_text,
    safe_variables,
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
