"""The tags of a model version registered by dvflow (documented in docs/team.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dvflow.registry.gate import Gap
    from dvflow.registry.source import ModelSource

MODEL_PATH = "dvflow.model.path"
MODEL_HASH = "dvflow.model.dvc_hash"
MODEL_HASH_NAME = "dvflow.model.hash_name"
MODEL_COMMIT = "dvflow.model.commit"
MODEL_REMOTE = "dvflow.model.dvc_remote"
MODEL_LOCATION = "dvflow.model.location"
MODEL_REFERENCE = "dvflow.model.reference"
# Set only by --force: the gaps the gate found, by name (comma-separated).
FORCED = "dvflow.publish.forced"


def version_tags(
    model: ModelSource, commit: str | None, reference: bool, gaps: list[Gap]
) -> dict[str, str]:
    """The tags of a new model version."""
    found = {
        MODEL_PATH: model.path,
        MODEL_HASH: model.hash,
        MODEL_HASH_NAME: model.hash_name,
        MODEL_REFERENCE: "true" if reference else "false",
    }
    if commit:
        found[MODEL_COMMIT] = commit
    if model.remote_url:
        found[MODEL_REMOTE] = model.remote_url
    if model.location:
        found[MODEL_LOCATION] = model.location
    if gaps:
        found[FORCED] = ",".join(sorted({gap.name for gap in gaps}))
    return found
