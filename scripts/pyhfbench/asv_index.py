"""Links this project adds to the index page of asv's dashboard."""

from pathlib import Path

LINK_STYLE = ("position:fixed;bottom:{bottom}px;right:12px;z-index:1000;background:#fff;"
              "padding:2px 6px;border:1px solid #ccc;font-family:sans-serif;font-size:90%")


def add_link(index_html, link_id, href, text, bottom=8):
    """Put a fixed link on asv's ``index.html`` (once; ``link_id`` tells whether it is there).

    Returns False where there is no index page (asv publish has not run).
    """
    index_html = Path(index_html)
    if not index_html.is_file():
        return False
    page = index_html.read_text()
    if link_id in page:
        return True
    link = f'<a id="{link_id}" href="{href}" style="{LINK_STYLE.format(bottom=bottom)}">{text}</a>'
    page = page.replace("</body>", link + "\n</body>", 1) if "</body>" in page else page + link
    from .results import atomic_write_text

    atomic_write_text(index_html, page)  # a reader never sees half a page
    return True
