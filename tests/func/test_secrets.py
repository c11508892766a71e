"""Secrets, checked end to end: planted everywhere a project keeps them, searched for in
everything dvflow wrote to the store (the database: tags, params, metric names, dataset
sources; every artifact) and printed. Zero hits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import TmpDir, dvflow_exe, python_env, run

pytestmark = pytest.mark.slow  # real dvc and mlflow processes

# Each secret is unique, so that a hit names the place it leaked from.
ENVIRONMENT = {
    "MY_SERVICE_TOKEN": "tok-env-7f3a9c",
    "DB_PASSWORD": "pw-env-91b2c4",
    "MLFLOW_TRACKING_PASSWORD": "mlflow-pw-4c7d",
    "AWS_SECRET_ACCESS_KEY": "aws-env-2d6f81",
}
GIT_REMOTE = "git-pat-55e1d7"
DVC_URL = "dvc-url-6a5b0e"
DVC_COMMITTED = "dvc-committed-8c2e"
DVC_LOCAL = "dvc-local-a1b2c3"
DVC_DIRTY = "dvc-dirty-3d9f"
PARAMS_URL = "param-url-2b9e"
FILES = {
    ".envrc": ("export API_KEY=envrc-2f8d1e\n", "envrc-2f8d1e"),
    ".npmrc": ("//registry.npmjs.org/:_authToken=npm-7c1e0b\n", "npm-7c1e0b"),
    "service-account.json": ('{"type": "service_account", "private_key": "sa-9d4f"}', "sa-9d4f"),
    # Credential files by content, whatever their names.
    "deploy/gcp.json": (
        '{\n  "type": "service_account",\n  "client_email": "x@y",\n'
        '  "private_key": "-----BEGIN PRIVATE KEY-----\\nsa2-3e8a\\n'
        '-----END PRIVATE KEY-----"\n}\n',
        "sa2-3e8a",
    ),
    "id_ecdsa": (
        "-----BEGIN EC PRIVATE KEY-----\necdsa-5b1c\n-----END EC PRIVATE KEY-----\n",
        "ecdsa-5b1c",
    ),
    "keys/deploy.txt": (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nssh-8e2f\n-----END OPENSSH PRIVATE KEY-----\n",
        "ssh-8e2f",
    ),
    # Secrets inside ordinary config files.
    "app.ini": ("[db]\nhost = db\npassword = ini-pw-6d3a\n", "ini-pw-6d3a"),
    "deploy/settings.yaml": ("service:\n  api_token: yaml-tok-0c4b\n", "yaml-tok-0c4b"),
}
# A stage that prints secrets on stderr, then fails.
LEAK = (
    "import os, sys\n"
    "print('using', os.environ['MY_SERVICE_TOKEN'], file=sys.stderr)\n"
    "print('password=stage-pw-1a2b', file=sys.stderr)\n"
    "print('Authorization: Bearer stage-bearer-3c4d', file=sys.stderr)\n"
    "sys.exit(1)\n"
)
TRAIN = (
    "import json, dvflow\n"
    "with dvflow.start_run():\n"
    "    dvflow.log_params({'run': {'note': 'ok'}})\n"
    "    json.dump({'acc': 0.9}, open('metrics.json', 'w'))\n"
    "    open('model.txt', 'w').write(open('data.csv').read())\n"
)
BY_HAND = (
    "import dvflow\nwith dvflow.start_run() as run:\n    dvflow.log_metrics({'by_hand': 1.0})\n"
)
STAGE_SECRETS = ["stage-pw-1a2b", "stage-bearer-3c4d"]


def _secrets() -> list[str]:
    return [
        *ENVIRONMENT.values(),
        GIT_REMOTE,
        DVC_URL,
        DVC_COMMITTED,
        DVC_LOCAL,
        DVC_DIRTY,
        PARAMS_URL,
        *(secret for _, secret in FILES.values()),
        *STAGE_SECRETS,
    ]


def _everything_written(store: Path) -> dict[str, bytes]:
    """Every file under the store's folder (the SQLite database and every artifact)."""
    return {str(p): p.read_bytes() for p in store.rglob("*") if p.is_file()}


def test_no_planted_secret_reaches_the_store(
    dvc: TmpDir, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    dvc.gen(
        {
            "data.csv": "a,b\n1,2\n",
            "train.py": TRAIN,
            "leak.py": LEAK,
            "by_hand.py": BY_HAND,
            "params.yaml": f"train:\n  lr: 0.1\n  db: postgresql://u:{PARAMS_URL}@db/x\n",
            "dvc.yaml": (
                "stages:\n"
                "  train:\n    cmd: python train.py\n    deps: [train.py, data.csv]\n"
                "    params: [train.lr, train.db]\n    outs: [model.txt]\n"
                "    metrics: [{metrics.json: {cache: false}}]\n"
                "  leak:\n    cmd: python leak.py\n    deps: [leak.py, model.txt]\n"
            ),
        }
    )
    dvc.git("remote", "add", "origin", f"https://gituser:{GIT_REMOTE}@github.com/acme/r.git")
    dvc.dvc("remote", "add", "-d", "web", f"https://dvcuser:{DVC_URL}@example.com/data")
    dvc.dvc("remote", "modify", "web", "password", DVC_COMMITTED)
    dvc.dvc("remote", "modify", "--local", "web", "custom_auth_header", DVC_LOCAL)
    dvc.dvc("add", "-q", "data.csv")
    dvc.commit("project")
    # A dirty config file, and credential files the user has not committed.
    config = dvc.path / ".dvc" / "config"
    config.write_text(config.read_text().replace(DVC_COMMITTED, DVC_DIRTY))
    dvc.gen({name: text for name, (text, _) in FILES.items()})

    environ = python_env()
    repro = run([dvflow_exe(), "repro"], dvc.path, check=False, env=environ)
    assert repro.returncode == 255, repro.stderr  # the leaking stage fails
    snapshot = run([dvflow_exe(), "snapshot", "--json"], dvc.path, env=environ)
    by_hand = run(["python", "by_hand.py"], dvc.path, env=environ)

    store = Path(tracking_uri.removeprefix("sqlite:///")).parent
    written = _everything_written(store)
    assert any(p.endswith("git.diff") for p in written)  # the dirty tree was recorded
    assert any(p.endswith("stderr-tail.txt") for p in written)  # and the failing stage
    printed = {
        # dvflow's own lines (the stage's output reaches the terminal as under dvc repro)
        "repro": "\n".join(
            line for line in (repro.stdout + repro.stderr).splitlines() if "dvflow" in line
        ),
        "snapshot": snapshot.stdout,
        "by hand": by_hand.stdout + by_hand.stderr,
    }
    planted = _secrets()
    found = [
        f"{secret} in {where}"
        for secret in planted
        for where, content in [*written.items(), *((k, v.encode()) for k, v in printed.items())]
        if secret.encode() in content
    ]
    assert found == [], found
    assert len(planted) == 20
    # What was redacted stayed readable: the secret's place is marked.
    tail = next(content for path, content in written.items() if path.endswith("stderr-tail.txt"))
    assert b"password=[REDACTED]" in tail and b"using [REDACTED]" in tail
    diff = next(
        content.decode()
        for path, content in written.items()
        if path.endswith("git.diff") and b"app.ini" in content
    )
    assert "+password = [REDACTED]" in diff and "password = [REDACTED]" in diff
    listed = {line.split('"')[1] for line in diff.splitlines() if line.startswith("#   ")}
    assert {"deploy/gcp.json", "keys/deploy.txt", ".envrc", "id_ecdsa"} <= listed
    assert json.loads(snapshot.stdout)["code"]["remote_url"] == "https://github.com/acme/r.git"
