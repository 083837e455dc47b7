"""Run asv's command line, optionally with its machine file somewhere else.

asv keeps the machines it knows in ``~/.asv-machine.json`` and rewrites that
file on every ``asv run``. Tests and side-by-side runs on a shared host must
not touch each other's file, so ``scripts/nightly --machine-file PATH`` calls
asv through this module, which points asv at ``PATH``. Usage::

    python scripts/pyhfbench/asvcall.py MACHINE_FILE|- ASV_ARGS...

(``-`` keeps asv's default file). Nothing else about asv changes.
"""

import sys


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print("usage: asvcall.py MACHINE_FILE|- ASV_ARGS...", file=sys.stderr)
        return 2
    machine_file, asv_args = argv[0], argv[1:]
    if machine_file != "-":
        from asv import machine

        machine.MachineCollection.get_machine_file_path = staticmethod(lambda: machine_file)
    from asv.main import main as asv_main

    sys.argv = ["asv", *asv_args]
    return asv_main()


if __name__ == "__main__":
    sys.exit(main())
