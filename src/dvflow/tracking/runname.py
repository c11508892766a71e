"""The names of pipeline runs: MLflow's run list reads like ``dvc exp show``.

``dvc exp show`` names a row by its experiment (``bijou-gear``), else by its branch or
commit, and calls the uncommitted state ``workspace``. A pipeline run is named the same
way, from the code state that made it: the DVC experiment's name when there is one,
else ``<branch>@<short commit>``, marked `` (dirty)`` when the tree had uncommitted
changes. Stage runs keep their stage's address (``train``, ``train@0``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dvflow.snapshot.code import CodeVersion

SHORT_COMMIT = 7  # git's and DVC's short commit length
DIRTY_MARK = " (dirty)"
NO_COMMIT = "workspace"  # dvc exp show's name for the uncommitted state


def pipeline_run_name(code: CodeVersion | None, exp_name: str | None = None) -> str:
    """The name of a pipeline run made from ``code`` (None outside git).

    >>> from dvflow.snapshot.code import CodeVersion
    >>> clean = CodeVersion("1a2b3c4d5e6f", "main", None, False, "tree", False)
    >>> pipeline_run_name(clean)
    'main@1a2b3c4'
    >>> dirty = CodeVersion("1a2b3c4d5e6f", None, None, True, "tree", False)
    >>> pipeline_run_name(dirty)
    '1a2b3c4 (dirty)'
    >>> pipeline_run_name(clean, exp_name="bijou-gear")
    'bijou-gear'
    >>> pipeline_run_name(None)
    'workspace'
    """
    if exp_name:
        return exp_name
    if code is None or not code.commit:
        return NO_COMMIT
    short = code.commit[:SHORT_COMMIT]
    name = f"{code.branch}@{short}" if code.branch else short
    return name + (DIRTY_MARK if code.dirty else "")
