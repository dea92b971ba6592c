#!/usr/bin/env python3
"""Compares a CPU and a GPU run of the same dcrobust commands (used by .ci/gpu-check).

  gpu_compare.py train CPU_DIR GPU_DIR        # two `dcrobust train --out` directories
  gpu_compare.py adversarial CPU_DIR GPU_DIR  # two `dcrobust run --suite adversarial` directories
  gpu_compare.py corruption CPU_DIR GPU_DIR   # two `dcrobust run --suite corruption` directories

Prints one line per compared number and a PASS/FAIL verdict per group; exits 1 on any FAIL.

Tolerances, and why:
- train: the two devices start from the same weights and draw the same batches and
  augmentations (dcrobust's own seeded generator), but sum in different orders (cuDNN may also
  use TF32 for convolutions), so trajectories drift apart slowly: the first epoch's training loss
  within 2 % (relative), the last epoch's within 5 %, test accuracy within 5 points.
- adversarial, corruption: the same checkpoint evaluated on both devices, so only rounding in the
  logits differs: clean accuracy within 0.5 points (a few images near a decision boundary), each
  attack or corruption cell within 2 points (an attack amplifies rounding through its steps).
"""

import json
import sys
from pathlib import Path

failures = []


def check(group, name, cpu, gpu, tol, relative=False):
    diff = abs(cpu - gpu) / max(abs(cpu), 1e-12) if relative else abs(cpu - gpu)
    ok = diff <= tol
    unit = "rel" if relative else "abs"
    print(f"  {'ok  ' if ok else 'FAIL'} {name:58} cpu {cpu:9.4f}  gpu {gpu:9.4f}  "
          f"{unit} diff {diff:.4f} (tol {tol})")
    if not ok:
        failures.append(f"{group}: {name}")


def load(path):
    with open(path) as f:
        return json.load(f)


def train(cpu_dir, gpu_dir):
    for hist in sorted(Path(cpu_dir).glob("*/history.json")):
        model = hist.parent.name
        c = load(hist)["epochs"]
        g = load(Path(gpu_dir) / model / "history.json")["epochs"]
        if len(c) != len(g):
            failures.append(f"train: {model} has {len(c)} CPU epochs and {len(g)} GPU epochs")
            continue
        for i, (ce, ge) in enumerate(zip(c, g)):
            tol = 0.02 if i == 0 else 0.05
            check("train", f"{model} epoch {ce['epoch']} train loss", ce["train_loss"], ge["train_loss"], tol, True)
            check("train", f"{model} epoch {ce['epoch']} test accuracy", ce["test_accuracy"], ge["test_accuracy"], 0.05)
        print(f"  {model}: training images/s, last epoch: cpu {c[-1]['images_per_s']:.0f}, "
              f"gpu {g[-1]['images_per_s']:.0f}")


def cells_by_key(summary, key):
    out = {}
    for m in summary["models"]:
        out[(m["model"], "clean")] = m["clean_accuracy"]
        for cell in m["cells"]:
            out[(m["model"],) + key(cell)] = cell["accuracy"]
    return out


def compare_cells(group, c, g):
    if set(c) != set(g):
        failures.append(f"{group}: the runs have different cells: {sorted(set(c) ^ set(g))[:5]}")
    for k in sorted(set(c) & set(g), key=str):
        tol = 0.005 if k[1] == "clean" else 0.02
        check(group, " ".join(str(p) for p in k), c[k], g[k], tol)


def adversarial(cpu_dir, gpu_dir):
    key = lambda cell: (cell["attack"], cell["norm"], round(cell["eps"], 6), cell["steps"])
    c = cells_by_key(load(Path(cpu_dir) / "summary.json"), key)
    g = cells_by_key(load(Path(gpu_dir) / "summary.json"), key)
    compare_cells("adversarial", c, g)
    ct = load(Path(cpu_dir) / "summary.json").get("transfer", [])
    gt = load(Path(gpu_dir) / "summary.json").get("transfer", [])
    for a, b in zip(ct, gt):
        name = " ".join(str(a.get(f)) for f in ("source", "target", "attack"))
        check("adversarial", f"transfer {name}", a["accuracy"], b["accuracy"], 0.02)


def corruption(cpu_dir, gpu_dir):
    key = lambda cell: (cell["corruption"], cell["severity"])
    c = cells_by_key(load(Path(cpu_dir) / "summary.json"), key)
    g = cells_by_key(load(Path(gpu_dir) / "summary.json"), key)
    compare_cells("corruption", c, g)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("train", "adversarial", "corruption"):
        sys.exit(__doc__)
    what, cpu_dir, gpu_dir = sys.argv[1:]
    print(f"{what}: CPU {cpu_dir} vs GPU {gpu_dir}")
    {"train": train, "adversarial": adversarial, "corruption": corruption}[what](cpu_dir, gpu_dir)
    print(f"{what}: {'PASS' if not failures else 'FAIL'}")
    for f in failures:
        print(f"  failed: {f}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
