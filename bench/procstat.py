"""What a process costs, read from /proc by PID: CPU seconds (utime + stime) and resident
memory (VmRSS now, VmHWM its peak), and a sampler that watches them during a drain."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (its threads included, not its children)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / _TICK  # fields 14 and 15 of proc(5)


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def rss_mb(pid: int) -> float:
    return _status_kb(pid, "VmRSS") / 1024


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most the process ever held resident."""
    return _status_kb(pid, "VmHWM") / 1024


@dataclass
class Sampler:
    """Peak VmRSS of each process and how many turns were in flight at the peak."""

    pids: list[int]
    peak_mb: dict[int, float] = field(default_factory=dict)
    in_flight_at_peak: dict[int, int] = field(default_factory=dict)
    max_in_flight: int = 0

    def sample(self, in_flight: int) -> None:
        self.max_in_flight = max(self.max_in_flight, in_flight)
        for pid in self.pids:
            try:
                now = rss_mb(pid)
            except OSError:
                continue
            if now > self.peak_mb.get(pid, 0.0):
                self.peak_mb[pid] = now
                self.in_flight_at_peak[pid] = in_flight

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)
