"""Pages this project adds to asv's dashboard after ``asv publish`` (which wipes html/)."""

from .report import add_report_pages
from .utilization_pages import add_utilization_pages


def add_project_pages(results_dir, html_dir, machine=None):
    """The utilization time series and the backend report, each linked from asv's index page.

    Returns the paths of the two index pages.
    """
    utilization = add_utilization_pages(results_dir, html_dir)
    report = add_report_pages(results_dir, html_dir, machine=machine)
    return utilization, report
