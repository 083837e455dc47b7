"""The night's regressions.md on the published dashboard: ``html/regressions/``, linked from asv's index.

``scripts/nightly`` publishes the dashboard before the gate runs, so the
report reaches the html only through this page, written after the gate (and
before the html is pushed): ``regressions.md`` as it is in the report dir, but
with each slowdown linked to its graph on the dashboard (``../index.html#...``,
both commits marked), and ``index.html``, the same rendered (markdown-it, which
rich brings), each "Where the cost went" section with its own anchor
(``#finding-1``, ...). asv's index page gets a fixed link to it.
"""

import dataclasses
import html
import re
from pathlib import Path

from . import asv_index
from . import results as resultslib

FOLDER = "regressions"
LINK_ID = "pyhfbench-regressions-link"
STYLE = ("body{font-family:sans-serif;margin:1.5em;max-width:1200px;color:#222}"
         "table{border-collapse:collapse;margin:.5em 0 1em}"
         "td,th{border:1px solid #ccc;padding:3px 8px;font-size:88%}th{background:#f0f3f8}")


def render(markdown):
    """HTML of the report's markdown; the h3 sections numbered as anchors ``finding-N``."""
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # rich brings it; without it, the text as it is
        return f"<pre>{html.escape(markdown)}</pre>"
    # No raw HTML from the report (commit subjects are pyhf's): the rules' <details> is a heading.
    markdown = markdown.replace("<details><summary>Gate rules</summary>", "#### Gate rules")
    markdown = markdown.replace("</details>", "")
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    counter = iter(range(1, 10_000))
    return re.sub(r"<h3>", lambda m: f'<h3 id="finding-{next(counter)}">', body)


def add_regressions_page(report, html_dir):
    """Write ``html_dir/regressions/`` for ``report`` and link it; None where nothing is published."""
    html_dir = Path(html_dir)
    if not (html_dir / "index.html").is_file():
        return None
    markdown = dataclasses.replace(report, dashboard_url="..").to_markdown() + "\n"
    out = html_dir / FOLDER
    out.mkdir(parents=True, exist_ok=True)
    resultslib.atomic_write_text(out / "regressions.md", markdown)
    page = ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>pyhf benchmarks: regressions on {html.escape(report.machine)}</title>"
            f'<link rel="icon" href="data:,"><style>{STYLE}</style></head><body>\n'
            '<p><a href="../index.html">back to the benchmarks</a> · '
            '<a href="regressions.md">Markdown</a></p>\n'
            f"{render(markdown)}</body></html>\n")
    index = resultslib.atomic_write_text(out / "index.html", page)
    asv_index.add_link(html_dir / "index.html", LINK_ID, f"{FOLDER}/index.html",
                       "Regressions of the last night", bottom=64)
    return index
