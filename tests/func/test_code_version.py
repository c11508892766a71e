"""The code part of a snapshot, on real git repositories."""

import os
from pathlib import Path

import pytest

from dvflow.snapshot import patch
from dvflow.snapshot.code import commits_with_tree, read_code_version
from dvflow.snapshot.patch import OmittedFile
from tests.conftest import TmpDir, run

MB = 1_000_000


def dot_git_files(root: Path) -> dict[str, int]:
    """Every file under .git (nothing ignored) with its size."""
    found = {}
    for folder, _, names in os.walk(root / ".git"):
        for name in names:
            path = Path(folder, name)
            found[path.relative_to(root).as_posix()] = path.lstat().st_size
    return found


def blob_id(tmp: TmpDir, path: str) -> str:
    # hash-object without -w computes the id and stores nothing.
    return tmp.git("hash-object", "--", path)


def test_clean_tree(scm: TmpDir) -> None:
    scm.gen({"train.py": "print(1)\n"})
    commit = scm.commit()
    version, diff = read_code_version(scm.path, with_diff=True)
    assert version.commit == commit
    assert version.branch == "main"
    assert version.dirty is False
    assert version.fingerprint == scm.git("rev-parse", "HEAD^{tree}")
    assert diff is None


def test_modified_tracked_file_is_dirty_and_diffed(scm: TmpDir) -> None:
    scm.gen({"train.py": "print(1)\n"})
    scm.commit()
    scm.gen({"train.py": "print(2)\n"})
    version, diff = read_code_version(scm.path, with_diff=True)
    assert version.dirty is True
    assert diff is not None and "+print(2)" in diff.patch


def test_untracked_file_counts_ignored_file_does_not(scm: TmpDir) -> None:
    scm.gen({".gitignore": "*.log\n", "a.py": "x = 1\n"})
    scm.commit()
    scm.gen({"debug.log": "noise\n"})
    assert read_code_version(scm.path)[0].dirty is False
    scm.gen({"new.py": "y = 2\n"})
    version, diff = read_code_version(scm.path, with_diff=True)
    assert version.dirty is True
    assert diff is not None and "new.py" in diff.patch


def test_user_index_is_untouched(scm: TmpDir) -> None:
    scm.gen({"a.py": "1\n"})
    scm.commit()
    scm.gen({"a.py": "2\n", "b.py": "3\n"})
    before = scm.git("status", "--porcelain")
    read_code_version(scm.path, with_diff=True)
    assert scm.git("status", "--porcelain") == before


def test_fingerprint_matches_the_commit_that_records_a_dirty_state(scm: TmpDir) -> None:
    scm.gen({"a.py": "1\n"})
    scm.commit()
    scm.gen({"a.py": "2\n", "b.py": "new\n"})
    dirty = read_code_version(scm.path)[0]
    later = scm.commit("record it")
    assert dirty.dirty
    assert commits_with_tree(scm.path, dirty.fingerprint) == [later]
    assert read_code_version(scm.path)[0].fingerprint == dirty.fingerprint


def test_repository_without_commits(scm: TmpDir) -> None:
    version = read_code_version(scm.path)[0]
    assert version.commit is None
    assert version.dirty is False
    scm.gen({"a.py": "1\n"})
    version = read_code_version(scm.path)[0]
    assert version.commit is None and version.dirty is True


def test_detached_head(scm: TmpDir) -> None:
    scm.gen({"a.py": "1\n"})
    first = scm.commit()
    scm.gen({"a.py": "2\n"})
    scm.commit()
    scm.git("checkout", "-q", first)
    version = read_code_version(scm.path)[0]
    assert version.commit == first
    assert version.branch is None
    assert version.dirty is False


def test_shallow_clone_and_credentials_in_remote(scm: TmpDir, tmp_path: Path) -> None:
    scm.gen({"a.py": "1\n"})
    scm.commit()
    scm.gen({"a.py": "2\n"})
    head = scm.commit()
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", "--depth", "1", f"file://{scm.path}", str(clone)], tmp_path)
    run(["git", "remote", "set-url", "origin", "https://bob:hunter2@git.example.com/r.git"], clone)
    version = read_code_version(clone)[0]
    assert version.shallow is True
    assert version.commit == head
    assert version.remote_url == "https://git.example.com/r.git"


def test_nothing_is_written_into_dot_git(scm: TmpDir) -> None:
    scm.gen({"a.py": "1\n", "pkg/b.py": "2\n"})
    scm.commit()
    scm.gen({"a.py": "changed\n", "pkg/new.py": "3\n"})
    (scm.path / "weights.bin").write_bytes(os.urandom(30 * MB))
    before = dot_git_files(scm.path)
    version, diff = read_code_version(scm.path, with_diff=True)
    assert version.dirty and diff is not None
    assert dot_git_files(scm.path) == before


def test_binary_and_big_files_are_listed_not_patched(scm: TmpDir) -> None:
    scm.gen({"train.py": "lr = 1\n"})
    scm.commit()
    scm.gen({"train.py": "lr = 2\n", "data/big.csv": "1,2,3\n" * (2 * MB // 6 + 1)})
    (scm.path / "model.bin").write_bytes(os.urandom(20 * MB))
    diff = read_code_version(scm.path, with_diff=True)[1]
    assert diff is not None
    too_big = f"larger than {patch.MAX_FILE_BYTES:,} bytes"
    # Size is checked first: git never reads a big file to find out it is binary.
    assert diff.omitted == [
        OmittedFile(
            "data/big.csv",
            (scm.path / "data/big.csv").stat().st_size,
            blob_id(scm, "data/big.csv"),
            too_big,
        ),
        OmittedFile("model.bin", 20 * MB, blob_id(scm, "model.bin"), too_big),
    ]
    assert "+lr = 2" in diff.patch
    assert len(diff.text()) < 2000
    header = diff.text().split("diff --git")[0]
    assert '"model.bin" 20000000 ' in header and '"data/big.csv"' in header


def test_small_binary_file_is_detected_by_git(scm: TmpDir) -> None:
    scm.gen({"a.py": "1\n"})
    scm.commit()
    (scm.path / "icon.png").write_bytes(b"\x89PNG\0\0\x01")
    (scm.path / "legacy.txt").write_bytes(b"caf\xe9\n")
    diff = read_code_version(scm.path, with_diff=True)[1]
    assert diff is not None and diff.patch == ""
    assert [(f.path, f.reason) for f in diff.omitted] == [
        ("icon.png", "binary"),
        ("legacy.txt", "not UTF-8 text"),
    ]


def test_total_patch_limit(scm: TmpDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patch, "MAX_PATCH_BYTES", 3000)
    scm.gen({"a.py": "1\n"})
    scm.commit()
    scm.gen({"b.py": "x = 1\n" * 300, "c.py": "y = 2\n" * 300, "d.py": "z = 3\n"})
    diff = read_code_version(scm.path, with_diff=True)[1]
    assert diff is not None
    assert "b.py" in diff.patch and "c.py" not in diff.patch
    # The patch is a prefix in path order: d.py would fit but comes after c.py.
    assert diff.omitted == [
        OmittedFile("c.py", 1800, blob_id(scm, "c.py"), "total patch limit"),
        OmittedFile("d.py", 6, blob_id(scm, "d.py"), "total patch limit"),
    ]


def test_patch_applies_to_a_clean_clone(scm: TmpDir, tmp_path: Path) -> None:
    scm.gen({"train.py": "a\nb\nc\n", "old.py": "gone\n", "keep.py": "same\n"})
    commit = scm.commit()
    scm.gen({"train.py": "a\nB\nc\n", "src/new.py": "new\n"})
    (scm.path / "old.py").unlink()
    (scm.path / "blob.bin").write_bytes(b"\0\1\2")
    diff = read_code_version(scm.path, with_diff=True)[1]
    assert diff is not None and [f.path for f in diff.omitted] == ["blob.bin"]
    assert diff.text().startswith("# dvflow: 1 changed file(s)")
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(scm.path), str(clone)], tmp_path)
    run(["git", "checkout", "-q", commit], clone)
    (tmp_path / "run.diff").write_text(diff.text())
    run(["git", "apply", str(tmp_path / "run.diff")], clone)
    assert (clone / "train.py").read_text() == "a\nB\nc\n"
    assert (clone / "src/new.py").read_text() == "new\n"
    assert not (clone / "old.py").exists()
    assert not (clone / "blob.bin").exists()


def test_credential_files_are_named_and_left_out_source_code_is_not(scm: TmpDir) -> None:
    scm.gen({"a.py": "1\n"})
    scm.commit()
    scm.gen(
        {
            "tokenizer.py": "def tokenize(): ...\n",
            "secret_sharing.py": "def share(): ...\n",
            ".env": "API_KEY=hunter2-in-env\n",
            "deploy/id_rsa": "PRIVATE-hunter3\n",
        }
    )
    diff = read_code_version(scm.path, with_diff=True)[1]
    assert diff is not None
    assert "def tokenize" in diff.patch and "def share" in diff.patch
    assert [(f.path, f.blob, f.reason) for f in diff.omitted] == [
        (".env", None, "credential file"),
        ("deploy/id_rsa", None, "credential file"),
    ]
    text = diff.text()
    assert '".env"' in text and '"deploy/id_rsa"' in text
    assert "hunter2" not in text and "hunter3" not in text


def test_kept_paths_count_as_committed(scm: TmpDir) -> None:
    scm.gen(
        {
            "train.py": "lr = 1\n",
            "dvc.lock": "schema: '2.0'\n",
            "metrics.json": '{"acc": 0.5}\n',
            "plots/loss.csv": "1\n",
        }
    )
    scm.commit()
    # What DVC does to git-tracked files while `dvc repro` runs.
    scm.gen({"dvc.lock": "schema: '2.0'\nstages: {}\n", "metrics.json": '{"acc": 0.9}\n'})
    (scm.path / "plots/loss.csv").unlink()
    scm.gen({"plots/new.csv": "2\n"})
    keep = ["dvc.lock", "metrics.json", "plots"]
    version, diff = read_code_version(scm.path, with_diff=True, keep=keep)
    assert version.dirty is False
    assert version.fingerprint == scm.git("rev-parse", "HEAD^{tree}")
    assert diff is None
    assert read_code_version(scm.path)[0].dirty is True

    scm.gen({"train.py": "lr = 2\n"})
    version, diff = read_code_version(scm.path, with_diff=True, keep=keep)
    assert version.dirty is True
    assert diff is not None and diff.omitted == []
    assert "+lr = 2" in diff.patch and "acc" not in diff.patch and "plots" not in diff.patch
    scm.git("commit", "-q", "-m", "code only", "--", "train.py")
    assert commits_with_tree(scm.path, version.fingerprint) == [scm.git("rev-parse", "HEAD")]


def test_remote_without_origin_is_the_first_one(scm: TmpDir) -> None:
    assert read_code_version(scm.path)[0].remote_url is None
    scm.git("remote", "add", "upstream", "https://tok@git.example.com/up.git")
    scm.git("remote", "add", "fork", "https://git.example.com/fork.git")
    assert read_code_version(scm.path)[0].remote_url == "https://git.example.com/fork.git"
    scm.git("config", "url.https://mirror.example.com/.insteadOf", "https://git.example.com/")
    scm.git("remote", "add", "origin", "https://git.example.com/o.git")
    assert read_code_version(scm.path)[0].remote_url == "https://mirror.example.com/o.git"
