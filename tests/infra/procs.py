"""Which processes are still alive in given process groups (read from /proc)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def processes_in_groups(groups: Iterable[int]) -> dict[int, str]:
    """pid → command line of every live (non-zombie) process whose process group is in `groups`."""
    wanted = set(groups)
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue  # gone while we looked
        # The command name in parentheses may contain spaces: fields after the last ')' are fixed.
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) in wanted and state != "Z":
            found[int(entry.name)] = cmdline
    return found


def alive(pids: Iterable[int]) -> list[int]:
    """Those of `pids` that still run (zombies count as gone)."""
    running = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            running.append(pid)
    return running
