"""Build aside, swap in: folders that readers see whole, old or new, never half of one.

``built_aside(dest)`` gives an empty folder beside ``dest`` (the same file
system); when the block ends without an error that folder takes ``dest``'s
place in two renames (the old one is moved aside, then removed), and on any
error it is removed and ``dest`` is left exactly as it was. Where ``dest`` is a
symbolic link (the nightly's ``html``), the folder it points to is replaced and
the link stays.

``refuse_foreign(dest, ours)``: an output folder that holds files this project
did not write is refused (``ForeignFolder``), never emptied.

Standard library only.
"""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


class ForeignFolder(RuntimeError):
    """An output folder holds files the command did not write: it refuses to replace them."""


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def real_folder(dest):
    """The folder ``dest`` names: itself, or where its symbolic link points."""
    dest = Path(dest)
    return Path(os.path.realpath(dest)) if dest.is_symlink() else dest.absolute()


def swap_in(new, dest):
    """Put the folder ``new`` in the place of ``dest`` (which may not exist); remove the old one.

    Two renames on the same file system: a failed second one puts the old folder back.
    """
    new, dest = Path(new), Path(dest)
    aside = None
    if dest.exists() or dest.is_symlink():
        aside = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
        aside.rmdir()
        os.replace(dest, aside)
    try:
        os.replace(new, dest)
    except BaseException:
        if aside is not None:
            os.replace(aside, dest)
        raise
    if aside is not None:
        if aside.is_dir() and not aside.is_symlink():
            shutil.rmtree(aside, ignore_errors=True)
        else:
            aside.unlink()
    return dest


@contextlib.contextmanager
def built_aside(dest):
    """Yield a new empty folder beside ``dest``; swap it in when the block succeeds."""
    real = real_folder(dest)
    real.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{real.name}.new-", dir=real.parent))
    os.chmod(work, 0o777 & ~_umask())  # mkdtemp's 0700 would hide a published site
    try:
        yield work
        swap_in(work, real)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def refuse_foreign(dest, ours, what="output folder"):
    """Raise ForeignFolder unless ``dest`` is missing, empty, or ``ours(dest)`` says it is ours."""
    dest = Path(dest)
    if not dest.exists():
        return
    if not dest.is_dir():
        raise ForeignFolder(f"{dest}: the {what} is a file, not a folder; refusing to replace it")
    if not any(dest.iterdir()) or ours(dest):
        return
    raise ForeignFolder(f"{dest}: the {what} holds files this command did not write; refusing "
                        "to replace them (choose an empty or new folder)")
