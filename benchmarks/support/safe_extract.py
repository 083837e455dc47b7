"""Extracting archives into a folder and nowhere else, whatever the Python version.

Checking member names lexically is not enough: a chain of links
(``sub/up -> ..``, ``sub/L -> up/..``, then ``sub/L/x``) passes a lexical check
and writes outside. Here every member is resolved against the real target
folder as the members before it were laid out (links followed, with
``os.path.realpath``), just before it is written, and one at a time:

* a member is written only where the real path of its folder, and of itself
  where something is there already, lies inside the target;
* a symbolic link only where its target, resolved from where it stands, lies
  inside; a hard link only to a member inside;
* afterwards every link in the tree must still resolve inside.

Python's own ``data`` filter (3.11.4 and later) is applied on top where it exists.
Used by the pallet extractor (``pallets.unpack``) and the local-repository
builder (``scripts/pyhfbench/localrepo.py``). Standard library only: asv imports
this inside every per-commit environment.
"""

import os
import tarfile


def inside(root, path):
    """Whether the real path ``path`` is the real folder ``root`` or lies under it."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def check_member(root, name, refuse, link=None, symbolic=True):
    """Refuse (``refuse(name, why)``, which raises) a member that would be written outside
    ``root`` (a real path) as the folder is laid out now; ``link``: a link's target."""
    path = os.path.join(root, name.replace("\\", "/"))
    parent = os.path.realpath(os.path.dirname(path))
    if not inside(root, parent):
        refuse(name, f"would be written through a link to {parent}, outside the target folder")
    here = os.path.join(parent, os.path.basename(path))
    if link is None and os.path.lexists(here) and not inside(root, os.path.realpath(here)):
        refuse(name, f"would be written through a link to {os.path.realpath(here)}, "
                     "outside the target folder")
    if link is not None:
        base = parent if symbolic else root
        target = os.path.realpath(os.path.join(base, link))
        if os.path.isabs(link) or not inside(root, target):
            refuse(name, f"links to {link!r}, which resolves to {target}, outside the target folder")


def check_links(root, refuse):
    """Refuse the tree under ``root`` if any link in it resolves outside ``root``."""
    for folder, dirs, files in os.walk(root):
        for entry in dirs + files:
            path = os.path.join(folder, entry)
            if os.path.islink(path) and not inside(root, os.path.realpath(path)):
                refuse(os.path.relpath(path, root),
                       f"links to {os.readlink(path)!r}, outside the target folder")


def extract_tar(tar, members, dest, refuse):
    """Extract ``members`` of the open ``tar`` into the existing folder ``dest``, checking each
    against the real layout just before it is written. ``refuse(name, why)`` must raise."""
    root = os.path.realpath(dest)
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    directories = []
    for member in members:
        if member.issym():
            check_member(root, member.name, refuse, link=member.linkname)
        elif member.islnk():
            check_member(root, member.name, refuse, link=member.linkname, symbolic=False)
        else:
            check_member(root, member.name, refuse)
        if member.isdir():
            directories.append(member)
        tar.extract(member, root, set_attrs=not member.isdir(), **safe)
    for member in reversed(directories):  # as extractall: a read-only folder set last
        check_member(root, member.name, refuse)
        tar.extract(member, root, **safe)
    check_links(root, refuse)


def extract_zip(zipped, infos, dest, refuse):
    """Extract ``infos`` of the open ZipFile ``zipped`` into the existing folder ``dest``, each
    checked against the real layout (zipfile writes no links)."""
    root = os.path.realpath(dest)
    for info in infos:
        check_member(root, info.filename, refuse)
        zipped.extract(info, root)
    check_links(root, refuse)
