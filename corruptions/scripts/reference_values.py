# Reference values for the dcrobust-corruptions tests (src/tests.rs).
# Run: python3 corruptions/scripts/reference_values.py [SECTION ...]   (no SECTION: all four)
# Sections and what each needs (pip names; a venv is enough):
#   filters  gaussian/defocus/zoom blur, contrast, brightness, saturate, pixelate:
#            numpy scipy scikit-image opencv-python-headless pillow
#   motion   ImageMagick motion blur through Wand: numpy opencv-python-headless pillow wand,
#            and ImageMagick 6 (apt: imagemagick)
#   glass    make_cifar_c.py's glass_blur: numpy scikit-image
#   jpeg     make_cifar_c.py's jpeg_compression (Pillow): numpy pillow; also (re)writes
#            corruptions/testdata/pillow_jpeg.bin
import os, sys
import numpy as np
from io import BytesIO

SECTIONS = sys.argv[1:] or ["filters", "motion", "glass", "jpeg"]
for name in SECTIONS:
    if name not in ("filters", "motion", "glass", "jpeg"):
        sys.exit(f"unknown section {name!r}: expected filters, motion, glass or jpeg")

H = W = 32
def test_image(h=H, w=W):
    y, x = np.mgrid[0:h, 0:w]
    chans = [(37 * x + 23 * y + 91 * c + (x * y * (c + 1)) % 29 * 3 + ((x ^ y) * 11)) % 256 for c in range(3)]
    return np.stack(chans, axis=-1).astype(np.uint8)  # HWC

# A family of test images for the statistical checks (glass blur) and the JPEG file, made
# of gradients, products and xor patterns like the test image (src/tests.rs, family_image).
def family_image(k, h=H, w=W):
    y, x = np.mgrid[0:h, 0:w]
    a, b, m, e, f = 1 + (7 * k) % 11, 1 + (5 * k) % 13, 3 + k % 29, k % 4, (3 * k) % 7
    chans = [(a * x + b * y + 91 * c + (x * y * (c + 1)) % m * e + (x ^ y) * f + 17 * k) % 256 for c in range(3)]
    return np.stack(chans, axis=-1).astype(np.uint8)  # HWC

img = test_image()
SAMPLES = [0, 31, 992, 1023, 1191, 2576, 3071, 500, 1500, 2500, 100, 2000]
def report(name, out):
    chw = np.asarray(out).astype(np.uint8).transpose(2, 0, 1).reshape(-1)
    print(f"{name}: sum={int(chw.astype(np.int64).sum())} samples={[int(chw[i]) for i in SAMPLES]}")

if "filters" in SECTIONS:
    import cv2, skimage as sk
    from skimage.filters import gaussian
    from scipy.ndimage import zoom as scizoom
    from PIL import Image as PILImage

    def disk(radius, alias_blur=0.1, dtype=np.float32):
        if radius <= 8:
            L = np.arange(-8, 8 + 1); ksize = (3, 3)
        else:
            L = np.arange(-radius, radius + 1); ksize = (5, 5)
        X, Y = np.meshgrid(L, L)
        aliased_disk = np.array((X ** 2 + Y ** 2) <= radius ** 2, dtype=dtype)
        aliased_disk /= np.sum(aliased_disk)
        return cv2.GaussianBlur(aliased_disk, ksize=ksize, sigmaX=alias_blur)

    def clipped_zoom(img, zoom_factor):
        h = img.shape[0]
        ch = int(np.ceil(h / zoom_factor))
        top = (h - ch) // 2
        img = scizoom(img[top:top + ch, top:top + ch], (zoom_factor, zoom_factor, 1), order=1)
        trim_top = (img.shape[0] - h) // 2
        return img[trim_top:trim_top + h, trim_top:trim_top + h]

    def gaussian_blur(x, c): return np.clip(gaussian(np.array(x) / 255., sigma=c, channel_axis=-1), 0, 1) * 255
    def defocus_blur(x, c):
        x = np.array(x) / 255.; kernel = disk(radius=c[0], alias_blur=c[1])
        return np.clip(np.array([cv2.filter2D(x[:, :, d], -1, kernel) for d in range(3)]).transpose((1, 2, 0)), 0, 1) * 255
    def zoom_blur(x, c):
        x = (np.array(x) / 255.).astype(np.float32); out = np.zeros_like(x)
        for z in c: out += clipped_zoom(x, z)
        return np.clip((x + out) / (len(c) + 1), 0, 1) * 255
    def contrast(x, c):
        x = np.array(x) / 255.; means = np.mean(x, axis=(0, 1), keepdims=True)
        return np.clip((x - means) * c + means, 0, 1) * 255
    def brightness(x, c):
        x = sk.color.rgb2hsv(np.array(x) / 255.); x[:, :, 2] = np.clip(x[:, :, 2] + c, 0, 1)
        return np.clip(sk.color.hsv2rgb(x), 0, 1) * 255
    def saturate(x, c):
        x = sk.color.rgb2hsv(np.array(x) / 255.); x[:, :, 1] = np.clip(x[:, :, 1] * c[0] + c[1], 0, 1)
        return np.clip(sk.color.hsv2rgb(x), 0, 1) * 255
    def pixelate(x, c):
        x = PILImage.fromarray(x); x = x.resize((int(32 * c), int(32 * c)), PILImage.BOX)
        return np.array(x.resize((32, 32), PILImage.BOX))

    tabs = {
     'gaussian_blur': (gaussian_blur, [.4, .6, 0.7, .8, 1]),
     'defocus_blur': (defocus_blur, [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)]),
     'zoom_blur': (zoom_blur, [np.arange(1, 1.06, 0.01), np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.01), np.arange(1, 1.26, 0.01)]),
     'contrast': (contrast, [.75, .5, .4, .3, 0.15]),
     'brightness': (brightness, [.05, .1, .15, .2, .3]),
     'saturate': (saturate, [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)]),
     'pixelate': (pixelate, [0.95, 0.9, 0.85, 0.75, 0.65]),
    }
    for name, (f, cs) in tabs.items():
        for s, c in enumerate(cs, 1):
            report(f"{name} s{s}", np.uint8(f(img, c)))

if "motion" in SECTIONS:
    import ctypes, cv2
    from PIL import Image as PILImage
    from wand.image import Image as WandImage
    from wand.api import library as wandlibrary

    # ImageMagick motion blur through Wand, as make_cifar_c.py calls it.
    wandlibrary.MagickMotionBlurImage.argtypes = (ctypes.c_void_p, ctypes.c_double, ctypes.c_double, ctypes.c_double)
    def im_motion(x, radius, sigma, angle):
        out = BytesIO(); PILImage.fromarray(x).save(out, format='PNG')
        with WandImage(blob=out.getvalue()) as wi:
            wandlibrary.MagickMotionBlurImage(wi.wand, radius, sigma, angle)
            y = cv2.imdecode(np.frombuffer(wi.make_blob(), np.uint8), cv2.IMREAD_UNCHANGED)
        return y[..., [2, 1, 0]] if y.ndim == 3 else np.stack([y] * 3, -1)
    for (r, sg, a) in [(6, 1, 30.0), (9, 2.5, -40.0), (8, 2, 0.0), (6, 2, 12.5)]:
        report(f"motion r{r} s{sg} a{a}", im_motion(img, r, sg, a))
    # one white pixel on black, horizontal blur
    dot = np.zeros((16, 16, 3), np.uint8); dot[8, 8] = 255
    y = im_motion(dot, 6, 2, 0.0)[..., 0]
    print("dot row 8:", y[8].tolist()); print("dot nonzero rows:", sorted(set(np.nonzero(y)[0].tolist())))

if "glass" in SECTIONS:
    from skimage.filters import gaussian

    # make_cifar_c.py's glass_blur (multichannel=True is channel_axis=-1 in scikit-image
    # >= 0.19); the swap line runs on NumPy views, so x[h, w] takes the neighbour's value and
    # the neighbour keeps its own.
    def glass_blur(x, severity=1):
        c = [(0.05,1,1), (0.25,1,1), (0.4,1,1), (0.25,1,2), (0.4,1,2)][severity - 1]
        x = np.uint8(gaussian(np.array(x) / 255., sigma=c[0], channel_axis=-1) * 255)
        for i in range(c[2]):
            for h in range(32 - c[1], c[1], -1):
                for w in range(32 - c[1], c[1], -1):
                    dx, dy = np.random.randint(-c[1], c[1], size=(2,))
                    h_prime, w_prime = h + dy, w + dx
                    x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime], x[h, w]
        return np.clip(gaussian(x / 255., sigma=c[0], channel_axis=-1), 0, 1) * 255

    # 1. The pixel walk alone, on the 8-bit test image, with the script's loop and assignment
    #    but the offsets (dx first, then dy) from a fixed generator instead of NumPy's:
    #    state = state * 6364136223846793005 + 1442695040888963407 (mod 2^64), starting at
    #    12345; offset = (state >> 33) % (2 delta) - delta.
    def glass_walk(x, delta, iterations):
        state = 12345
        def draw():
            nonlocal state
            state = (state * 6364136223846793005 + 1442695040888963407) % 2 ** 64
            return (state >> 33) % (2 * delta) - delta
        for i in range(iterations):
            for h in range(x.shape[0] - delta, delta, -1):
                for w in range(x.shape[1] - delta, delta, -1):
                    dx = draw(); dy = draw()
                    h_prime, w_prime = h + dy, w + dx
                    x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime], x[h, w]
        return x
    for (delta, iterations) in [(1, 1), (1, 2), (2, 1), (3, 2)]:
        report(f"glass walk d{delta} i{iterations}", glass_walk(img.copy(), delta, iterations))

    # 2. Damage statistics: mean |np.uint8(glass_blur(x, s)) - x| (0-255 levels) over the
    #    family images 0..63 and NumPy seeds 0..3 (np.random.seed(seed) before each pass
    #    over the 64 images).
    for s in range(1, 6):
        changes = []
        for seed in range(4):
            np.random.seed(seed)
            changes += [np.abs(np.uint8(glass_blur(family_image(k), s)).astype(np.float64) - family_image(k)).mean()
                        for k in range(64)]
        print(f"glass_blur s{s}: mean |change| = {np.mean(changes):.4f} (64 family images x 4 seeds)")

if "jpeg" in SECTIONS:
    from PIL import Image as PILImage

    # make_cifar_c.py's jpeg_compression with the quality as an argument, then np.uint8 as
    # the script stores the result.
    def jpeg_compression(x, quality):
        output = BytesIO()
        PILImage.fromarray(x).save(output, 'JPEG', quality=quality)
        return np.uint8(PILImage.open(output))

    CIFAR_Q, IMAGENET_Q = [80, 65, 58, 50, 40], [25, 18, 15, 10, 7]
    for s, q in enumerate(CIFAR_Q, 1):
        report(f"jpeg_compression s{s}", jpeg_compression(img, q))
    # corruptions/testdata/pillow_jpeg.bin: Pillow's round trips of these cases, in this order,
    # each case at its five qualities (severities 1-5), each output planar (CHW) uint8:
    cases = [
        ("test image 32x32 RGB", img, CIFAR_Q),
        ("family 5 32x32 RGB", family_image(5), CIFAR_Q),
        ("family 10 32x32 RGB", family_image(10), CIFAR_Q),
        ("family 3 17x23 RGB", family_image(3, 17, 23), IMAGENET_Q),
        ("family 7 17x23 grey (channel 0)", family_image(7, 17, 23)[..., :1], CIFAR_Q),
    ]
    blob = bytearray()
    for name, x, qs in cases:
        for q in qs:
            y = jpeg_compression(x[..., 0] if x.shape[2] == 1 else x, q).reshape(x.shape)
            blob += y.transpose(2, 0, 1).tobytes()
            print(f"jpeg {name} q{q}: mean |change| = {np.abs(y.astype(np.float64) - x).mean():.4f}")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "pillow_jpeg.bin")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(bytes(blob))
    print(f"wrote {len(blob)} bytes to corruptions/testdata/pillow_jpeg.bin")
