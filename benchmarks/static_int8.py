"""Static (MinMax, calibrated on the run's data/calibration.jsonl) vs dynamic int8 of an exported text run:
quantization wall time and onnxruntime latency at batch 1, sequence 128, 2 threads, measured in one run.

    python benchmarks/static_int8.py runs/<run>     # after `ftui export runs/<run> --onnx`
"""
import sys, time, statistics, json
from pathlib import Path
import numpy as np, onnxruntime as ort
from ftui.export.source import resolve_source
from ftui.export.calibration import read_calibration, calibration_inputs, CalibrationReader
from ftui.export.variants import STATIC_SCHEMES, INT8_SCHEMES, quantize_static_int8, quantize_int8
from ftui.export.task_text import fixed_inputs
from ftui.rundir.layout import RunDir
run = Path(sys.argv[1]); bundle = run / "export" / "bundle"; out = Path("/tmp/s13bench"); out.mkdir(exist_ok=True)
src = resolve_source(run); task = src.task
val = task.load_examples(src.validation, src.labels)
ex, dropped = read_calibration(task, src, RunDir(run).calibration_data, val)
names = [i.name for i in ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"]).get_inputs()]
cal = calibration_inputs(task, src, ex, dropped, names)
t = time.perf_counter(); quantize_static_int8(bundle / "model.onnx", out / "static.onnx", CalibrationReader(cal.split.batches, names), STATIC_SCHEMES[0]); ts = time.perf_counter() - t
t = time.perf_counter(); quantize_int8(bundle / "model.onnx", out / "dyn.onnx", INT8_SCHEMES[0]); td = time.perf_counter() - t
print(f"quantize: static MinMax on {cal.rows} rows {ts:.1f}s, dynamic {td:.1f}s (wall, shared 2-core box)")
inputs = fixed_inputs(bundle, val.inputs, names, 128, batches=(1,))[1]
for name, f in [("fp32", bundle / "model.onnx"), ("static", out / "static.onnx"), ("dynamic", out / "dyn.onnx")]:
    so = ort.SessionOptions(); so.intra_op_num_threads = 2
    s = ort.InferenceSession(str(f), so, providers=["CPUExecutionProvider"])
    for _ in range(5): s.run(None, inputs)
    ts_ = []
    for _ in range(40):
        a = time.perf_counter(); s.run(None, inputs); ts_.append((time.perf_counter() - a) * 1e3)
    print(f"{name:8s} batch1 seq128 median {statistics.median(ts_):7.2f} ms  size {f.stat().st_size/1e6:.1f} MB")
print("ort", ort.__version__)
