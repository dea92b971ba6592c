# Glass blur and JPEG of dcrobust-corruptions against make_cifar_c.py on real CIFAR-10 images.
# Needs numpy, scikit-image and pillow (a venv: python3 -m venv V && V/bin/pip install numpy
# scikit-image pillow) and cargo. Run from the repository root:
#   V/bin/python corruptions/scripts/measure_fidelity.py DATA_DIR [IMAGES_PER_CLASS] [SEEDS] [PARTS]
# DATA_DIR is a CIFAR-10 ImageFolder (test/<class>/NNNN.jpg), e.g. PATH/TO/cifar10; the first
# IMAGES_PER_CLASS (default 100) test images of each class, decoded by Pillow, are the clean
# images both sides get. It prints, per severity:
# - glass blur: the mean absolute change |out - in| (0-255 levels) of the reference over SEEDS
#   (default 3) NumPy seeds, of dcrobust over as many run seeds, and their ratio;
# - JPEG: the mean absolute difference between dcrobust's round trip and Pillow's.
# PARTS is `glass,jpeg` (the default), `glass` or `jpeg`.
import os, subprocess, sys
from io import BytesIO

import numpy as np
from PIL import Image as PILImage
from skimage.filters import gaussian

if len(sys.argv) < 2:
    sys.exit("usage: measure_fidelity.py DATA_DIR [IMAGES_PER_CLASS] [SEEDS] [PARTS] (DATA_DIR: a CIFAR-10 ImageFolder)")
data = sys.argv[1]
per_class = int(sys.argv[2]) if len(sys.argv) > 2 else 100
seeds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
parts = (sys.argv[4] if len(sys.argv) > 4 else "glass,jpeg").split(",")

test = os.path.join(data, "test")
imgs = []
for cls in sorted(os.listdir(test)):
    files = sorted(os.listdir(os.path.join(test, cls)))[:per_class]
    imgs += [np.array(PILImage.open(os.path.join(test, cls, f)).convert("RGB")) for f in files]
imgs = np.stack(imgs)  # N, 32, 32, 3
print(f"{len(imgs)} images from {test}")


def ours(name, severity, seed):
    """dcrobust's output (N, H, W, 3) through the corrupt_raw example."""
    raw = np.ascontiguousarray(imgs.transpose(0, 3, 1, 2)).tobytes()
    cmd = ["cargo", "run", "--release", "-q", "-p", "dcrobust-corruptions", "--example",
           "corrupt_raw", "--", name, str(severity), str(seed), "32", "32"]
    out = subprocess.run(cmd, input=raw, capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(imgs.shape[0], 3, 32, 32).transpose(0, 2, 3, 1)


# make_cifar_c.py's glass_blur (multichannel=True is channel_axis=-1 in scikit-image >= 0.19).
def glass_blur(x, severity=1):
    c = [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)][severity - 1]
    x = np.uint8(gaussian(np.array(x) / 255., sigma=c[0], channel_axis=-1) * 255)
    for i in range(c[2]):
        for h in range(32 - c[1], c[1], -1):
            for w in range(32 - c[1], c[1], -1):
                dx, dy = np.random.randint(-c[1], c[1], size=(2,))
                h_prime, w_prime = h + dy, w + dx
                x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime], x[h, w]
    return np.clip(gaussian(x / 255., sigma=c[0], channel_axis=-1), 0, 1) * 255


# make_cifar_c.py's jpeg_compression, then np.uint8 as the script saves it.
def jpeg_compression(x, severity=1):
    c = [80, 65, 58, 50, 40][severity - 1]
    output = BytesIO()
    PILImage.fromarray(x).save(output, "JPEG", quality=c)
    return np.uint8(PILImage.open(output))


def mac(a, b):
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


for s in range(1, 6) if "glass" in parts else []:
    if s == 1:
        print("glass_blur: severity, reference mean |change|, dcrobust mean |change|, ratio")
    ref = []
    for seed in range(seeds):
        np.random.seed(seed)
        ref.append(mac(np.stack([np.uint8(glass_blur(x, s)) for x in imgs]), imgs))
    got = [mac(ours("glass_blur", s, seed), imgs) for seed in range(seeds)]
    r, g = np.mean(ref), np.mean(got)
    print(f"  s{s}: {r:.4f} {g:.4f} {g / r:.3f}")

for s, q in enumerate([80, 65, 58, 50, 40] if "jpeg" in parts else [], 1):
    if s == 1:
        print("jpeg_compression: severity, quality, mean |dcrobust - Pillow|, max, "
              "Pillow mean |change|")
    ref = np.stack([jpeg_compression(x, s) for x in imgs])
    got = ours("jpeg_compression", s, 0)
    print(f"  s{s} q{q}: {mac(got, ref):.4f} {int(np.abs(got.astype(int) - ref).max())} "
          f"{mac(ref, imgs):.4f}")
