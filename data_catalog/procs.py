"""Process identity for job liveness: is the process that wrote a job row still the same one?

A pid alone is not enough (pids are reused), so a job row also stores its process's start time,
read from `/proc/<pid>/stat` (field 22, `starttime`, in clock ticks since boot) where Linux's
procfs exists; elsewhere `process_start` is None and only the pid is checked. A zombie (killed,
not yet reaped by its parent) counts as gone.
"""

from __future__ import annotations

import os
import socket


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of `/proc/<pid>/stat` (after the parenthesised command name), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def process_start(pid: int | None = None) -> int | None:
    """Start time of `pid` (default: this process) in clock ticks since boot; None if unknown."""
    fields = _stat_fields(os.getpid() if pid is None else int(pid))
    if not fields or len(fields) < 20 or not fields[19].isdigit():
        return None
    return int(fields[19])  # field 22 of stat(5); fields[0] is field 3


def host_name() -> str:
    """This machine's name: a pid means something only on the host that recorded it."""
    return socket.gethostname()


def process_alive(pid: int | None, start: int | None = None) -> bool | None:
    """Whether `pid` runs and, when `start` is given and readable, is the same process.

    None when unknown (no pid recorded). A zombie or a reused pid (other start time) is gone.
    """
    if not pid:
        return None
    pid = int(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    fields = _stat_fields(pid)
    if fields is None:  # gone since the kill(0), or no procfs (then the pid is all we have)
        return not os.path.exists("/proc/self/stat")
    if fields[0] == "Z":
        return False
    now_start = process_start(pid)
    return start is None or now_start is None or int(start) == now_start
