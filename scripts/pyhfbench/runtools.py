"""The nightly's small tools: its errors, log, commands, JSON files and lock."""

import contextlib
import datetime
import errno
import fcntl
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from . import results as resultslib


class NightlyError(RuntimeError):
    """The run cannot go on (exit status 2)."""


class LockBusy(NightlyError):
    pass


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def stamp():
    return utcnow().strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}"


class Log:
    """Timestamped lines to stdout and to the run's log file."""

    def __init__(self, path=None):
        self.path = path
        self.handle = None
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.handle = open(path, "a", buffering=1)

    def __call__(self, message):
        line = f"[nightly {utcnow().strftime('%H:%M:%S')}] {message}"
        print(line, flush=True)
        self.raw(line + "\n")

    def raw(self, text):
        if self.handle:
            self.handle.write(text)

    def close(self):
        if self.handle:
            self.handle.close()


def run_cmd(args, log=None, check=True, cwd=None, env=None, error=NightlyError):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                            env=env)
    shown = _redact(" ".join(str(a) for a in args))
    if log:
        log.raw(f"$ {shown}\n{_redact(result.stdout)}{_redact(result.stderr)}")
    if check and result.returncode != 0:
        raise error(f"{shown[:200]} failed ({result.returncode}): "
                    f"{_redact(result.stderr.strip()[-2000:])}")
    return result


def git(repo, *args, log=None, check=True, error=NightlyError):
    """``git -C repo args``; ``error`` (the caller's own error type) where it fails and ``check``."""
    return run_cmd(["git", "-C", repo, *args], log=log, check=check, error=error)


def atomic_write_json(path, data, indent=2):
    return resultslib.atomic_write_text(path, json.dumps(data, indent=indent) + "\n")


def read_json(path, default=None):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return default


def _redact(text):
    """Hide credentials in URLs (https://user:token@host) before they reach a log."""
    return re.sub(r"//[^/@\s]+@", "//***@", text)


def describe_exit(rc):
    """An exit status as words: a negative one is the signal that killed the process."""
    if rc is not None and rc < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-rc).name} ({rc})"
        return f"signal {-rc} ({rc})"
    return str(rc)


class RunLock:
    """Exclusive ``flock`` on the workdir's lock file and on the results folder.

    The lock belongs to the open file description, so the asv child process
    inherits it (``fds``): an orphaned asv keeps it until it exits, and a
    crashed run releases it with its last process.
    """

    def __init__(self, lock_file, directories=(), wait=0.0):
        self.lock_file = Path(lock_file)
        self.directories = [Path(d) for d in directories]
        self.wait = wait
        self.fds = []

    def _flock(self, fd, what):
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    holder = ""
                    with contextlib.suppress(OSError, ValueError):
                        info = json.loads(self.lock_file.read_text() or "{}")
                        holder = f" (pid {info.get('pid')}, since {info.get('since')})"
                    raise LockBusy(f"another nightly run holds the lock on {what}{holder}") from None
                time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))

    def __enter__(self):
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
            self.fds.append(fd)
            self._flock(fd, self.lock_file)
            for directory in self.directories:
                directory.mkdir(parents=True, exist_ok=True)
                fd = os.open(directory, os.O_RDONLY)
                self.fds.append(fd)
                self._flock(fd, directory)
        except BaseException:
            self.release()
            raise
        os.ftruncate(self.fds[0], 0)
        os.pwrite(self.fds[0], json.dumps(
            {"pid": os.getpid(), "since": utcnow().isoformat(timespec="seconds")}).encode(), 0)
        return self

    def release(self):
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []

    def __exit__(self, *exc):
        self.release()
