"""The speed gate steers the default away from variants slower than fp32; the load probe sees a busy
neighbour and does not cry wolf when others were idle."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from ftui.export.machine import BUSY_CORES, OtherLoad, cpu_features, cpu_seconds_by_process, other_cores, ratios_reliable
from ftui.export.report import ExportReport
from ftui.export.speed import choose_default, describe_slow, slower_than_fp32


def rows(**medians) -> list[dict]:
    """Benchmark rows from name_batch=ms keyword arguments, e.g. fp32_1=10."""
    out = []
    for key, ms in medians.items():
        name, batch = key.rsplit("_", 1)
        out.append({"runtime": name, "batch": int(batch), "median_ms": ms, "p90_ms": ms, "throughput_per_s": 1.0})
    return out


def test_int8_slower_than_fp32_at_batch_32_is_never_the_default():
    bench = rows(pytorch_1=30, fp32_1=10, int8_1=9, pytorch_32=300, fp32_32=100, int8_32=140)
    name, slow = choose_default(["fp32", "int8"], bench)
    assert name == "fp32"
    assert slow["int8"]["batch"] == 32 and slow["int8"]["vs_fp32"] == pytest.approx(1.4)
    assert describe_slow(slow) == ["int8 is not the default: 40% slower than fp32 at batch 32 (median; the gate allows 5%)"]


def test_int8_faster_at_both_batches_is_the_default_and_a_tie_is_noise():
    assert choose_default(["fp32", "int8"], rows(fp32_1=10, int8_1=4, fp32_32=100, int8_32=45)) == ("int8", {})
    # 3% slower at batch 32 is within the noise margin: not held against int8, and int8 is within 10% at batch 1
    assert choose_default(["fp32", "int8"], rows(fp32_1=10, int8_1=10.4, fp32_32=100, int8_32=103)) == ("int8", {})


def test_without_benchmark_the_preference_order_decides():
    assert choose_default(["fp32", "O2", "int8"], []) == ("int8", {})
    assert choose_default([], rows(fp32_1=1)) == (None, {})


def test_slower_variant_needs_fp32_rows_to_be_judged():
    assert slower_than_fp32(rows(int8_1=100), ["int8"]) == {}


def test_report_text_says_which_variant_was_kept_off_default_and_why():
    report = ExportReport("src", "ck", "bundle", default_model="model.onnx",
                          kept_off_default={"int8": {"batch": 1, "vs_fp32": 1.25}},
                          benchmark=rows(pytorch_1=30, fp32_1=10, int8_1=12.5))
    text = report.to_text()
    assert "int8 is not the default: 25% slower than fp32 at batch 1" in text
    assert report.to_dict()["kept_off_default"]["int8"]["vs_fp32"] == 1.25


def test_busy_benchmark_prints_no_ratios_only_marked_raw_medians():
    bench = rows(pytorch_1=30, fp32_1=10)
    setup = {"threads": 2, "sequence": 128, "load": {"other_processes_cores": 1.3, "ratios_reliable": False}}
    text = ExportReport("src", "ck", "bundle", benchmark=bench, benchmark_setup=setup).to_text()
    assert "ratios unreliable: other processes used 1.30 cores" in text and "RAW" in text
    assert "3.00x" not in text
    setup["load"] = {"other_processes_cores": 0.01, "ratios_reliable": True}
    assert "3.00x" in ExportReport("src", "ck", "bundle", benchmark=bench, benchmark_setup=setup).to_text()


# --- the load probe ---------------------------------------------------------------------------
def test_other_cores_counts_differences_and_newcomers_not_the_idle():
    before = {10: 5.0, 11: 100.0}
    after = {10: 5.0, 11: 100.0, 12: 0.0}  # nobody worked: an idle machine is not flagged
    assert other_cores(before, after, 2.0) == 0.0 and ratios_reliable(0.0)
    busy = {10: 6.0, 11: 100.5, 12: 0.5}  # 1 s + 0.5 s + a newcomer's 0.5 s over 2 s
    assert other_cores(before, busy, 2.0) == pytest.approx(1.0) and not ratios_reliable(1.0)
    assert other_cores(before, {10: 4.0}, 1.0) == 0.0  # a pid reused by a younger process never counts negative


def test_other_load_adds_up_sections_with_injected_snapshots():
    snaps = iter([{1: 0.0}, {1: 0.1}, {1: 0.1}, {1: 0.2}])
    clock = iter([0.0, 1.0, 5.0, 6.0])
    load = OtherLoad(snapshot=lambda: next(snaps), clock=lambda: next(clock))
    for _ in range(2):
        with load:
            pass
    assert load.wall_s == pytest.approx(2.0) and load.cores == pytest.approx(0.1)
    assert load.to_dict()["ratios_reliable"] and 0.1 <= BUSY_CORES


SPINNER = "import time\nend = time.time() + 30\nwhile time.time() < end: pass\n"


def test_a_spinning_neighbour_is_seen_and_our_own_children_are_not():
    """A busy process that is not ours shows up as other work; the same spinner as our child does not."""
    import psutil

    # Started through a middle process that exits at once, so the spinner is nobody's child of ours.
    spawn = ("import subprocess, sys\np = subprocess.Popen([sys.executable, '-c', sys.argv[1]], start_new_session=True, "
             "stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
             "print(p.pid)")
    pid = int(subprocess.run([sys.executable, "-c", spawn, SPINNER], capture_output=True, text=True, check=True).stdout)
    child = subprocess.Popen([sys.executable, "-c", SPINNER])
    try:
        neighbour = psutil.Process(pid)
        time.sleep(0.3)
        t0 = sum(neighbour.cpu_times()[:2])
        with OtherLoad() as load:
            time.sleep(1.0)
        spun = (sum(neighbour.cpu_times()[:2]) - t0) / load.wall_s
        seen = cpu_seconds_by_process()
    finally:
        psutil.Process(pid).kill()
        child.kill()
        child.wait()
    assert spun > 0.05  # it got some CPU, however busy the machine
    assert load.cores >= 0.9 * spun  # all of the neighbour's work (and whatever else ran) is counted
    assert pid in seen and child.pid not in seen


def test_cpu_features_parse_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu avx2 avx512f avx512_vnni\n\n"
                    "processor\t: 1\nmodel name\t: Test CPU 9000\nflags\t\t: fpu avx2 avx512f avx512_vnni\n")
    got = cpu_features(info)
    assert got["model"] == "Test CPU 9000"
    assert got["flags"]["avx512_vnni"] and got["flags"]["avx2"] and not got["flags"]["avx_vnni"]
    assert cpu_features(tmp_path / "missing") == {"model": "unknown", "flags": {}}


def test_bundle_readme_names_the_variant_kept_off_default():
    from ftui.export.bundle import readme

    report = ExportReport("src", "ck", "bundle", default_model="model.onnx", kept_off_default={"int8": {"batch": 32, "vs_fp32": 1.3}})
    assert "- int8 is not the default: 30% slower than fp32 at batch 32" in readme(report, "")
    assert "slower than fp32" not in readme(ExportReport("src", "ck", "bundle"), "")
