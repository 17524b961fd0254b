"""On a GPU machine: the hardware sampler sees the GPUs CUDA itself sees, under several
CUDA_VISIBLE_DEVICES values, and counts the memory the process allocated as the run's own.

Each value runs in a fresh process (CUDA reads the variable once): torch lists its devices' UUIDs
and allocates 1 GiB on the first; the sampler's probe must list the same devices, in the same
order, with proc_mem of at least that 1 GiB. Prints one line per value and exits 1 on a mismatch.
Usage: python benchmarks/cuda_visible_check.py   (a CUDA torch and a driver needed)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

CHILD = """
import json, torch
from ftui.trainer.engine.hardware import GpuProbe
n = torch.cuda.device_count()
cuda = [str(torch.cuda.get_device_properties(i).uuid) for i in range(n)]
block = torch.empty(2**30, dtype=torch.uint8, device="cuda:0") if n else None
probe = GpuProbe()
print(json.dumps({"cuda": cuda, "probe": probe.sample(), "uuids": [d.uuid for d, _ in probe.devices],
                  "note": probe.note}))
"""


def physical_uuids() -> list[str]:
    out = subprocess.run(["nvidia-smi", "--query-gpu=uuid", "--format=csv,noheader"], capture_output=True,
                         text=True, check=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def values(uuids: list[str]) -> list[str | None]:
    found = [None, "", "-1", "0", "0,-1", uuids[0][:12], "cuda:0"]
    if len(uuids) > 1:
        found += ["1,0", f"{uuids[1][:12]},{uuids[0]}", "0,0"]
    return found


def check(value: str | None) -> bool:
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    if value is not None:
        env["CUDA_VISIBLE_DEVICES"] = value
    result = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=300)
    if result.returncode != 0:
        print(f"{value!r}: child failed: {result.stderr.strip().splitlines()[-1:]}")
        return False
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    same = len(seen["cuda"]) == len(seen["uuids"]) and all(
        u.endswith(c.removeprefix("GPU-").removeprefix("MIG-")) for c, u in zip(seen["cuda"], seen["uuids"]))
    own = seen["probe"][0].get("proc_mem") if seen["probe"] else None
    own_ok = not seen["cuda"] or (own is not None and own >= 2**30)
    print(f"{value!r}: torch sees {len(seen['cuda'])}, the probe {[g['physical_index'] for g in seen['probe']]}"
          f" {'same' if same else 'DIFFERENT'}; run memory {own} {'ok' if own_ok else 'WRONG'}; note {seen['note']!r}")
    return same and own_ok


def main() -> int:
    results = [check(v) for v in values(physical_uuids())]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
