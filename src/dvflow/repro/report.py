"""The HTML report of a pipeline run: the plots DVC knows, rendered as ``dvc plots show``
renders them (its vega templates, confusion matrices, ROC curves, images), in one
self-contained file that MLflow's artifact view shows.

DVC's own pieces do the work: ``Repo.plots.show()`` reads the plots, DVC's matcher
pairs them with their templates (``integrations.dvc_internals.plot_renderers``) and
``dvc_render.render_html`` writes the page. Images, which DVC writes beside the page, are
inlined as data URIs so that the report is one artifact, and so are the vega scripts
DVC links from a CDN (``repro/vega/``, the same versions): the report draws offline.
"""

from __future__ import annotations

import base64
import mimetypes
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dvc.repo import Repo

REPORT_ARTIFACT = "report.html"
_IMG_SRC = re.compile(r'(<img\b[^>]*\bsrc=")([^"]+)(")')
_CDN_SCRIPT = re.compile(
    r'<script src="https://cdn\.jsdelivr\.net/npm/(?P<name>[\w-]+)@(?P<version>[\w.-]+)">'
    r"\s*</script>"
)
# The scripts shipped in repro/vega/ (see its README), by the versions dvc_render names.
VENDORED_SCRIPTS = {"vega": "5.20.2", "vega-lite": "5.2.0", "vega-embed": "6.18.2"}


def _inline_scripts(html: str) -> str:
    """Replace the CDN links of the vega scripts shipped with dvflow by the scripts
    themselves; a version dvflow does not ship keeps its link."""
    from importlib.resources import files

    def inline(match: re.Match[str]) -> str:
        name, version = match.group("name"), match.group("version")
        if VENDORED_SCRIPTS.get(name) != version:
            return match.group(0)
        script = files("dvflow.repro").joinpath(f"vega/{name}.min.js").read_text("utf-8")
        # A script element ends at the first "</script" whatever the JavaScript says.
        script = script.replace("</script", "<\\/script")
        return f"<script>{script}</script>"

    return _CDN_SCRIPT.sub(inline, html)


def _inline_images(html: str, folder: Path) -> str:
    """Replace each ``<img src="relative/path">`` by the image's bytes as a data URI."""

    def inline(match: re.Match[str]) -> str:
        source = match.group(2)
        path = (folder / source).resolve()
        if source.startswith("data:") or not path.is_file():
            return match.group(0)
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"{match.group(1)}data:{kind};base64,{data}{match.group(3)}"

    return _IMG_SRC.sub(inline, html)


def plots_report(repo: Repo) -> str | None:
    """The page ``dvc plots show`` would write for the workspace, self-contained; None
    when the project declares no plots."""
    from dvflow.integrations.dvc_internals import declares_top_level_plots, plot_renderers

    # Collecting plots costs half a second even when there are none: ask first.
    if not any(True for _ in repo.index.plots) and not declares_top_level_plots(repo):
        return None
    data = repo.plots.show()
    with tempfile.TemporaryDirectory(prefix="dvflow-report-") as tmp:
        folder = Path(tmp)
        renderers = plot_renderers(repo, data, folder / "static")
        if not renderers:
            return None
        from dvc_render import render_html

        page = folder / "index.html"
        render_html(renderers=renderers, output_file=page)
        return _inline_scripts(_inline_images(page.read_text(encoding="utf-8"), folder))
