"""The code part of a snapshot, on real git repositories."""

from pathlib import Path

from dvflow.snapshot.code import commits_with_tree, read_code_version
from tests.conftest import TmpDir, run


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
    assert diff is not None and "+print(2)" in diff


def test_untracked_file_counts_ignored_file_does_not(scm: TmpDir) -> None:
    scm.gen({".gitignore": "*.log\n", "a.py": "x = 1\n"})
    scm.commit()
    scm.gen({"debug.log": "noise\n"})
    assert read_code_version(scm.path)[0].dirty is False
    scm.gen({"new.py": "y = 2\n"})
    version, diff = read_code_version(scm.path, with_diff=True)
    assert version.dirty is True
    assert diff is not None and "new.py" in diff


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
