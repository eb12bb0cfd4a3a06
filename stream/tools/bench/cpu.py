"""CPU accounting from /proc: every process of a phase, and the machine (it is shared)."""

from __future__ import annotations

import os
import time
from typing import Any

from stream.tools.dev import DevStack

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process (all its threads) has used, from /proc/<pid>/stat.

    >>> process_cpu_s(os.getpid()) > 0
    True
    """
    with open(f"/proc/{pid}/stat") as stat:
        # the command name (field 2) may hold spaces; the fields after it are space-separated
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S  # utime, stime


def machine_busy_s() -> float:
    """CPU seconds all cores of the machine spent busy (not idle or iowait), from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLOCK_TICKS_PER_S


class CpuMeter:
    """CPU seconds of named processes between ``start()`` and ``stop()``, with the wall time
    and the machine's busy seconds over the same interval (what other work took is the rest)."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid}
        self._before: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        now = {"wall": time.perf_counter(), "machine": machine_busy_s()}
        for name, pid in self.pids.items():
            try:
                now[name] = process_cpu_s(pid)
            except OSError:  # exited
                now[name] = self._before.get(name, 0.0)
        return now

    def start(self) -> CpuMeter:
        self._before = self._read()
        return self

    def stop(self) -> dict[str, Any]:
        after = self._read()
        spent = {name: round(after[name] - self._before[name], 2) for name in self.pids}
        wall_s = after["wall"] - self._before["wall"]
        machine_s = after["machine"] - self._before["machine"]
        ours_s = sum(spent.values())
        return {
            "wall_s": round(wall_s, 2),
            "cpu_s": spent,
            "cores_busy_ours": round(ours_s / wall_s, 2) if wall_s else 0.0,
            "cores_busy_machine": round(machine_s / wall_s, 2) if wall_s else 0.0,
            "cores_busy_other_work": round(max(0.0, machine_s - ours_s) / wall_s, 2)
            if wall_s
            else 0.0,
        }


def stack_pids(stack: DevStack) -> dict[str, int | None]:
    pids: dict[str, int | None] = {
        "broker": stack.kafka.pid if stack.kafka else None,
        "redis": stack.redis.pid if stack.redis else None,
    }
    for i, worker in enumerate(stack.workers):
        pids[f"worker{i}"] = worker.process.pid
    pids["bench (publisher)"] = os.getpid()
    return pids


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB, from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0
