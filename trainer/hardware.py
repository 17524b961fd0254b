"""Hardware sampling on its own thread: GPUs through NVML, else CPU and RAM.

A sample that fails is reported as missing, never raised: sampling must not block or fail
the run (nvitop's rule). No torch here.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Callable


class GpuProbe:
    """Per-GPU utilization, memory, temperature and power through NVML, when there is one."""

    def __init__(self):
        self.handles = []
        self.note = ""
        try:
            import pynvml

            pynvml.nvmlInit()
            self.nvml = pynvml
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
            if not self.handles:
                self.note = "no GPU: NVML sees no devices"
        except Exception as e:  # no driver, no library, no device: all mean "no GPU"
            self.note = f"no GPU: NVML not available ({type(e).__name__})"

    def sample(self) -> list[dict]:
        return [self._one(i, h) for i, h in enumerate(self.handles)]

    def _one(self, index: int, handle) -> dict:
        nv = self.nvml
        gpu = {"index": index}
        for key, read in (
            ("name", lambda: nv.nvmlDeviceGetName(handle)),
            ("util", lambda: nv.nvmlDeviceGetUtilizationRates(handle).gpu),
            ("mem_used", lambda: nv.nvmlDeviceGetMemoryInfo(handle).used),
            ("mem_total", lambda: nv.nvmlDeviceGetMemoryInfo(handle).total),
            ("temp", lambda: nv.nvmlDeviceGetTemperature(handle, nv.NVML_TEMPERATURE_GPU)),
            ("power", lambda: nv.nvmlDeviceGetPowerUsage(handle) / 1000.0),
        ):
            try:
                value = read()
                gpu[key] = value.decode() if isinstance(value, bytes) else value
            except Exception:
                gpu[key] = None  # a missing value is a value
        return gpu


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
    """Calls ``emit(fields)`` about every ``interval`` seconds until ``stop()``."""

    def __init__(self, emit: Callable[[dict], None], interval: float = 1.0):
        super().__init__(name="ftui-hardware", daemon=True)
        self.emit = emit
        self.interval = interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        import psutil

        process = psutil.Process()
        probe = GpuProbe()
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
