"""What the benchmark ran on: the CPU's vector features, and how busy other processes kept it.

A latency ratio is only a result when the timed runtimes had the cores to themselves. The load
average cannot say so (the benchmark's own threads raise it), so ``OtherLoad`` sums the CPU time
every *other* process used during a timed section: psutil's per-process times, taken before and
after, minus this process and its children. Divided by the wall time it is "other work, in cores".
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

# CPU flags that decide how fast int8 runs: VNNI does an int8 dot product in one instruction.
FEATURE_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16")
# Other processes' average CPU use above which ratios are not reported as results: a quarter core
# steals a noticeable share of a 2-thread OpenMP pool (its threads wait for the slowest one).
BUSY_CORES = 0.25


def cpu_features(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """{"model": name, "flags": {flag: bool}} for FEATURE_FLAGS; "unknown" where /proc/cpuinfo is unreadable."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return {"model": "unknown", "flags": {}}
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())  # the first core's lines stand for all
    flags = set(fields.get("flags", "").split())
    return {"model": fields.get("model name", "unknown"), "flags": {f: f in flags for f in FEATURE_FLAGS}}


def describe_features(features: dict) -> str:
    """'Intel Xeon ... (avx2, avx512f, avx512_vnni; no avx_vnni, amx_int8, amx_bf16)'."""
    flags = features.get("flags", {})
    have = [f for f, on in flags.items() if on]
    lack = [f for f, on in flags.items() if not on]
    parts = ", ".join(have) or "none of " + ", ".join(FEATURE_FLAGS)
    return f"{features.get('model', 'unknown')} ({parts}{'; no ' + ', '.join(lack) if lack and have else ''})"


def cpu_seconds_by_process(exclude_root: int | None = None) -> dict[int, float]:
    """{pid: user + system CPU seconds} of every readable process except ``exclude_root`` (default:
    this one) and its descendants."""
    import psutil

    root = os.getpid() if exclude_root is None else exclude_root
    mine = {root}
    try:
        mine |= {p.pid for p in psutil.Process(root).children(recursive=True)}
    except psutil.Error:
        pass
    out = {}
    for proc in psutil.process_iter():
        if proc.pid in mine:
            continue
        try:
            t = proc.cpu_times()
        except psutil.Error:  # gone meanwhile, or not ours to read
            continue
        out[proc.pid] = t.user + t.system
    return out


def other_cores(before: dict[int, float], after: dict[int, float], wall_s: float) -> float:
    """Average cores other processes used between two snapshots ``wall_s`` apart. A process present in
    both counts its difference; one that started meanwhile counts all of its time; one that ended
    meanwhile is lost (an underestimate, said so in the report's wording: "at least")."""
    if wall_s <= 0:
        return 0.0
    used = sum(max(0.0, t - before.get(pid, 0.0)) for pid, t in after.items())
    return used / wall_s


@dataclass
class OtherLoad:
    """A context manager around timed sections; adds up other processes' CPU use over all of them."""

    snapshot: object = cpu_seconds_by_process  # injectable for tests
    clock: object = time.perf_counter
    cpu_s: float = 0.0  # other processes' CPU seconds inside the sections
    wall_s: float = 0.0
    _start: tuple = field(default=(), repr=False)

    def __enter__(self) -> "OtherLoad":
        self._start = (self.snapshot(), self.clock())
        return self

    def __exit__(self, *exc) -> None:
        before, t0 = self._start
        after, t1 = self.snapshot(), self.clock()
        self.wall_s += t1 - t0
        self.cpu_s += other_cores(before, after, 1.0)  # seconds, not yet per wall second

    @property
    def cores(self) -> float:
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict:
        return {"other_processes_cores": round(self.cores, 3), "timed_wall_s": round(self.wall_s, 2),
                "busy_threshold_cores": BUSY_CORES, "ratios_reliable": ratios_reliable(self.cores)}


def ratios_reliable(cores: float, threshold: float = BUSY_CORES) -> bool:
    """Whether other processes left the timed runtimes (nearly) alone."""
    return cores <= threshold


def unreliable_line(cores: float) -> str:
    return (f"ratios unreliable: other processes used {cores:.2f} cores on average during the timed sections "
            f"(more than {BUSY_CORES}); the medians below are raw measurements, not results")
