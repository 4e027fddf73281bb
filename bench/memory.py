"""Peak memory of one phase: the peak resident set (VmHWM) of the process doing the work, from /proc.

Linux keeps each process's high-water mark of resident memory; writing 5 to /proc/PID/clear_refs
resets it to the current RSS, so reading it after a phase gives that phase's exact peak. The figure is
the whole process: for in-process phases the benchmark itself (interpreter, snapshot, every peer's
imports), for HTTP phases the server. Without /proc (or the right to reset it) the figures are None.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def status_kib(pid: int, field_name: str) -> int | None:
    """A `kB` field of /proc/PID/status (VmRSS, VmHWM), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def reset_peak(pid: int) -> bool:
    """Reset VmHWM (Linux: write 5 to clear_refs) so that it holds the peak from now on."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def mib(kib: int | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


@dataclass
class Peak:
    """VmRSS when the phase began and VmHWM when it ended (None if the reset was refused)."""

    pid: int
    rss_before_kib: int | None = None
    peak_kib: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"rss_before_mib": mib(self.rss_before_kib), "peak_rss_mib": mib(self.peak_kib)}


@contextmanager
def peak_rss(pid: int) -> Iterator[Peak]:
    peak = Peak(pid, status_kib(pid, "VmRSS"))
    exact = reset_peak(pid)
    try:
        yield peak
    finally:
        peak.peak_kib = status_kib(pid, "VmHWM") if exact else None
