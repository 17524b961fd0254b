#!/usr/bin/env bash
# The GPU check, prepared to run in one go (<= 10 minutes) whenever a GPU machine is at hand:
#   1. the default run in bf16 (precision "auto" picks it), with samples/s and MFU;
#   2. the cockpit's GPU pane, captured through tmux while that run trains;
#   3. the scale-out benchmark across the node's GPUs (NCCL);
#   4. the hardware sampler sees the GPUs CUDA sees under several CUDA_VISIBLE_DEVICES values.
# Usage: bash benchmarks/gpu_check.sh [OUT_DIR]   (the project installed with a CUDA torch)
set -euo pipefail
out=${1:-gpu-check}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpus.csv"
python -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "bf16", torch.cuda.is_bf16_supported())' | tee "$out/torch.txt"

# 1 + 2: a longer default run in the cockpit, captured at 120x40 after 60 s of training.
tmux kill-session -t ftui-gpu 2>/dev/null || true
tmux new-session -d -s ftui-gpu -x 120 -y 40 \
  "ftui --runs-dir $out/runs train --name gpu-default --max-train-rows 30000 --set data.max_validation_rows=2000"
sleep 60
tmux capture-pane -p -t ftui-gpu > "$out/cockpit.txt"
tmux send-keys -t ftui-gpu d          # detach: the run goes on
for _ in $(seq 1 120); do            # wait up to 4 minutes for it to finish
  grep -q '"type":"summary"' "$out/runs/gpu-default/events.jsonl" 2>/dev/null && break
  sleep 2
done
python - "$out/runs/gpu-default" <<'PY' | tee "$out/default-run.txt"
import json, sys, statistics
events = [json.loads(l) for l in open(sys.argv[1] + "/events.jsonl")]
start = next(e for e in events if e["type"] == "run_start")
steps = [e for e in events if e["type"] == "step" and isinstance(e.get("samples_per_s"), float)][2:]
evals = [e for e in events if e["type"] == "eval"]
print("precision", start["precision"], "device", start["device"])
print("median samples/s", statistics.median(e["samples_per_s"] for e in steps))
print("median real tokens/s", statistics.median(e["tokens_per_s"] for e in steps))
print("final eval", evals[-1]["metrics"] if evals else None)
PY

# 3: scale-out across this node's GPUs.
n=$(nvidia-smi -L | wc -l)
python benchmarks/scale_out.py --threads 0 --nproc-max "$n" --batch-size 64 --steps 60 | tee "$out/scale_out.txt"

# 4: the GPU pane's devices and the run's own memory, against CUDA's own view.
python benchmarks/cuda_visible_check.py | tee "$out/cuda_visible.txt"
