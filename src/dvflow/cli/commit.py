"""``dvflow commit``: the commit workflow as one command."""

from __future__ import annotations

import click

from dvflow.cli.output import emit_json, json_option


@click.command("commit")
@click.option("-m", "--message", required=True, help="The commit message.")
@click.option("--push", is_flag=True, help="Then 'dvc push', and 'git push' only if it worked.")
@click.option("--repro", is_flag=True, help="Run 'dvflow repro' first.")
@json_option
def commit_command(message: str, push: bool, repro: bool, as_json: bool) -> None:
    """Commit code, params, dvc.lock and .dvc files together, and bind runs to the commit."""
    from dvflow.commit import CommitOptions, commit_project
    from dvflow.errors import TrackingStoreError

    if as_json and repro:
        from dvflow.cli.repro import stdout_to_stderr

        with stdout_to_stderr():
            result = commit_project(CommitOptions(message, push=push, repro=repro))
    else:
        result = commit_project(CommitOptions(message, push=push, repro=repro))
    binding = result.binding
    if as_json:
        emit_json(
            {
                "commit": result.commit,
                "tree": result.tree,
                "staged": [d.__dict__ for d in result.plan.decisions if d.staged],
                "left_unstaged": [d.__dict__ for d in result.plan.left],
                "bound_runs": binding.bound if binding else [],
                "kept_bound_runs": binding.kept if binding else [],
                "pushed": result.push.__dict__ if result.push else None,
                "repro_run_id": result.repro_run_id,
            }
        )
    else:
        _print(result)
    if result.commit is None and not push:
        from dvflow.commit.workflow import CommitError

        raise CommitError(
            "nothing to commit: no change, or only changes that do not belong in a commit "
            "(listed above as left unstaged)."
        )
    if result.binding_error:
        raise TrackingStoreError(
            "of this project",
            f"committed {result.commit}, but binding its runs failed: {result.binding_error}",
        )


def _print(result: object) -> None:
    from dvflow.commit import CommitResult

    assert isinstance(result, CommitResult)
    echo = click.echo
    staged = [d for d in result.plan.decisions if d.staged]
    if staged:
        echo("staged:")
        for d in staged:
            echo(f"  {d.path}  ({d.reason})")
    if result.plan.left:
        echo("left unstaged:")
        for d in result.plan.left:
            echo(f"  {d.path}  ({d.reason})")
    if result.commit:
        echo(f"dvflow: committed {result.commit[:12]} (tree {result.tree})")
    else:
        echo("dvflow: nothing to commit")
    binding = result.binding
    if binding is not None:
        if binding.note:
            echo(f"dvflow: no run to bind: {binding.note}")
        elif binding.bound or binding.kept:
            if binding.bound:
                echo(f"dvflow: bound {len(binding.bound)} run(s) to {binding.commit[:12]}:")
                for run_id in binding.bound:
                    echo(f"  {run_id}")
            if binding.kept:
                echo(f"dvflow: {len(binding.kept)} run(s) stay bound to an earlier commit")
        else:
            echo("dvflow: no run recorded this exact state (nothing bound)")
    if result.push:
        push = result.push
        echo(
            f"dvflow: pushed {push.dvc_files} file(s) to the DVC remote, "
            f"then git to {push.git_remote}/{push.git_branch}"
        )
