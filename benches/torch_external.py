#!/usr/bin/env python3
"""One attack step on a RobustBench architecture in PyTorch, timed: the reference for
`dcrobust bench --external pt:ARCH:PATH --torch PYTHON`.

The model is built from the same state dict dcrobust loads (benches/robustbench_archs.py), in
eval mode with its weights frozen; a step is the forward pass, the summed cross-entropy loss and
the input gradient, on `--batch` random images in [0, 1], as one PGD step. It is timed over
`--steps` steps after `--warmup` untimed ones and printed as images/s.

Not part of the tests. Example:
  python3 benches/torch_external.py --arch wrn-28-1 --file tests/fixtures/external/wrn-28-1.safetensors
"""

import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from robustbench_archs import build  # noqa: E402

WRAPPERS = ["state_dict", "model_state_dict", "model", "net"]


def load_state_dict(path):
    """The state dict as dcrobust reads it: safetensors or torch.save, unwrapped, without
    DataParallel's `module.` prefixes and BatchNorm's counters."""
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        sd = load_file(path)
    else:
        sd = torch.load(path, map_location="cpu", weights_only=True)
        for key in WRAPPERS:
            if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
                sd = sd[key]
                break
    out = {}
    for k, v in sd.items():
        while k.startswith("module."):
            k = k[len("module."):]
        if not k.endswith("num_batches_tracked") and not k.startswith("sub_block1."):
            out[k] = v.float()
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = build(a.arch, load_state_dict(a.file))
    for q in model.parameters():
        q.requires_grad_(False)
    x = torch.rand(a.batch, 3, 32, 32)
    y = torch.randint(0, 10, (a.batch,))

    def step():
        xv = x.clone().requires_grad_(True)
        loss = F.cross_entropy(model(xv), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, xv)
        return g

    for _ in range(a.warmup):
        step()
    t = time.perf_counter()
    for _ in range(a.steps):
        step()
    rate = a.batch * a.steps / (time.perf_counter() - t)
    doc = {"torch": torch.__version__, "arch": a.arch, "images_per_s": rate}
    print(json.dumps(doc))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(doc, f)


if __name__ == "__main__":
    main()
