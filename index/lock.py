"""One process at a time on an embedded store: an inter-process lock on ``<store>/.qa-lock``.

Embedded Chroma (``PersistentClient``) keeps each collection's vector index in the memory of
the process that opened it and writes it back from there: two processes writing one store
lose each other's vectors (``Error getting embedding`` from then on), and a process that has
the store open while another writes answers from a stale index (``Error finding id``).
So the first process that opens an embedded store holds it until it exits; the lock is an
``flock`` on the lock file, which the kernel releases when the process ends, however it ends.
A process that finds the store held waits its turn (a command-line ingest, a question), but
not for a process that serves the app, which never lets go: it is told at once what to do.
Several processes on one library is what a Chroma server (``chroma run``) is for.

Inside one process every ``Store`` on the path shares the one lock, and it is kept until exit:
Chroma caches its client per path for the life of the process, so letting another process
write in between would leave that cache stale.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

LOCK_FILE = ".qa-lock"  # hidden: ingesting a folder that holds the store must not read it
POLL = 0.2  # seconds between tries while waiting

_held: dict[Path, int] = {}  # resolved store path -> open file descriptor holding the lock
_held_lock = threading.Lock()


class StoreBusy(OSError):
    """The store is held by another process (one that serves the app, or past the wait)."""


@dataclass
class Holder:
    """Who holds a store, as it wrote itself into the lock file."""

    pid: int = 0
    owner: str = ""  # "qa ingest", "qa serve", "app.py", …
    url: str = ""  # set once it serves the app: it will not let go

    def describe(self) -> str:
        who = f"`{self.owner}`" if self.owner else "another process"
        return f"{who}, pid {self.pid}" if self.pid else who


def read_holder(store: Path) -> Holder:
    try:
        info = json.loads((store / LOCK_FILE).read_text(encoding="utf-8") or "{}")
        return Holder(int(info.get("pid") or 0), str(info.get("owner") or ""), str(info.get("url") or ""))
    except (OSError, ValueError, AttributeError):
        return Holder()  # written this instant, or not by us


def served_elsewhere(store: Path, holder: Holder) -> str:
    """The one line for a process that finds the store held by the app."""
    return (
        f"the store {store} is open in {holder.describe()}, serving {holder.url}; an embedded store is open in one process at a time. "
        f"Add articles with the app's upload and ask there (or on its /ask API), or stop it, serve the store with "
        f"`chroma run --path {store}` and point every process, the app too, at it with --chroma-host/--chroma-port"
    )


def acquire(store: Path, owner: str, wait: float, on_wait: Callable[[str], None]) -> None:
    """Hold ``store`` for this process until it exits. Waits up to ``wait`` seconds for another
    holder (calling ``on_wait`` once with the reason); raises ``StoreBusy`` at once when the
    holder serves the app, or when the wait runs out."""
    key = store.resolve()
    with _held_lock:
        if key in _held:
            return
        fd = os.open(key / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _wait_for(fd, key, wait, on_wait)
        except BaseException:
            os.close(fd)
            raise
        _held[key] = fd
        _write(fd, Holder(os.getpid(), owner))


NAME_GRACE = 1.0
"""Seconds a waiter gives a new holder to write its name into the lock file (it takes the lock
first), so that the waiting line names it rather than "another process" or the one before."""


def _wait_for(fd: int, store: Path, wait: float, on_wait: Callable[[str], None]) -> None:
    started = time.monotonic()
    deadline = started + wait
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        holder = read_holder(store)
        if holder.url and alive(holder.pid):  # (a dead server's note stays in the file until the next holder)
            raise StoreBusy(served_elsewhere(store, holder))
        if time.monotonic() >= deadline:
            raise StoreBusy(
                f"gave up waiting for the store {store} after {wait:g} s: still held by {holder.describe()}; "
                f"try again when it has finished, or wait longer (--wait SECONDS); a process that never lets go "
                f"(a notebook, a server of your own) shares the store only through `chroma run --path {store}` and --chroma-host"
            )
        if not told and (holder.pid and alive(holder.pid) or time.monotonic() >= started + NAME_GRACE):
            on_wait(f"waiting for the store {store}: held by {holder.describe()} (up to {wait:g} s)")
            told = True
        time.sleep(POLL)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, owned by someone else
    return True


def announce(store: Path, url: str) -> None:
    """Say in the lock file that this process serves the app at ``url`` (so others stop waiting)."""
    key = store.resolve()
    with _held_lock:
        fd = _held.get(key)
        if fd is not None:
            holder = read_holder(key)
            _write(fd, Holder(os.getpid(), holder.owner, url))


def _write(fd: int, holder: Holder) -> None:
    data = json.dumps({"pid": holder.pid, "owner": holder.owner, "url": holder.url}).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def holds(store: Path) -> bool:
    """Does this process hold ``store``?"""
    return store.resolve() in _held
