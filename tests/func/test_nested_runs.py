"""`dvflow.start_run(nested=True)`: a child of the active run, as MLflow's own."""

from typing import Any

import pytest

import dvflow
from dvflow.errors import DvflowError
from dvflow.tracking import schema as tags
from tests.conftest import TmpDir, all_runs

pytestmark = pytest.mark.slow  # imports mlflow and writes a store


def test_nested_runs_are_children_and_a_second_top_run_is_refused(scm: TmpDir, client: Any) -> None:
    scm.gen({"params.yaml": "lr: 0.1\n"})
    scm.commit("params")
    with dvflow.start_run(run_name="search") as parent:
        for fold in range(2):
            with dvflow.start_run(run_name=f"fold-{fold}", nested=True) as child:
                dvflow.log_metrics({"acc": 0.5 + fold})
                assert child.info.run_id != parent.info.run_id
        with pytest.raises(DvflowError, match="nested=True"):
            dvflow.start_run()
        dvflow.log_metrics({"best": 1.5})  # the parent is active again
    runs = {r.info.run_name: r for r in all_runs(client)}
    assert set(runs) == {"search", "fold-0", "fold-1"}
    for name in ("fold-0", "fold-1"):
        assert runs[name].data.tags[tags.PARENT_RUN_ID] == parent.info.run_id
        assert runs[name].info.status == "FINISHED"
    assert runs["fold-1"].data.metrics == {"acc": 1.5}
    assert runs["search"].data.metrics == {"best": 1.5}
    assert runs["search"].data.tags[tags.KIND] == tags.KIND_SCRIPT
