# Reference values for the dcrobust-corruptions tests (src/tests.rs). Needs numpy scipy
# scikit-image opencv-python-headless pillow wand and ImageMagick 6 (apt: imagemagick).
# Run: python3 corruptions/scripts/reference_values.py
import numpy as np, cv2, skimage as sk
from skimage.filters import gaussian
from scipy.ndimage import zoom as scizoom
from PIL import Image as PILImage
from io import BytesIO
import ctypes
from wand.image import Image as WandImage
from wand.api import library as wandlibrary

H = W = 32
def test_image(h=H, w=W):
    y, x = np.mgrid[0:h, 0:w]
    chans = [(37 * x + 23 * y + 91 * c + (x * y * (c + 1)) % 29 * 3 + ((x ^ y) * 11)) % 256 for c in range(3)]
    return np.stack(chans, axis=-1).astype(np.uint8)  # HWC

img = test_image()
SAMPLES = [0, 31, 992, 1023, 1191, 2576, 3071, 500, 1500, 2500, 100, 2000]
def report(name, out):
    chw = np.asarray(out).astype(np.uint8).transpose(2, 0, 1).reshape(-1)
    print(f"{name}: sum={int(chw.astype(np.int64).sum())} samples={[int(chw[i]) for i in SAMPLES]}")

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
