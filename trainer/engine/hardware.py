"""Hardware sampling on its own thread: GPUs through NVML, else CPU and RAM.

A sample that fails is reported as missing, never raised: sampling must not block or fail
the run (nvitop's rule). No torch here.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Callable

from .cuda_devices import PhysicalGpu, VisibleGpu, visible_devices

_FROM_ENV = object()  # GpuProbe's default: this process's own CUDA_VISIBLE_DEVICES


class GpuProbe:
    """Per-GPU utilization, memory (the device's and this process tree's), temperature and power
    through NVML, for the GPUs CUDA_VISIBLE_DEVICES lets this process see, labelled as CUDA numbers them.

    ``nvml`` is pynvml's API (imported when not given); ``visible`` the CUDA_VISIBLE_DEVICES value
    (None: unset); ``pid`` the process whose GPU memory, with its children's, is ``proc_mem``."""

    def __init__(self, nvml=None, visible=_FROM_ENV, pid: int | None = None):
        self.devices: list[tuple[VisibleGpu, object]] = []
        self.note = ""
        self.pid = os.getpid() if pid is None else pid
        if visible is _FROM_ENV:
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        try:
            if nvml is None:
                import pynvml as nvml

            nvml.nvmlInit()
            self.nvml = nvml
            physical, handles = _physical_gpus(nvml)
            self.devices = [(v, handles[v.physical_index, v.mig_index]) for v in visible_devices(visible, physical)]
        except Exception as e:  # no driver, no library, no device: all mean "no GPU"
            self.note = f"no GPU: NVML not available ({type(e).__name__})"
            return
        if not physical:
            self.note = "no GPU: NVML sees no devices"
        elif not self.devices:
            self.note = f"no GPU: CUDA_VISIBLE_DEVICES={visible!r} hides all {len(physical)} of this machine's GPUs"

    def sample(self) -> list[dict]:
        if not self.devices:
            return []
        pids = _process_tree(self.pid)
        return [self._one(device, handle, pids) for device, handle in self.devices]

    def _one(self, device: VisibleGpu, handle, pids: set[int]) -> dict:
        nv = self.nvml
        gpu = {"index": device.cuda_index, "physical_index": device.physical_index}
        for key, read in (
            ("name", lambda: nv.nvmlDeviceGetName(handle)),
            ("util", lambda: nv.nvmlDeviceGetUtilizationRates(handle).gpu),
            ("mem_used", lambda: nv.nvmlDeviceGetMemoryInfo(handle).used),
            ("mem_total", lambda: nv.nvmlDeviceGetMemoryInfo(handle).total),
            ("proc_mem", lambda: _own_memory(nv.nvmlDeviceGetComputeRunningProcesses(handle), pids)),
            ("temp", lambda: nv.nvmlDeviceGetTemperature(handle, nv.NVML_TEMPERATURE_GPU)),
            ("power", lambda: nv.nvmlDeviceGetPowerUsage(handle) / 1000.0),
        ):
            try:
                value = read()
                gpu[key] = value.decode() if isinstance(value, bytes) else value
            except Exception:
                gpu[key] = None  # a missing value is a value
        return gpu


def _physical_gpus(nv) -> tuple[list[PhysicalGpu], dict]:
    """NVML's GPUs with their MIG devices, and {(index, MIG position or None): handle}."""
    physical, handles = [], {}
    for index in range(nv.nvmlDeviceGetCount()):
        try:
            handle = nv.nvmlDeviceGetHandleByIndex(index)
            uuid = _text(nv.nvmlDeviceGetUUID(handle))
        except Exception:  # a lost GPU: the others are still sampled
            continue
        handles[index, None] = handle
        mig_mode, migs = _mig_devices(nv, handle)
        for position, (_, mig_handle) in enumerate(migs):
            handles[index, position] = mig_handle
        physical.append(PhysicalGpu(index, uuid, tuple(u for u, _ in migs), mig_mode))
    return physical, handles


def _mig_devices(nv, handle) -> tuple[bool, list[tuple[str, object]]]:
    """Whether MIG mode is on, and its MIG devices' (UUID, handle); off on GPUs without MIG."""
    try:
        if nv.nvmlDeviceGetMigMode(handle)[0] != nv.NVML_DEVICE_MIG_ENABLE:
            return False, []
        slots = nv.nvmlDeviceGetMaxMigDeviceCount(handle)
    except Exception:  # NVML_ERROR_NOT_SUPPORTED: a GPU without MIG
        return False, []
    migs = []
    for slot in range(slots):
        try:
            mig = nv.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
            migs.append((_text(nv.nvmlDeviceGetUUID(mig)), mig))
        except Exception:  # an empty slot
            continue
    return True, migs


def _own_memory(processes, pids: set[int]) -> int | None:
    """GPU memory of the processes in ``pids``: 0 when the device runs none at all; None when it
    runs others but none of ours can be told apart (a container's pids differ from the host's)."""
    if not processes:
        return 0
    used = [p.usedGpuMemory for p in processes if p.pid in pids]
    known = [u for u in used if u is not None]
    return sum(known) if known else None


def _process_tree(pid: int) -> set[int]:
    """``pid`` and its descendants (a trainer's dataloader workers, a job's ranks)."""
    try:
        import psutil

        return {pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))}
    except Exception:
        return {pid}


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def sample_host(process) -> dict:
    import psutil

    memory = psutil.virtual_memory()
    return {
        "host": socket.gethostname(),
        "cpu_percent": psutil.cpu_percent(interval=None),
        "cpu_count": os.cpu_count(),
        "ram_used": memory.total - memory.available,
        "ram_total": memory.total,
        "rss": process.memory_info().rss,
    }


class HardwareSampler(threading.Thread):
    """Calls ``emit(fields)`` about every ``interval`` seconds until ``stop()``; ``nvml`` stands in
    for pynvml (tests pass a fake)."""

    def __init__(self, emit: Callable[[dict], None], interval: float = 1.0, nvml=None):
        super().__init__(name="ftui-hardware", daemon=True)
        self.emit = emit
        self.interval = interval
        self.nvml = nvml
        self._stop_event = threading.Event()

    def run(self) -> None:
        import psutil

        process = psutil.Process()
        probe = GpuProbe(self.nvml)
        psutil.cpu_percent(interval=None)  # the first reading is meaningless; prime it
        while not self._stop_event.wait(self.interval):
            try:
                fields = sample_host(process)
                fields["gpus"] = probe.sample()
                fields["gpu_note"] = probe.note
                self.emit(fields)
            except Exception:
                continue  # never fail the run over a sample

    def stop(self) -> None:
        self._stop_event.set()
