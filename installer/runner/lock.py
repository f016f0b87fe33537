"""One kinstall run per cluster at a time. The lock is an flock on a file in the cluster's state
directory, so the kernel releases it when its holder dies; the file also tells who holds it."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from installer.errors import ExitCode, KinstallError


class Locked(KinstallError):
    exit_code = ExitCode.LOCKED


class ClusterLock:
    def __init__(self, directory: Path, command: str):
        self.path = directory / "lock"
        self.command = command
        self.handle = None
        self.took_over: dict | None = None  # what a dead holder had left, when we took its place

    def __enter__(self) -> ClusterLock:
        self.handle = open(self.path, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._read()
            self.handle.close()
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("started", 0)))
            raise Locked(f"another kinstall run holds this cluster's lock: pid {holder.get('pid', '?')} on "
                         f"{holder.get('host', '?')}, running `{holder.get('command', '?')}` since {since}; "
                         f"wait for it to finish (lock file {self.path})") from None
        previous = self._read()
        if previous.get("pid") and previous.get("pid") != os.getpid():
            self.took_over = previous  # its process is gone, or the kernel would still hold the flock
        self.handle.seek(0)
        self.handle.truncate()
        json.dump({"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                   "started": time.time()}, self.handle)
        self.handle.flush()
        return self

    def _read(self) -> dict:
        self.handle.seek(0)
        try:
            return json.loads(self.handle.read() or "{}")
        except json.JSONDecodeError:
            return {}

    def __exit__(self, *exc) -> None:
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.flush()
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()
