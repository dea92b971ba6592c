#!/usr/bin/env python3
"""Robust accuracy of dcrobust's attacks against the reference AutoAttack, on the same model and
images.

The model is a dcrobust CNN-9 checkpoint (a zoo directory such as src/zoo/cnn9-baseline, holding
config.json and model.safetensors with PyTorch's parameter names), rebuilt in PyTorch from
benches/torch_cnn9.py's definition with dcrobust's input scaling ((255 x - 127.5) / 128) and
BatchNorm epsilon. The images are the first N/10 test images of each class of the embedded
CIFAR-10 subset (src/data/embedded/cifar10-small.tar.gz), which is the class-balanced subset that
`dcrobust run --eval-images N` evaluates. The reference attacks the pixels dcrobust decodes
(`dcrobust corrupt --clean` writes them), so both sides attack the same numbers. With
`--pixels pillow` it attacks Pillow's decoding of the same JPEGs instead: the JPEGs store chroma
at half resolution (4:2:0), and Pillow (libjpeg-turbo) and dcrobust (the `image` crate's
zune-jpeg) upsample it differently, so about a fifth of the values differ, by up to 4 grey
levels, which is as large as the smaller budgets and moves a few images in and out of the robust
set (the 4:4:4 JPEGs differ in about 2 % of the values, by IDCT rounding).

Reference: fra31/auto-attack (not on PyPI; put its `autoattack/` package on PYTHONPATH or pass
--autoattack-dir), in `version='standard'` with the settings dcrobust copies: APGD-CE (100 steps,
1 restart), APGD-DLR (100 steps, 1 restart), APGD-T (100 steps, 9 targets), FAB-T (100 steps,
9 targets), Square (5000 queries, p_init 0.8; standalone with the rescaled schedule, as
dcrobust's `square`), and the standard ensemble. Ours: `dcrobust run --suite adversarial` with
the matching attacks, run by this script (--dcrobust BINARY) or read from an existing run
directory (--ours DIR, its summary.json).

Prints a Markdown table (robust accuracy in percent, ours vs reference) and writes --json.

A comparison on many images can be run in chunks, each a separate invocation (about 75 minutes
of CPU per 100 images at 2/255, both sides): `--offset K` takes test images K .. K + N/10 - 1 of
each class (dcrobust reads them from an ImageFolder of just those JPEGs, which it evaluates in
the same order), and `--merge A.json B.json ...` combines the chunks' --json files into one
table. dcrobust seeds its random draws by image index within a run, so chunk runs draw different
random numbers than one run over all the images; either is a valid sample.

Example (from the repository root):
  python3 -m venv .venv-torch && .venv-torch/bin/pip install torch numpy safetensors pillow
  .venv-torch/bin/python attacks/scripts/reference_compare.py --autoattack-dir path/to/auto-attack \
      --dcrobust target/release/dcrobust --images 200 --eps 8/255 --json runs/aa-compare.json
"""

import argparse
import io
import json
import subprocess
import sys
import tarfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
ATTACKS = ["apgd-ce", "apgd-dlr", "apgd-t", "fab-t", "square", "autoattack"]


def parse_eps(s):
    return float(Fraction(s))


def load_model(model_dir):
    """dcrobust's CNN-9 (baseline operator) in PyTorch, with the checkpoint's weights."""
    sys.path.insert(0, str(ROOT / "benches"))
    from torch_cnn9 import cnn9  # the definition shared with dcrobust's benchmark
    from safetensors.torch import load_file

    cfg = json.loads((Path(model_dir) / "config.json").read_text())["model"]
    if cfg["arch"] != "cnn9" or cfg.get("operator") not in (None, "baseline"):
        sys.exit(f"only baseline CNN-9 checkpoints are supported, not {cfg['arch']} / {cfg.get('operator')}")
    net = cnn9("baseline", cfg["width"], classes=cfg["num_classes"], channels=cfg["in_channels"],
               size=cfg["image_size"][0])
    weights = load_file(str(Path(model_dir) / "model.safetensors"))
    convs = [m for m in net if isinstance(m, nn.Conv2d)]
    bns = [m for m in net if isinstance(m, nn.BatchNorm2d)]
    names = [f"stage{s}.conv{c}" for s in (1, 2, 3) for c in (1, 2, 3)]
    state = {}
    for conv, bn, name in zip(convs, bns, names):
        state[conv] = {"weight": weights[f"{name}.weight"]}
        state[bn] = {k: weights[f"{name}.bn.{k}"] for k in ("weight", "bias", "running_mean", "running_var")}
        bn.eps = cfg["bn_eps"]
    state[convs[9]] = {"weight": weights["fc6.weight"], "bias": weights["fc6.bias"]}
    state[convs[10]] = {"weight": weights["score.weight"]}
    for module, tensors in state.items():
        for k, v in tensors.items():
            getattr(module, k).data.copy_(v)

    class Scaled(nn.Module):
        """Images in [0, 1] in, logits out: dcrobust's input scaling, then the network."""

        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net((255.0 * x - 127.5) / 128.0)

    model = Scaled(net).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def image_names(n, offset=0):
    """The embedded subset's names of test images offset .. offset + n/10 - 1 of each class,
    class-major (the order dcrobust evaluates them in)."""
    per_class = n // len(CLASSES)
    if per_class * len(CLASSES) != n or not 1 <= per_class or offset < 0 or offset + per_class > 100:
        sys.exit("--images must be a multiple of 10, and --offset plus --images/10 at most 100 "
                 f"(the embedded subset's test images per class); got {n} and {offset}")
    return [f"test/{c}/{i:04d}.jpg" for c in CLASSES for i in range(offset, offset + per_class)]


def read_jpegs(names):
    """The JPEG bytes of `names` from the embedded subset."""
    wanted, found = set(names), {}
    with tarfile.open(ROOT / "src/data/embedded/cifar10-small.tar.gz") as tar:
        for member in tar:
            key = member.name.lstrip("./")
            if key in wanted:
                found[key] = tar.extractfile(member).read()
    missing = wanted - set(found)
    if missing:
        sys.exit(f"the embedded subset lacks {sorted(missing)[:3]}")
    return [found[k] for k in names]


def load_images(names):
    """The images `names` (decoded with Pillow, in [0, 1], NCHW) and their labels."""
    from PIL import Image

    arrays = [np.asarray(Image.open(io.BytesIO(b)).convert("RGB"), dtype=np.float32) / 255.0
              for b in read_jpegs(names)]
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    y = torch.tensor([CLASSES.index(n.split("/")[1]) for n in names])
    return x, y


def dcrobust_images(names, offset, work, limit_option):
    """The dcrobust options that select `names`, in that order: the embedded subset's
    class-balanced prefix, or for images past it (offset > 0) an ImageFolder of just those JPEGs
    under `work`. `limit_option` is the command's count option (`--eval-images` for `run`,
    `--test-limit` for `corrupt`)."""
    count = [limit_option, str(len(names))]
    if not offset:
        return count
    folder = Path(work) / "images"
    write_test_folder(names, folder)
    return ["--data", str(folder), *count]


def dcrobust_pixels(binary, names, offset, work):
    """The images `names` as dcrobust decodes them (`dcrobust corrupt --clean` writes them,
    uint8 NHWC, in evaluation order), in [0, 1], NCHW, with their labels."""
    out = Path(work) / "pixels"
    source = dcrobust_images(names, offset, work, "--test-limit")
    cmd = [binary, "corrupt", *source, "--clean", "--corruptions", "brightness", "--severities", "1",
           "--out", str(out)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    clean = np.load(out / "clean.npy")
    labels = np.load(out / "labels.npy").astype(np.int64)
    if len(clean) != len(names):
        sys.exit(f"{out / 'clean.npy'} holds {len(clean)} images, expected {len(names)}")
    x = torch.from_numpy(clean.astype(np.float32) / 255.0).permute(0, 3, 1, 2).contiguous()
    return x, torch.from_numpy(labels)


def write_test_folder(names, folder):
    """An ImageFolder holding only `test/<class>/`: the JPEGs of `names`, byte for byte, which
    dcrobust evaluates in the order of `names` (class folders and file names sort that way)."""
    for name, data in zip(names, read_jpegs(names)):
        path = Path(folder) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def correct(model, x, y, bs=250):
    """Per image: whether the model classifies it correctly."""
    with torch.no_grad():
        return torch.cat([model(x[i:i + bs]).argmax(1) == y[i:i + bs] for i in range(0, len(x), bs)])


def accuracy(model, x, y, bs=250):
    return correct(model, x, y, bs).float().mean().item()


def reference(model, x, y, eps, attacks, seed, bs):
    """Robust accuracy of each reference attack, in the AutoAttack harness (only correctly
    classified images are attacked)."""
    from autoattack import AutoAttack
    from autoattack.square import SquareAttack

    out, seconds, robust = {}, {}, {}
    for name in attacks:
        t = time.time()
        if name == "autoattack":
            aa = AutoAttack(model, norm="Linf", eps=eps, version="standard", seed=seed, device="cpu",
                            verbose=False)
        elif name == "square":
            # Standalone Square as dcrobust's `square` runs it: the schedule rescaled to the
            # queries (the reference's default; the ensemble's component does not rescale).
            aa = AutoAttack(model, norm="Linf", eps=eps, version="custom", attacks_to_run=["square"],
                            seed=seed, device="cpu", verbose=False)
            aa.square = SquareAttack(model, p_init=0.8, n_queries=5000, eps=eps, norm="Linf",
                                     n_restarts=1, seed=seed, verbose=False, device="cpu",
                                     resc_schedule=True)
        else:
            aa = AutoAttack(model, norm="Linf", eps=eps, version="custom", attacks_to_run=[name],
                            seed=seed, device="cpu", verbose=False)
            aa.apgd.n_restarts = 1
            aa.apgd_targeted.n_target_classes = 9
            aa.apgd_targeted.n_restarts = 1
            aa.fab.n_target_classes = 9
            aa.fab.n_restarts = 1
        x_adv = aa.run_standard_evaluation(x, y, bs=bs)
        ok = correct(model, x_adv, y)
        out[name] = ok.float().mean().item()
        robust[name] = ok.nonzero().flatten().tolist()
        seconds[name] = time.time() - t
        print(f"reference {name}: {100 * out[name]:.2f}% ({seconds[name]:.0f} s)", flush=True)
    return out, seconds, robust


def work_dir(args):
    """Where the run's files go: next to --json, named after it."""
    return Path(args.json or "aa-compare.json").with_suffix("")


def ours(args, attacks, names):
    """Robust accuracy of each dcrobust attack, from a run directory (run first if asked)."""
    run_dir = Path(args.ours) if args.ours else work_dir(args) / "dcrobust"
    if args.dcrobust and not args.ours:
        source = dcrobust_images(names, args.offset, work_dir(args), "--eval-images")
        cmd = [args.dcrobust, "run", "--suite", "adversarial", "--checkpoint", f"zoo:{Path(args.model).name}",
               "--attacks", ",".join(attacks), "--square-queries", "5000", *source,
               "--linf-eps", args.eps, "--headline-linf", args.eps, "--no-transfer", "--examples", "0",
               "--threads", str(args.threads), "--seed", str(args.seed), "--out", str(run_dir)]
        print("ours:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    summary = json.loads((run_dir / "summary.json").read_text())
    m = next(m for m in summary["models"] if m["model"] == Path(args.model).name)
    acc = {c["attack"]: c["accuracy"] for c in m["cells"]}
    secs = {c["attack"]: c["seconds"] for c in m["cells"]}
    robust = {}
    records = run_dir / "records.jsonl"
    if records.exists():
        for line in records.read_text().splitlines():
            r = json.loads(line)
            if r["model"] == m["model"] and r["source"] is None and r["adv_pred"] == r["label"]:
                robust.setdefault(r["attack"], []).append(r["index"])
    return m["clean_accuracy"], acc, secs, robust, run_dir


def read_result(path):
    """An earlier --json result, or exit with a message naming the file."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        sys.exit(f"{path}: not a readable reference_compare.py --json result ({e})")


def earlier(path, result, keys, same=()):
    """The `keys` of an earlier --json result, which must be of the same images, eps and seed
    (and the `same` keys) as `result`."""
    e = read_result(path)
    for key in ("images", "eps", "seed", *same):
        if e.get(key) != result[key]:
            sys.exit(f"{path}: {key} {e.get(key)!r}, this run {result[key]!r}")
    if e.get("offset", 0) != result["offset"]:
        sys.exit(f"{path}: offset {e.get('offset', 0)}, this run {result['offset']}")
    return {k: e[k] for k in keys if k in e}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "src/zoo/cnn9-baseline"), help="a zoo model directory")
    ap.add_argument("--images", type=int, default=200, help="class-balanced test images (multiple of 10)")
    ap.add_argument("--offset", type=int, default=0,
                    help="skip this many test images of each class (run 1,000 images as ten chunks of "
                         "100: --offset 0, 10, ..., 90, then --merge)")
    ap.add_argument("--merge", nargs="+", metavar="JSON",
                    help="only combine the --json results of chunks (same model, eps, attacks and seed) "
                         "into one table")
    ap.add_argument("--eps", default="8/255")
    ap.add_argument("--attacks", default=",".join(ATTACKS))
    ap.add_argument("--autoattack-dir", help="folder holding fra31/auto-attack's autoattack/ package")
    ap.add_argument("--dcrobust", help="dcrobust binary: run our side too")
    ap.add_argument("--ours", help="an existing `dcrobust run --suite adversarial` directory")
    ap.add_argument("--ours-json", help="take our side from an earlier --json result of the same images")
    ap.add_argument("--reference-json",
                    help="take the reference's side from an earlier --json result of the same images "
                         "and pixels (rerun only ours)")
    ap.add_argument("--pixels", choices=["dcrobust", "pillow"], default="dcrobust",
                    help="the reference attacks dcrobust's decoded pixels (from --dcrobust's `corrupt "
                         "--clean`; the default) or Pillow's decoding of the same JPEGs")
    ap.add_argument("--no-reference", action="store_true", help="only our side")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bs", type=int, default=250, help="reference batch size")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    if args.merge:
        result = merge(args.merge)
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
        print_table(result, result["attacks"])
        return
    if args.autoattack_dir:
        sys.path.insert(0, args.autoattack_dir)
    torch.set_num_threads(args.threads)
    attacks = args.attacks.split(",")
    eps = parse_eps(args.eps)

    model = load_model(args.model)
    names = image_names(args.images, args.offset)
    if args.pixels == "dcrobust":
        if not args.dcrobust:
            sys.exit("--pixels dcrobust needs --dcrobust BINARY (or pass --pixels pillow)")
        x, y = dcrobust_pixels(args.dcrobust, names, args.offset, work_dir(args))
        xp, yp = load_images(names)
        if not torch.equal(y, yp):
            sys.exit("dcrobust's labels differ from the embedded subset's folders")
        differ = (x != xp).float().mean().item()
        print(f"dcrobust's decoding differs from Pillow's in {100 * differ:.1f}% of the values", flush=True)
    else:
        x, y = load_images(names)
    clean_ref = accuracy(model, x, y)
    print(f"{len(x)} images, PyTorch clean accuracy {100 * clean_ref:.2f}%", flush=True)

    result = {"model": args.model, "images": args.images, "offset": args.offset, "eps": args.eps,
              "seed": args.seed, "attacks": attacks, "pixels": args.pixels, "torch": torch.__version__,
              "reference_clean": clean_ref, "command": " ".join(sys.argv)}
    if args.ours_json:
        result.update(earlier(args.ours_json, result, ("ours_clean", "ours", "ours_seconds",
                                                       "ours_robust", "ours_run")))
    elif args.dcrobust or args.ours:
        clean, acc, secs, robust, run_dir = ours(args, attacks, names)
        result.update(ours_clean=clean, ours=acc, ours_seconds=secs, ours_robust=robust,
                      ours_run=str(run_dir))
    if args.reference_json:
        result.update(earlier(args.reference_json, result, ("reference", "reference_seconds",
                                                            "reference_robust"), ("pixels",)))
    elif not args.no_reference:
        ref, ref_secs, ref_robust = reference(model, x, y, eps, attacks, args.seed, args.bs)
        result.update(reference=ref, reference_seconds=ref_secs, reference_robust=ref_robust)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")

    print_table(result, attacks)


def chunk_names(result):
    """The image names of a result's chunk, in its index order."""
    return image_names(result["images"], result.get("offset", 0))


def merge(files):
    """One result from chunk results: accuracies weighted by images, seconds summed, robust image
    sets as image names. The chunks must share model, eps, seed and attacks and not overlap."""
    parts = [read_result(f) for f in files]
    first = parts[0]
    for p, f in zip(parts, files):
        for key in ("model", "eps", "seed"):
            if p[key] != first[key]:
                sys.exit(f"{f}: {key} {p[key]!r} differs from {files[0]}'s {first[key]!r}")
    attacks = first.get("attacks") or ATTACKS
    seen = set()
    for p, f in zip(parts, files):
        names = set(chunk_names(p))
        if names & seen:
            sys.exit(f"{f} overlaps an earlier chunk (offset {p.get('offset', 0)})")
        seen |= names
    total = sum(p["images"] for p in parts)
    out = {"model": first["model"], "images": total, "eps": first["eps"], "seed": first["seed"],
           "attacks": attacks, "chunks": [{"file": str(f), "offset": p.get("offset", 0), "images": p["images"]}
                                          for p, f in zip(parts, files)]}

    def weighted(key):
        if not all(key in p for p in parts):
            return None
        return sum(p[key] * p["images"] for p in parts) / total

    out["reference_clean"] = weighted("reference_clean")
    if weighted("ours_clean") is not None:
        out["ours_clean"] = weighted("ours_clean")
    for side in ("ours", "reference"):
        if not all(side in p for p in parts):
            continue
        out[side] = {a: sum(p[side][a] * p["images"] for p in parts) / total for a in attacks}
        out[f"{side}_seconds"] = {a: sum(p[f"{side}_seconds"][a] for p in parts) for a in attacks}
        if all(f"{side}_robust" in p for p in parts):
            out[f"{side}_robust"] = {
                a: sorted(chunk_names(p)[i] for p in parts for i in p[f"{side}_robust"].get(a, []))
                for a in attacks}
    return out


def print_table(result, attacks):
    """The Markdown comparison table of `result` (robust accuracy in percent, as docs/attacks.md
    shows it), then the images robust on one side only."""
    print(f"\n{result['images']} images, eps {result['eps']}, {Path(result['model']).name}\n")
    print("| attack | dcrobust | reference | difference | robust in dcrobust only / in the reference only |")
    print("| --- | ---: | ---: | ---: | ---: |")
    o, r = result.get("ours", {}), result.get("reference", {})
    orob, rrob = result.get("ours_robust", {}), result.get("reference_robust", {})
    rows = [("clean", result.get("ours_clean"), result["reference_clean"])]
    rows += [(a, o.get(a), r.get(a)) for a in attacks]
    notes = []
    for name, a, b in rows:
        fa = f"{100 * a:.2f}" if a is not None else "–"
        fb = f"{100 * b:.2f}" if b is not None else "–"
        fd = f"{round(100 * (a - b), 2) + 0.0:+.2f}" if a is not None and b is not None else "–"
        only = "-"
        if name != "clean" and (orob or rrob):
            so, sr = set(orob.get(name, [])), set(rrob.get(name, []))
            only = f"{len(so - sr)} / {len(sr - so)}"
            if so ^ sr:
                notes.append(f"{name}: dcrobust only {sorted(so - sr)}, reference only {sorted(sr - so)}")
        label = name if name == "clean" else f"`{name}`"
        print(f"| {label} | {fa} | {fb} | {fd} | {only} |")
    for n in notes:
        print(n)


if __name__ == "__main__":
    main()
