"""Where ``scripts/stack-sweep`` keeps its pages, and how a publish takes them along.

A sweep writes its page once, into ``.asv/sweep/<package>/page``; every publish of the
dashboard (``dashboard.finish_dashboard``) copies each page to
``<html>/stack-sweep/<package>/``, so rebuilding the dashboard never loses one.
"""

import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SWEEP_DIR = REPO_ROOT / ".asv" / "sweep"
HTML_FOLDER = "stack-sweep"


def page_dir(package, sweep_dir=SWEEP_DIR):
    return Path(sweep_dir) / package / "page"


def copy_sweep_pages(html_dir, sweep_dir=SWEEP_DIR):
    """Copy every sweep page into ``html_dir``; returns the index pages copied."""
    copied = []
    for page in sorted(Path(sweep_dir).glob("*/page/index.html")) if Path(sweep_dir).is_dir() else ():
        dest = Path(html_dir) / HTML_FOLDER / page.parent.parent.name
        shutil.copytree(page.parent, dest, dirs_exist_ok=True)
        copied.append(dest / "index.html")
    return copied
