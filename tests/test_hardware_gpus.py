"""The GPU pane shows the run's GPUs: CUDA_VISIBLE_DEVICES as CUDA reads it (indices, UUIDs and
their prefixes, MIG devices, the first invalid entry ending the list), and the trainer's own GPU
memory beside the device's. No GPU needed: NVML is a fake passed in."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import pytest
from hypothesis import given, settings, strategies as st

from ftui.rundir.events_schema import check_event
from ftui.trainer.engine.cuda_devices import PhysicalGpu, VisibleGpu, visible_devices
from ftui.trainer.engine.hardware import GpuProbe, HardwareSampler, _own_memory
from ftui.tui.hardware_pane import HardwareHistory, hardware_text

UUIDS = ["GPU-aaaa1111-0000-0000-0000-000000000000", "GPU-bbbb2222-0000-0000-0000-000000000000",
         "GPU-cccc3333-0000-0000-0000-000000000000", "GPU-cccc4444-0000-0000-0000-000000000000"]
MIGS = ("MIG-dddd5555-0000-0000-0000-000000000000", "MIG-eeee6666-0000-0000-0000-000000000000")
FOUR = [PhysicalGpu(i, u) for i, u in enumerate(UUIDS)]
WITH_MIG = [FOUR[0], PhysicalGpu(1, UUIDS[1], MIGS, True), FOUR[2], FOUR[3]]


def physical(value, gpus=FOUR) -> list:
    """(CUDA index, NVML index, MIG position) of each device ``value`` makes visible."""
    return [(v.cuda_index, v.physical_index, v.mig_index) for v in visible_devices(value, gpus)]


@pytest.mark.parametrize("value,expected", [
    (None, [0, 1, 2, 3]),                      # unset: every GPU
    ("2,0", [2, 0]),                           # CUDA numbers them in the order given
    (" 1 , 3 ", [1, 3]),                       # space around entries is ignored
    ("", []),                                  # empty: no GPU
    ("-1", []),                                # the usual way to hide every GPU
    ("1,-1,2", [1]),                           # CUDA stops at the first invalid entry
    ("0,7,1", [0]),                            # an index past the last GPU is invalid
    ("1,1", []),                               # a repeated device makes the whole value invalid
    ("0,2,0", []),
    ("1abc,2", [1, 2]),                        # an entry that starts with digits is those digits
    ("0,", [0]),
    ("GPU-aaaa1111-0000-0000-0000-000000000000", [0]),
    ("GPU-bbbb,GPU-aaaa", [1, 0]),             # unique UUID prefixes, as CUDA accepts them
    ("GPU-cccc", []),                          # a prefix of two GPUs names neither
    ("GPU-cccc4,GPU-cccc3", [3, 2]),
    ("GPU-nope", []),
    ("0,GPU-bbbb", [0]),                       # indices and UUIDs do not mix: the list ends there
    ("GPU-bbbb,0", [1]),
    ("GPU-bbbb,GPU-bb", []),                   # two prefixes of one GPU repeat it
    ("GPU-", []),
    ("cuda:0", []),
])
def test_cuda_visible_devices_of_whole_gpus(value, expected):
    assert physical(value) == [(i, p, None) for i, p in enumerate(expected)]


@pytest.mark.parametrize("value,expected", [
    ("MIG-eeee", [(0, 1, 1)]),                 # a MIG device by (a prefix of) its UUID
    ("MIG-dddd,MIG-eeee", [(0, 1, 0)]),        # a process sees at most one MIG device
    ("0,2", [(0, 0, None), (1, 2, None)]),     # the MIG-mode GPU not named: whole GPUs as usual
    ("1,2", [(0, 1, 0)]),                      # a GPU in MIG mode stands for its first MIG device alone
    (None, [(0, 1, 0)]),
    ("MIG-GPU-bbbb2222-0000-0000-0000-000000000000/1/0", []),  # the pre-R470 form is not resolved
])
def test_cuda_visible_devices_with_mig(value, expected):
    assert physical(value, WITH_MIG) == expected


def test_a_gpu_in_mig_mode_without_mig_devices_is_not_usable():
    gpus = [FOUR[0], PhysicalGpu(1, UUIDS[1], (), True)]
    assert physical("1", gpus) == [] and physical(None, gpus) == [(0, 0, None)]


def test_plain_tuples_and_the_mig_uuid_come_back():
    assert visible_devices("MIG-eeee", [(0, UUIDS[0], ()), (1, UUIDS[1], MIGS)]) == [VisibleGpu(0, 1, MIGS[1], 1)]


# An entry of CUDA_VISIBLE_DEVICES: an index, a UUID or a prefix of one, an odd spelling, or any text.
ENTRY = st.one_of(st.integers(-3, 9).map(str),
                  st.tuples(st.sampled_from(UUIDS + list(MIGS)), st.integers(4, 40)).map(lambda t: t[0][:t[1]]),
                  st.sampled_from(["GPU-", "MIG-", "GPU-cccc", " 2", "1x", "+1", "", "²", "٣", "MIG-GPU-x/1/0"]),
                  st.text(max_size=12))


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.lists(ENTRY, max_size=6).map(",".join), st.text(max_size=40), st.none()),
       st.sampled_from([FOUR, WITH_MIG, [], FOUR[:1]]))
def test_any_value_gives_cuda_numbered_devices_and_never_raises(value, gpus):
    devices = visible_devices(value, gpus)
    assert [d.cuda_index for d in devices] == list(range(len(devices)))
    assert len({(d.physical_index, d.mig_index) for d in devices}) == len(devices) <= len(gpus)
    assert sum(d.mig_index is not None for d in devices) <= 1
    by_index = {g.index: g for g in gpus}
    for d in devices:
        gpu = by_index[d.physical_index]
        assert d.uuid == (gpu.uuid if d.mig_index is None else gpu.migs[d.mig_index])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 3), unique=True, max_size=4), st.sampled_from([",", " , "]))
def test_distinct_indices_are_taken_in_order(indices, sep):
    assert physical(sep.join(map(str, indices))) == [(i, p, None) for i, p in enumerate(indices)]


# --- the sampler, on a fake NVML ---------------------------------------------------------------

class FakeNvmlError(Exception):
    pass


class FakeNvml:
    """pynvml's calls the probe makes, over dicts; a key a device lacks is NVML_ERROR_NOT_SUPPORTED."""
    NVML_TEMPERATURE_GPU = 0
    NVML_DEVICE_MIG_ENABLE = 1

    def __init__(self, gpus: list[dict], broken: bool = False):
        self.gpus, self.broken = gpus, broken

    @staticmethod
    def _get(handle: dict, key: str):
        if key not in handle:
            raise FakeNvmlError(f"not supported: {key}")
        return handle[key]

    def nvmlInit(self):
        if self.broken:
            raise FakeNvmlError("NVML Shared Library Not Found")

    def nvmlDeviceGetCount(self):
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index):
        return self.gpus[index]

    def nvmlDeviceGetUUID(self, h):
        return self._get(h, "uuid")

    def nvmlDeviceGetMigMode(self, h):
        return (1, 1) if "migs" in h else self._get(h, "mig_mode")

    def nvmlDeviceGetMaxMigDeviceCount(self, h):
        return len(h["migs"]) + 1  # one empty slot: NVML raises for it

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h, slot):
        if slot >= len(h["migs"]):
            raise FakeNvmlError("not found")
        return h["migs"][slot]

    def nvmlDeviceGetName(self, h):
        return self._get(h, "name")

    def nvmlDeviceGetUtilizationRates(self, h):
        return SimpleNamespace(gpu=self._get(h, "util"))

    def nvmlDeviceGetMemoryInfo(self, h):
        return SimpleNamespace(used=self._get(h, "used"), total=self._get(h, "total"))

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        return [SimpleNamespace(pid=pid, usedGpuMemory=mem) for pid, mem in self._get(h, "procs")]

    def nvmlDeviceGetTemperature(self, h, sensor):
        return self._get(h, "temp")

    def nvmlDeviceGetPowerUsage(self, h):
        return self._get(h, "power_mw")


GiB = 2**30
ME, OTHER = os.getpid(), 999_999_999


def fake_gpu(n: int, **extra) -> dict:
    return {"uuid": UUIDS[n], "name": f"NVIDIA H200 #{n}", "util": 10 * n, "used": (n + 1) * GiB, "total": 80 * GiB,
            "procs": [(OTHER, GiB)], "temp": 40 + n, "power_mw": 100_000 + n, **extra}


def test_the_probe_samples_only_the_visible_gpus_labelled_as_cuda_numbers_them():
    gpus = [fake_gpu(0), fake_gpu(1), fake_gpu(2, procs=[(ME, 3 * GiB), (OTHER, GiB)]), fake_gpu(3)]
    gpus[2]["name"] = b"NVIDIA H200"  # older pynvml returns bytes
    probe = GpuProbe(FakeNvml(gpus), visible="GPU-cccc3,GPU-bbbb", pid=ME)
    first, second = probe.sample()
    assert first == {"index": 0, "physical_index": 2, "name": "NVIDIA H200", "util": 20, "mem_used": 3 * GiB,
                     "mem_total": 80 * GiB, "proc_mem": 3 * GiB, "temp": 42, "power": 100.002}
    assert (second["index"], second["physical_index"], second["proc_mem"]) == (1, 1, None)
    assert probe.note == ""


def test_a_mig_device_is_sampled_through_its_own_handle_and_missing_values_are_none():
    mig = {"uuid": MIGS[1], "name": "NVIDIA A100 MIG 1g.10gb", "used": GiB, "total": 10 * GiB, "procs": [(ME, GiB)]}
    gpus = [fake_gpu(0), fake_gpu(1, migs=[{"uuid": MIGS[0]}, mig])]
    (only,) = GpuProbe(FakeNvml(gpus), visible="MIG-eeee", pid=ME).sample()
    assert only == {"index": 0, "physical_index": 1, "name": "NVIDIA A100 MIG 1g.10gb", "util": None,
                    "mem_used": GiB, "mem_total": 10 * GiB, "proc_mem": GiB, "temp": None, "power": None}


def test_the_probe_says_why_there_is_no_gpu():
    assert "NVML not available (FakeNvmlError)" in GpuProbe(FakeNvml([], broken=True)).note
    assert GpuProbe(FakeNvml([]), visible=None).note == "no GPU: NVML sees no devices"
    hidden = GpuProbe(FakeNvml([fake_gpu(0), fake_gpu(1)]), visible="-1")
    assert hidden.sample() == [] and "CUDA_VISIBLE_DEVICES='-1' hides all 2" in hidden.note


def test_a_gpu_nvml_has_lost_is_skipped_and_the_rest_are_sampled():
    gpus = [{"name": "lost"}, fake_gpu(1)]
    assert [g["physical_index"] for g in GpuProbe(FakeNvml(gpus), visible=None).sample()] == [1]


@pytest.mark.parametrize("processes,expected", [
    ([], 0),                                           # nothing runs on the device: the run uses none
    ([(OTHER, GiB)], None),                            # others run, none of ours can be told apart
    ([(ME, GiB), (ME + 1, 2 * GiB), (OTHER, 5 * GiB)], 3 * GiB),  # the trainer and its child
    ([(ME, None)], None),                              # NVML cannot say (no per-process accounting)
])
def test_the_runs_own_gpu_memory(processes, expected):
    procs = [SimpleNamespace(pid=p, usedGpuMemory=m) for p, m in processes]
    assert _own_memory(procs, {ME, ME + 1}) == expected


def test_the_sampler_honours_the_trainers_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    events = []
    sampler = HardwareSampler(events.append, interval=0.05, nvml=FakeNvml([fake_gpu(n) for n in range(4)]))
    sampler.start()
    deadline = time.monotonic() + 30
    while not events and time.monotonic() < deadline:
        time.sleep(0.05)
    sampler.stop()
    sampler.join(timeout=10)
    assert events, "no hardware sample in 30 s"
    event = check_event({"type": "hardware", "t": time.time(), "step": 0, **events[0]})
    (gpu,) = event["gpus"]
    assert (gpu["index"], gpu["physical_index"], gpu["mem_used"], gpu.get("proc_mem")) == (0, 3, 4 * GiB, None)
    history = HardwareHistory()
    history.add(event)
    text = hardware_text(history, 60).plain
    assert "GPU0" in text and "phys 3" in text and "4.0/80.0G" in text and "run n/a" in text


# --- the event schema and the pane ---------------------------------------------------------------

def hardware_event(**gpu) -> dict:
    return {"type": "hardware", "t": time.time(), "step": 1, "cpu_percent": 5.0, "gpus": [gpu]}


def test_the_schema_checks_the_new_gpu_fields():
    event = check_event(hardware_event(index=0, physical_index=2, proc_mem=GiB, temp=None))
    assert event["gpus"] == [{"index": 0, "physical_index": 2, "proc_mem": GiB}]  # null = absent
    for bad in ({"proc_mem": "1G"}, {"physical_index": -1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            check_event(hardware_event(index=0, **bad))


def test_the_pane_shows_the_runs_memory_beside_the_devices():
    history = HardwareHistory()
    history.add(check_event(hardware_event(index=1, physical_index=5, name="NVIDIA H200", util=87.0,
                                           mem_used=60 * GiB, mem_total=140 * GiB, proc_mem=48 * GiB,
                                           temp=61.0, power=450.0)))
    text = hardware_text(history, 70).plain
    assert "GPU1 phys 5  87%" in text and "60.0/140.0G run 48.0G 61°C 450W NVIDIA H200" in text
    narrow = hardware_text(history, 25).plain.splitlines()
    assert all(len(line) <= 25 for line in narrow[:3]), narrow
    assert narrow[1:3] == ["  60.0/140.0G run 48.0G", "  61°C 450W NVIDIA H200"]


GPU_VALUES = {"name": st.text(max_size=30), "util": st.floats(0, 100), "mem_used": st.integers(0, 2**40),
              "mem_total": st.integers(0, 2**40), "proc_mem": st.integers(0, 2**40), "temp": st.floats(-20, 120),
              "power": st.floats(0, 2000), "physical_index": st.integers(0, 64)}


@settings(max_examples=100, deadline=None)
@given(st.fixed_dictionaries({}, optional={k: st.one_of(st.none(), v) for k, v in GPU_VALUES.items()}),
       st.integers(1, 120))
def test_missing_gpu_values_are_shown_as_na_never_a_crash(values, width):
    history = HardwareHistory()
    history.add(check_event(hardware_event(index=0, **values)))
    text = hardware_text(history, width).plain
    assert "GPU0" in text
    shown = {k for k, v in values.items() if v is not None}
    if not {"util", "temp", "power", "proc_mem"} <= shown:
        assert "n/a" in text
