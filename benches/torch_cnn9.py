#!/usr/bin/env python3
"""dcrobust's CNN-9 in PyTorch, timed: the reference for `dcrobust bench` and the GPU check.

The same network as `dcrobust train --arch cnn9` (src/models/network.rs): three stages of three
3x3 convolutions at 128/192/256 x width channels, each followed by BatchNorm and ReLU, a 2x2
max-pool after each stage, an `fc6` convolution covering the final 4x4 map (256 x width channels,
with bias, no BatchNorm or ReLU) and a 1x1 `score` convolution without bias. `--op tanh` swaps every
convolution but `score` for TanhConv with the cosine angular activation and the learnable radius
(docs/model.md#operator-radius: out = tanh(|x| / rho) * cos(theta),
rho = (r^2 + 1e-4) * mean patch norm).

Modes, each timed over `--steps` batches after `--warmup` untimed ones, printed as images/s:
  train   forward in training mode, cross-entropy, backward, Adam step;
  infer   forward in inference mode without autograd;
  attack  forward in inference mode, input gradient only (weights frozen), as one PGD step.

Not part of the tests. Examples:
  python3 benches/torch_cnn9.py --device cpu --threads 2 --width 0.125
  python3 benches/torch_cnn9.py --device cuda --width 1 --modes train --images 5000 --json out.json
"""

import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

NORM_EPS = 1e-4


class TanhConv(nn.Module):
    """TanhConv with cosine angular activation and learnable radius, without bias."""

    def __init__(self, c_in, c_out, k, padding):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(c_out, c_in, k, k))
        nn.init.kaiming_normal_(self.weight, nonlinearity="relu")
        self.r = nn.Parameter(torch.ones(1, c_out, 1, 1))
        self.register_buffer("mu_ema", torch.zeros(()))
        self.register_buffer("ones", torch.ones(1, 1, k, k))
        self.padding = padding

    def forward(self, x):
        w = self.weight
        w_hat = w / (w.square().sum(dim=(1, 2, 3), keepdim=True) + NORM_EPS).sqrt()
        y = F.conv2d(x, w_hat, padding=self.padding)
        n = (F.conv2d(x.square().sum(1, keepdim=True), self.ones, padding=self.padding) + NORM_EPS).sqrt()
        if self.training:
            mu = n.mean()
            with torch.no_grad():
                self.mu_ema.copy_(torch.where(self.mu_ema == 0, mu, 0.9 * self.mu_ema + 0.1 * mu))
        else:
            mu = self.mu_ema
        rho = (self.r.square() + NORM_EPS) * mu
        return torch.tanh(n / rho) * (y / n)


def conv(op, c_in, c_out, k, padding, bias):
    if op == "tanh":
        return TanhConv(c_in, c_out, k, padding)
    return nn.Conv2d(c_in, c_out, k, padding=padding, bias=bias)


def cnn9(op, width, classes=10, channels=3, size=32):
    widths = [max(2, round(w * width)) for w in (128, 192, 256)]
    layers, c = [], channels
    for w in widths:
        for _ in range(3):
            layers += [conv(op, c, w, 3, 1, False), nn.BatchNorm2d(w, momentum=0.1, eps=1e-5), nn.ReLU()]
            c = w
        layers.append(nn.MaxPool2d(2))
    fc6 = max(2, round(256 * width))
    layers.append(conv(op, c, fc6, size // 8, 0, True))
    layers += [nn.Conv2d(fc6, classes, 1, bias=False), nn.Flatten()]
    return nn.Sequential(*layers)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_mode(model, mode, x, y, batch, steps, warmup, device):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n = x.shape[0]

    def step(i):
        lo = (i * batch) % n
        xb, yb = x[lo : lo + batch], y[lo : lo + batch]
        if mode == "train":
            model.train()
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        elif mode == "infer":
            model.eval()
            with torch.no_grad():
                model(xb)
        else:
            model.eval()
            xb = xb.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(F.cross_entropy(model(xb), yb), xb)
            xb.detach().add_(g.sign(), alpha=2 / 255).clamp_(0, 1)
        return xb.shape[0]

    if mode == "attack":
        for p in model.parameters():
            p.requires_grad_(False)
    for i in range(warmup):
        step(i)
    sync(device)
    t0, done = time.perf_counter(), 0
    for i in range(steps):
        done += step(warmup + i)
    sync(device)
    seconds = time.perf_counter() - t0
    for p in model.parameters():
        p.requires_grad_(True)
    return done / seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    ap.add_argument("--width", type=float, default=0.125, help="width multiplier, as dcrobust's --width")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--ops", default="baseline,tanh", help="comma-separated: baseline, tanh")
    ap.add_argument("--modes", default="train,infer,attack", help="comma-separated: train, infer, attack")
    ap.add_argument("--steps", type=int, default=10, help="timed batches per mode (ignored with --images)")
    ap.add_argument("--images", type=int, default=0, help="time one pass over this many images instead")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--conv-math", choices=["fma", "tf32"], default="fma",
                    help="cuDNN convolution and matmul math: fma (FP32, allow_tf32 off) or tf32 "
                         "(PyTorch's default for cuDNN convolutions), as dcrobust's --conv-math")
    ap.add_argument("--deterministic", action="store_true",
                    help="cudnn.deterministic = True, as dcrobust's default --conv-algos")
    a = ap.parse_args()

    tf32 = a.conv_math == "tf32"
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.deterministic = a.deterministic

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    device = torch.device(a.device)
    steps = -(-a.images // a.batch) if a.images else a.steps
    n = max(a.batch * 4, a.images or 0)
    x = torch.rand(n, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (n,), device=device)
    results = []
    for op in a.ops.split(","):
        model = cnn9(op, a.width).to(device)
        for mode in a.modes.split(","):
            ips = time_mode(model, mode, x, y, a.batch, steps, a.warmup, device)
            results.append({"op": op, "mode": mode, "images_per_s": ips})
            print(f"torch {torch.__version__} {a.device} threads={a.threads} width={a.width} "
                  f"batch={a.batch} math={a.conv_math} deterministic={a.deterministic} "
                  f"{op:8} {mode:6} {ips:10.1f} images/s", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"torch": torch.__version__, "device": a.device, "threads": a.threads,
                       "width": a.width, "batch": a.batch, "conv_math": a.conv_math,
                       "deterministic": a.deterministic, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
