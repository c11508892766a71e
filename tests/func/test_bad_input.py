"""A corpus of malformed and unusual inputs, each with its exact expected outcome.

Every case copies one small committed project, breaks (or bends) one thing, runs one
real ``dvflow`` command and checks: the exit code, a specific line of the message, no
traceback and no "internal error", and the tree before and after: a case that fails
changes no file of the user's and creates no store.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import socket
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import Builder, TmpDir, dvc_exe, dvflow_exe, python_env, run

pytestmark = pytest.mark.slow  # one real dvflow process per case

TRAIN = """\
import json, pathlib, yaml
lr = yaml.safe_load(open("params.yaml"))["train"]["lr"]
pathlib.Path("model.txt").write_text(open("data.txt").read() + str(lr))
pathlib.Path("metrics.json").write_text(json.dumps({"acc": 0.9}))
"""
DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    deps: [train.py, data.txt]
    params: [train.lr]
    outs: [model.txt]
    metrics:
      - metrics.json:
          cache: false
"""
# What a successful `dvflow repro` of the project writes.
REPRO_WRITES = frozenset({"dvc.lock", "model.txt", "metrics.json", ".gitignore"})


def _build_base(project: TmpDir) -> None:
    files = {"dvc.yaml": DVC_YAML, "params.yaml": "train:\n  lr: 0.1\n", "train.py": TRAIN}
    project.gen({**files, "data.txt": "data\n"})
    project.commit("project")


@pytest.fixture(scope="session")
def base_project(project_template: Callable[[str, Builder], Path]) -> Path:
    """One committed DVC project, copied by every case."""
    return project_template("bad-input-base", _build_base)


class Server(http.server.BaseHTTPRequestHandler):
    """Answers every request with the status and body named by the server's path."""

    answers = {
        "unauthorized": (401, "text/plain", b"Unauthorized"),
        "failing": (500, "text/html", b"<h1>Internal Server Error</h1>"),
        "html": (200, "text/html", b"<html>a web page</html>"),
        "missing": (404, "text/html", b"<h1>Not Found</h1>"),
    }

    def do_GET(self) -> None:
        status, kind, body = self.answers[self.path.split("/")[1]]
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def http_server() -> Iterator[str]:
    """A tiny HTTP server on 127.0.0.1 that is not MLflow: 401, 500, HTML, 404."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Ctx:
    """What a case's setup works with."""

    root: Path
    store: Path  # the SQLite database the case's MLFLOW_TRACKING_URI names
    template: Path  # a migrated empty store
    server: str
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None

    def write(self, name: str, text: str | bytes) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)

    def git(self, *args: str) -> None:
        run(["git", *args], self.root)

    def commit(self) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "change")

    def ready_store(self) -> None:
        self.store.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.template, self.store)


@dataclass(frozen=True)
class Case:
    id: str
    setup: Callable[[Ctx], None]
    args: tuple[str, ...]
    code: int
    message: str
    # Paths (relative to the project) the command may write; a store may be created
    # only when the case expects success.
    writes: frozenset[str] = frozenset()
    needs_permissions: bool = False  # permissions that root ignores


def _set(text: str, name: str = "dvc.yaml") -> Callable[[Ctx], None]:
    return lambda ctx: ctx.write(name, text)


def _sequence(*steps: Callable[[Ctx], None]) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        for step in steps:
            step(ctx)

    return setup


def _env(**values: str) -> Callable[[Ctx], None]:
    return lambda ctx: ctx.env.update(values)


def _uri(make: Callable[[Ctx], str]) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        ctx.env["MLFLOW_TRACKING_URI"] = make(ctx)

    return setup


def _stamp(revision: str) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        ctx.ready_store()
        with sqlite3.connect(ctx.store) as conn:
            conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))

    return setup


def _old_revision() -> str:
    from dvflow.integrations.mlflow_schema import known_revisions

    revisions, heads = known_revisions()
    return sorted(revisions - heads)[0]


def _ready(ctx: Ctx) -> None:
    ctx.ready_store()


def _no_git(ctx: Ctx) -> None:
    shutil.rmtree(ctx.root / ".git")


def _no_dvc(ctx: Ctx) -> None:
    shutil.rmtree(ctx.root / ".dvc")
    ctx.commit()


def _fresh_repo_no_commit(ctx: Ctx) -> None:
    shutil.rmtree(ctx.root / ".git")
    ctx.git("init", "-q", "-b", "main")


def _detached(ctx: Ctx) -> None:
    ctx.git("checkout", "-q", "--detach")


def _shallow(ctx: Ctx) -> None:
    ctx.write("data.txt", "data 2\n")
    ctx.commit()
    source = ctx.root.with_name("source")
    ctx.root.rename(source)
    run(["git", "clone", "-q", "--depth", "1", source.as_uri(), str(ctx.root)], source.parent)


def _moved(name: str) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        target = ctx.root.with_name(name)
        ctx.root.rename(target)
        ctx.root = target

    return setup


def _dvc_tracked_without_cache(ctx: Ctx) -> None:
    ctx.write("big.csv", "a,b\n1,2\n")
    run([dvc_exe(), "add", "-q", "big.csv"], ctx.root)
    ctx.write("dvc.yaml", DVC_YAML.replace("data.txt]", "data.txt, big.csv]"))
    ctx.commit()
    shutil.rmtree(ctx.root / ".dvc" / "cache")
    (ctx.root / "big.csv").unlink()


def _remote(url: str) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        _dvc_tracked_without_cache(ctx)
        run([dvc_exe(), "remote", "add", "-d", "store", url], ctx.root)
        ctx.commit()

    return setup


def _misconfigured_remote(ctx: Ctx) -> None:
    _dvc_tracked_without_cache(ctx)
    config = ctx.root / ".dvc" / "config"
    text = config.read_text().replace("[core]\n", "[core]\n    remote = store\n")
    config.write_text(text + "['remote \"store\"']\n    url = nosuchscheme://x/y\n")
    ctx.commit()


def _reproduced(ctx: Ctx) -> None:
    run([dvc_exe(), "repro", "-q"], ctx.root, env=python_env())
    ctx.commit()


def _read_only(rel: str) -> Callable[..., None]:
    def setup(ctx: Ctx, folder: Path | None = None) -> None:
        top = folder or ctx.root / rel
        for path in [top, *top.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)

    return setup


def _outside(ctx: Ctx) -> None:
    ctx.cwd = ctx.root.parent / "elsewhere"
    ctx.cwd.mkdir()


def _busy_port(ctx: Ctx) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    ctx.env["_PORT"] = str(sock.getsockname()[1])
    ctx.env["_SOCKET"] = str(sock.detach())


def _deleted_experiment(ctx: Ctx) -> None:
    ctx.ready_store()
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{ctx.store}")
    experiment = client.create_experiment("gone", artifact_location=ctx.store.parent.as_uri())
    client.delete_experiment(experiment)
    ctx.env["MLFLOW_EXPERIMENT_NAME"] = "gone"


def _sqlite_with(sql: str) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        ctx.store.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(ctx.store) as conn:
            conn.execute(sql)

    return setup


OLD_LOCK = """\
train:
  cmd: python train.py
  deps:
  - path: data.txt
    md5: 6137cde4893c59f76f005a8123d8e8e6
  outs:
  - path: model.txt
    md5: 0123456789abcdef0123456789abcdef
"""
REPRO = ("repro",)

CASES = [
    # dvc.yaml
    Case("dvc.yaml: YAML syntax error", _set("stages:\n  train: [\n"), REPRO, 5, "dvc.yaml"),
    Case("dvc.yaml: unknown key", _set(DVC_YAML.replace("outs:", "outz:")), REPRO, 5,
         "extra keys not allowed"),
    Case("dvc.yaml: stage without cmd", _set("stages:\n  train:\n    deps: [data.txt]\n"),
         REPRO, 5, "required key not provided"),
    Case("dvc.yaml: a list, not a mapping", _set("- train\n- test\n"), REPRO, 5, "dvc.yaml"),
    Case("dvc.yaml: not UTF-8", _set(b"stages:\n  tr\xe9in:\n    cmd: echo\n"), REPRO, 5,
         "dvc.yaml"),
    Case("dvc.yaml: binary", _set(b"\x00\x01\x02\xff\xfe" * 50), REPRO, 5, "dvc.yaml"),
    Case("dvc.yaml: unknown target", lambda ctx: None, ("repro", "nosuch"), 5, "nosuch"),
    Case("dvc.yaml: cycle",
         _set("stages:\n  a:\n    cmd: cp b a\n    deps: [b]\n    outs: [a]\n"
              "  b:\n    cmd: cp a b\n    deps: [a]\n    outs: [b]\n"), REPRO, 5,
         "both a dependency and an output"),
    Case("dvc.yaml: one output, two stages",
         _set("stages:\n  a:\n    cmd: echo > o\n    outs: [o]\n"
              "  b:\n    cmd: echo > o\n    outs: [o]\n"), REPRO, 5, "'o'"),
    Case("dvc.yaml: foreach over an unknown variable",
         _set("stages:\n  s:\n    foreach: ${nothing}\n    do:\n      cmd: echo ${item}\n"),
         REPRO, 5, "nothing"),
    Case("dvc.yaml: empty file", _set(""), REPRO, 0, "up to date"),
    Case("dvc.yaml: a stage that fails",
         _set(DVC_YAML.replace("python train.py", "python -c 'raise SystemExit(3)'")),
         REPRO, 255, "failed to reproduce 'train'", frozenset({".gitignore"})),
    Case("dvc.yaml: a missing dependency", _set(DVC_YAML.replace("data.txt]", "nothere.txt]")),
         REPRO, 255, "nothere.txt"),
    Case("repro --dry: a missing dependency",
         _set(DVC_YAML.replace("data.txt]", "nothere.txt]")), ("repro", "--dry"), 255,
         "nothere.txt"),
    Case("dvc.yaml: stage name with spaces and non-ASCII",
         _sequence(_ready, _set(DVC_YAML.replace("  train:", "  'tr ain é':"))), REPRO, 0,
         "ran:     tr ain é", REPRO_WRITES),
    # params files
    Case("params.yaml: YAML syntax error", _set("train: {lr: [\n", "params.yaml"), REPRO, 5,
         "params.yaml"),
    Case("params.yaml: a list", _set("- 1\n- 2\n", "params.yaml"), REPRO, 5, "params.yaml"),
    Case("params.yaml: a scalar", _set("42\n", "params.yaml"), REPRO, 5, "params.yaml"),
    Case("params.yaml: not UTF-8", _set(b"train:\n  lr: \xe9\n", "params.yaml"), REPRO, 5,
         "params.yaml"),
    Case("params.yaml: binary", _set(b"\x00\xff" * 100, "params.yaml"), REPRO, 5,
         "params.yaml"),
    Case("params.yaml: missing", lambda ctx: (ctx.root / "params.yaml").unlink(), REPRO, 255,
         "'train.lr' are missing from 'params.yaml'", frozenset({".gitignore"})),
    Case("params.yaml: a stage param missing from it", _set("train:\n  epochs: 1\n",
         "params.yaml"), REPRO, 255, "'train.lr' are missing from 'params.yaml'",
         frozenset({".gitignore"})),
    Case("params.json: syntax error",
         _sequence(_set('{"lr": ', "p.json"), _set(DVC_YAML.replace(
             "params: [train.lr]", "params: [{p.json: [lr]}, train.lr]"))),
         REPRO, 5, "p.json"),
    Case("params.toml: syntax error",
         _sequence(_set("[train\n", "p.toml"), _set(DVC_YAML.replace(
             "params: [train.lr]", "params: [{p.toml: [train.lr]}, train.lr]"))),
         REPRO, 5, "p.toml"),
    Case("params.yaml: a 1 MB value",
         _set("train:\n  lr: 0.1\n  blob: " + "x" * 1_000_000 + "\n", "params.yaml"),
         REPRO, 0, "recorded run", REPRO_WRITES),
    Case("params.yaml: 5,000 keys",
         _set("train:\n  lr: 0.1\n" + "".join(f"  k{i}: {i}\n" for i in range(5000)),
              "params.yaml"), REPRO, 0, "recorded run", REPRO_WRITES),
    # dvc.lock
    Case("dvc.lock: YAML syntax error", _set("schema: '2.0'\nstages: [\n", "dvc.lock"), REPRO,
         5, "dvc.lock"),
    Case("dvc.lock: a list", _set("- a\n", "dvc.lock"), REPRO, 5, "dvc.lock"),
    Case("dvc.lock: not UTF-8", _set(b"schema: '2.0'\nstages: \xe9\n", "dvc.lock"), REPRO, 5,
         "dvc.lock"),
    Case("dvc.lock: the old (1.0) format", _set(OLD_LOCK, "dvc.lock"), REPRO, 5,
         "'./dvc.lock' validation failed"),
    # dvflow's own config
    Case(".dvflow/config.yaml: YAML syntax error", _set("experiment: [\n", ".dvflow/config.yaml"),
         REPRO, 5, "is not valid YAML"),
    Case(".dvflow/config.yaml: not UTF-8",
         _set(b"experiment: \xff\xfe\n", ".dvflow/config.yaml"), REPRO, 5, "is not UTF-8 text"),
    Case(".dvflow/config.yaml: unknown setting", _set("colour: red\n", ".dvflow/config.yaml"),
         REPRO, 5, "unknown setting(s) colour"),
    Case(".dvflow/config.yaml: a list", _set("- a\n", ".dvflow/config.yaml"), REPRO, 5,
         "must be a mapping"),
    Case(".dvflow/config.yaml: a number for a string",
         _set("experiment: 12\n", ".dvflow/config.yaml"), REPRO, 5, "must be a non-empty string"),
    Case(".dvflow/config.yaml: a folder", lambda ctx: (ctx.root / ".dvflow/config.yaml").mkdir(
         parents=True), REPRO, 5, "config.yaml is not a file"),
    # the tracking store
    Case("store: unknown URI scheme", _uri(lambda ctx: "foo://bar/x"), REPRO, 4,
         "no tracking store for the URI scheme 'foo'"),
    Case("store: a SQLite path that is a folder",
         _uri(lambda ctx: (ctx.store.mkdir(parents=True), f"sqlite:///{ctx.store}")[1]),
         REPRO, 4, "is a folder"),
    Case("store: a SQLite file that is not a database",
         _sequence(lambda ctx: ctx.store.parent.mkdir(parents=True),
                   lambda ctx: ctx.store.write_bytes(b"not a database" * 100)),
         REPRO, 4, "is not a usable SQLite database"),
    Case("store: a SQLite database that is not MLflow's", _sqlite_with("CREATE TABLE t (x)"),
         REPRO, 4, "not an MLflow store"),
    Case("store: an older schema", lambda ctx: _stamp(_old_revision())(ctx), REPRO, 4,
         "mlflow db upgrade sqlite:///"),
    Case("store: a newer schema", _stamp("ffffffffffff"), REPRO, 4, "newer MLflow"),
    Case("store: a deleted experiment", _deleted_experiment, REPRO, 4,
         "mlflow experiments restore"),
    # The one store error the pipeline survives: its records wait in the spool.
    Case("store: unreachable server",
         _uri(lambda ctx: f"http://127.0.0.1:{_closed_port()}"), REPRO, 0,
         "its records wait in the spool", REPRO_WRITES),
    Case("store: server answers 401", _uri(lambda ctx: f"{ctx.server}/unauthorized"), REPRO, 4,
         "refused the credentials (HTTP 401)"),
    Case("store: server answers 500", _uri(lambda ctx: f"{ctx.server}/failing"), REPRO, 4,
         "the server failed (HTTP 500)"),
    Case("store: server is a web page", _uri(lambda ctx: f"{ctx.server}/html"), REPRO, 4,
         "not as an MLflow tracking server"),
    Case("store: server answers 404", _uri(lambda ctx: f"{ctx.server}/missing"), REPRO, 4,
         "not as an MLflow tracking server (HTTP 404"),
    Case("doctor: server answers 401",
         _uri(lambda ctx: f"{ctx.server}/unauthorized"), ("doctor", "--no-versions"), 1,
         "refused the credentials"),
    Case("store: credentials of a 401 server never printed",
         _uri(lambda ctx: ctx.server.replace("//", "//bob:hunter22@") + "/unauthorized"),
         REPRO, 4, "http://127.0.0.1"),
    # Permissions do not bind root: these run as any other user.
    Case("read-only .git", _sequence(_ready, _read_only(".git")), REPRO, 0, "recorded run",
         REPRO_WRITES, needs_permissions=True),
    Case("read-only store", _sequence(_ready, lambda ctx: _read_only("")(ctx, ctx.store.parent)),
         REPRO, 4, "(or its folder) is read-only", needs_permissions=True),
    Case("read-only project, up to date", _sequence(_ready, _reproduced, _read_only("")), REPRO,
         0, "up to date", needs_permissions=True),
    Case("read-only folder for a new store", _sequence(
         lambda ctx: ctx.store.parent.mkdir(), lambda ctx: _read_only("")(ctx, ctx.store.parent)),
         REPRO, 4, "its folder is not writable", needs_permissions=True),
    # git and the project
    Case("no git, no DVC", _sequence(_no_git, lambda ctx: shutil.rmtree(ctx.root / ".dvc")),
         REPRO, 253, "not inside a"),
    Case("git but no DVC", _no_dvc, REPRO, 253, "DVC project"),
    Case("snapshot outside any project", _outside, ("snapshot",), 3,
         "is not inside a git repository"),
    Case("no commits yet", _sequence(_ready, _fresh_repo_no_commit), REPRO, 0, "recorded run",
         REPRO_WRITES),
    Case("detached HEAD", _sequence(_ready, _detached), REPRO, 0, "recorded run", REPRO_WRITES),
    Case("shallow clone", _sequence(_ready, _shallow), REPRO, 0, "recorded run", REPRO_WRITES),
    Case("path with spaces", _sequence(_ready, _moved("my project")), REPRO, 0, "recorded run",
         REPRO_WRITES),
    Case("non-ASCII path", _sequence(_ready, _moved("projét-数据")), REPRO, 0, "recorded run",
         REPRO_WRITES),
    Case("outputs with spaces and non-ASCII names",
         _sequence(_ready, _set(DVC_YAML.replace("model.txt", "'mod èl.txt'")),
                   _set(TRAIN.replace("model.txt", "mod èl.txt"), "train.py")),
         REPRO, 0, "recorded run", REPRO_WRITES - {"model.txt"} | {"mod èl.txt"}),
    Case("snapshot: unknown stage", lambda ctx: None, ("snapshot", "--stage", "nosuch"), 5,
         "nosuch"),
    # DVC data and remotes
    Case("a DVC cache entry is missing", _dvc_tracked_without_cache, REPRO, 255, "big.csv"),
    Case("--pull from an unreachable remote",
         _remote(f"http://127.0.0.1:{_closed_port()}/dvc"), ("repro", "--pull"), 255,
         "big.csv"),
    Case("--pull from a misconfigured remote", _misconfigured_remote, ("repro", "--pull"), 251,
         "nosuchscheme"),
    # results
    Case("metric names MLflow refuses",
         _sequence(_ready, _set(TRAIN.replace('{"acc": 0.9}', '{"precision@5": 0.5, '
                                              '"f1(macro)": 0.7}'), "train.py")),
         REPRO, 0, "precision@5=0.5", REPRO_WRITES),
    Case("a metrics file that is not JSON",
         _sequence(_ready, _set(TRAIN.replace("json.dumps({\"acc\": 0.9})", "'{oops'"),
                                "train.py")),
         REPRO, 0, "metrics.json", REPRO_WRITES),
    # other commands
    Case("commit with a broken dvc.yaml", _set("stages: [\n"), ("commit", "-m", "x"), 5,
         "dvc.yaml"),
    Case("doctor with a broken params.yaml", _set("train: [\n", "params.yaml"),
         ("doctor", "--no-versions"), 1, "params.yaml"),
    Case("ui on a port already in use", _busy_port, ("ui", "--port", "{_PORT}"), 1, "is in use"),
    Case("an unknown MLFLOW_RUN_ID left in the shell",
         _sequence(_ready, _env(MLFLOW_RUN_ID="0" * 32)), REPRO, 0, "recorded run",
         REPRO_WRITES),
]  # fmt: skip


def _tree(root: Path) -> dict[str, str]:
    """Every file of the project (but git's and DVC's own state) -> its content hash."""
    found = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        # git's, DVC's and dvflow's own state (its run index), not the user's files.
        if rel.startswith((".git/", ".dvc/tmp/", ".dvc/cache/", ".dvflow/tmp/")):
            continue
        if path.is_file():
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def test_the_corpus_has_at_least_sixty_cases() -> None:
    assert len(CASES) >= 60


AS_ROOT = os.geteuid() == 0


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            c,
            id=c.id,
            marks=pytest.mark.skipif(
                c.needs_permissions and AS_ROOT, reason="root writes through permissions"
            ),
        )
        for c in CASES
    ],
)
def test_bad_input(
    case: Case, base_project: Path, tmp_path: Path, store_template: Path, http_server: str
) -> None:
    root = tmp_path / "project"
    shutil.copytree(base_project, root, symlinks=True)
    store = tmp_path / "store" / "mlflow.db"
    ctx = Ctx(root, store, store_template, http_server)
    ctx.env["MLFLOW_TRACKING_URI"] = f"sqlite:///{store}"
    case.setup(ctx)
    port_socket = ctx.env.pop("_SOCKET", None)
    args = [a.format(**ctx.env) for a in case.args]
    ctx.env.pop("_PORT", None)
    before = _tree(ctx.root)
    store_existed = store.exists()
    try:
        result = subprocess.run(
            [dvflow_exe(), *args],
            cwd=ctx.cwd or ctx.root,
            env=python_env(**ctx.env),
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    finally:
        if port_socket is not None:
            socket.socket(fileno=int(port_socket)).close()
        for path in [tmp_path, *tmp_path.rglob("*")]:  # let pytest clean up
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o200)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert "internal error" not in output, output
    assert result.returncode == case.code, output
    assert case.message in output, output
    after = _tree(ctx.root)
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    assert changed <= case.writes, f"changed: {sorted(changed - case.writes)}\n{output}"
    if case.code not in (0, 255):
        # Bad input is refused before anything is created. (A stage that fails, 255 as
        # under `dvc repro`, is recorded: its runs end FAILED.)
        assert store.exists() == store_existed, "a failing command created a store"
        assert not (ctx.root / "mlflow.db").exists()
    assert not (ctx.root / "mlruns").exists()
