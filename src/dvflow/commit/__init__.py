"""``dvflow commit``: code, params, ``dvc.lock`` and ``.dvc`` files in one commit, the
runs that recorded that state bound to it, and DVC's data pushed before git."""

from dvflow.commit.workflow import CommitOptions, CommitResult, commit_project

__all__ = ["CommitOptions", "CommitResult", "commit_project"]
