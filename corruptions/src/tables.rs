//! The severity tables, as data.
//!
//! [`CIFAR10C`] is `make_cifar_c.py` (Hendrycks & Dietterich, CIFAR-10-C, 32x32 images) and
//! [`IMAGENETC`] is `make_imagenet_c.py` (ImageNet-C, 224x224 images). Every array is indexed by
//! [`crate::Severity::index`], i.e. `table[severity - 1]`.

/// Parameters of `glass_blur` at one severity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GlassParams {
    /// Gaussian blur σ in pixels, applied before and after the shuffle.
    pub sigma: f64,
    /// Largest pixel shift δ (offsets are drawn from `[-δ, δ)`).
    pub delta: usize,
    /// Number of shuffle passes.
    pub iterations: usize,
}

/// Parameters of `snow` at one severity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SnowParams {
    /// Mean of the Gaussian snow layer.
    pub mean: f64,
    /// Standard deviation of the Gaussian snow layer.
    pub std: f64,
    /// Zoom factor applied to the layer (centre crop, bilinear zoom).
    pub zoom: f64,
    /// Layer values below this are set to 0.
    pub threshold: f64,
    /// ImageMagick motion-blur radius for the layer.
    pub blur_radius: f64,
    /// ImageMagick motion-blur σ for the layer.
    pub blur_sigma: f64,
    /// Weight of the original image in the whitening blend.
    pub blend: f64,
}

/// Parameters of `spatter` at one severity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpatterParams {
    /// Mean of the Gaussian liquid layer.
    pub mean: f64,
    /// Standard deviation of the Gaussian liquid layer.
    pub std: f64,
    /// σ of the Gaussian blur applied to the layer.
    pub blur_sigma: f64,
    /// Blurred layer values below this are set to 0.
    pub threshold: f64,
    /// Water: colour intensity; mud: σ of the mask blur.
    pub k: f64,
    /// `false` = water (mode 0), `true` = mud (mode 1).
    pub mud: bool,
}

/// Every parameter of one severity table.
#[derive(Clone, Debug, PartialEq)]
pub struct SeverityTable {
    /// `gaussian_noise`: σ of the additive noise (in `[0, 1]` units).
    pub gaussian_noise: [f64; 5],
    /// `shot_noise`: Poisson rate scale c (`out = Poisson(x·c)/c`).
    pub shot_noise: [f64; 5],
    /// `impulse_noise`: salt-and-pepper amount.
    pub impulse_noise: [f64; 5],
    /// `speckle_noise`: σ of the multiplicative noise.
    pub speckle_noise: [f64; 5],
    /// `gaussian_blur`: σ in pixels.
    pub gaussian_blur: [f64; 5],
    /// `glass_blur`: (σ, δ, iterations).
    pub glass_blur: [GlassParams; 5],
    /// `defocus_blur`: (disk radius, anti-alias σ).
    pub defocus_blur: [(f64, f64); 5],
    /// `motion_blur`: (ImageMagick radius, σ).
    pub motion_blur: [(f64, f64); 5],
    /// `zoom_blur`: (stop, step) of `numpy.arange(1, stop, step)`; see [`zoom_factors`].
    pub zoom_blur: [(f64, f64); 5],
    /// `snow` parameters.
    pub snow: [SnowParams; 5],
    /// `frost`: (image weight, frost weight).
    pub frost: [(f64, f64); 5],
    /// `fog`: (fractal strength, wibble decay).
    pub fog: [(f64, f64); 5],
    /// `brightness`: added to the HSV value channel.
    pub brightness: [f64; 5],
    /// `contrast`: factor applied around the per-channel mean.
    pub contrast: [f64; 5],
    /// `saturate`: (HSV saturation multiplier, offset).
    pub saturate: [(f64, f64); 5],
    /// `spatter` parameters.
    pub spatter: [SpatterParams; 5],
    /// `jpeg_compression`: JPEG quality.
    pub jpeg_quality: [u8; 5],
    /// `pixelate`: downscale factor.
    pub pixelate: [f64; 5],
    /// `elastic_transform`: (α, σ, affine jitter) as fractions of [`Self::elastic_unit`].
    pub elastic: [(f64, f64, f64); 5],
    /// The length the elastic fractions multiply (32 for CIFAR, 244 for ImageNet, as in the
    /// scripts) at the table's reference size.
    pub elastic_unit: f64,
    /// The image side the table was made for (32 or 224); elastic parameters scale with
    /// `min(height, width) / reference_size`.
    pub reference_size: usize,
}

const fn glass(sigma: f64, delta: usize, iterations: usize) -> GlassParams {
    GlassParams {
        sigma,
        delta,
        iterations,
    }
}

const fn snow(
    mean: f64,
    std: f64,
    zoom: f64,
    threshold: f64,
    blur_radius: f64,
    blur_sigma: f64,
    blend: f64,
) -> SnowParams {
    SnowParams {
        mean,
        std,
        zoom,
        threshold,
        blur_radius,
        blur_sigma,
        blend,
    }
}

const fn spatter(
    mean: f64,
    std: f64,
    blur_sigma: f64,
    threshold: f64,
    k: f64,
    mode: u8,
) -> SpatterParams {
    SpatterParams {
        mean,
        std,
        blur_sigma,
        threshold,
        k,
        mud: mode == 1,
    }
}

/// CIFAR-10-C (`make_cifar_c.py`).
pub const CIFAR10C: SeverityTable = SeverityTable {
    gaussian_noise: [0.04, 0.06, 0.08, 0.09, 0.10],
    shot_noise: [500.0, 250.0, 100.0, 75.0, 50.0],
    impulse_noise: [0.01, 0.02, 0.03, 0.05, 0.07],
    speckle_noise: [0.06, 0.10, 0.12, 0.16, 0.20],
    gaussian_blur: [0.4, 0.6, 0.7, 0.8, 1.0],
    glass_blur: [
        glass(0.05, 1, 1),
        glass(0.25, 1, 1),
        glass(0.4, 1, 1),
        glass(0.25, 1, 2),
        glass(0.4, 1, 2),
    ],
    defocus_blur: [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1)],
    motion_blur: [(6.0, 1.0), (6.0, 1.5), (6.0, 2.0), (8.0, 2.0), (9.0, 2.5)],
    zoom_blur: [
        (1.06, 0.01),
        (1.11, 0.01),
        (1.16, 0.01),
        (1.21, 0.01),
        (1.26, 0.01),
    ],
    snow: [
        snow(0.1, 0.2, 1.0, 0.6, 8.0, 3.0, 0.95),
        snow(0.1, 0.2, 1.0, 0.5, 10.0, 4.0, 0.9),
        snow(0.15, 0.3, 1.75, 0.55, 10.0, 4.0, 0.9),
        snow(0.25, 0.3, 2.25, 0.6, 12.0, 6.0, 0.85),
        snow(0.3, 0.3, 1.25, 0.65, 14.0, 12.0, 0.8),
    ],
    frost: [
        (1.0, 0.2),
        (1.0, 0.3),
        (0.9, 0.4),
        (0.85, 0.4),
        (0.75, 0.45),
    ],
    fog: [(0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1.0, 2.0), (1.5, 1.75)],
    brightness: [0.05, 0.1, 0.15, 0.2, 0.3],
    contrast: [0.75, 0.5, 0.4, 0.3, 0.15],
    saturate: [(0.3, 0.0), (0.1, 0.0), (1.5, 0.0), (2.0, 0.1), (2.5, 0.2)],
    spatter: [
        spatter(0.62, 0.1, 0.7, 0.7, 0.5, 0),
        spatter(0.65, 0.1, 0.8, 0.7, 0.5, 0),
        spatter(0.65, 0.3, 1.0, 0.69, 0.5, 0),
        spatter(0.65, 0.1, 0.7, 0.69, 0.6, 1),
        spatter(0.65, 0.1, 0.5, 0.68, 0.6, 1),
    ],
    jpeg_quality: [80, 65, 58, 50, 40],
    pixelate: [0.95, 0.9, 0.85, 0.75, 0.65],
    elastic: [
        (0.0, 0.0, 0.08),
        (0.05, 0.2, 0.07),
        (0.08, 0.06, 0.06),
        (0.1, 0.04, 0.05),
        (0.1, 0.03, 0.03),
    ],
    elastic_unit: 32.0,
    reference_size: 32,
};

/// ImageNet-C (`make_imagenet_c.py`; the table `imagecorruptions` uses).
pub const IMAGENETC: SeverityTable = SeverityTable {
    gaussian_noise: [0.08, 0.12, 0.18, 0.26, 0.38],
    shot_noise: [60.0, 25.0, 12.0, 5.0, 3.0],
    impulse_noise: [0.03, 0.06, 0.09, 0.17, 0.27],
    speckle_noise: [0.15, 0.2, 0.35, 0.45, 0.6],
    gaussian_blur: [1.0, 2.0, 3.0, 4.0, 6.0],
    glass_blur: [
        glass(0.7, 1, 2),
        glass(0.9, 2, 1),
        glass(1.0, 2, 3),
        glass(1.1, 3, 2),
        glass(1.5, 4, 2),
    ],
    defocus_blur: [(3.0, 0.1), (4.0, 0.5), (6.0, 0.5), (8.0, 0.5), (10.0, 0.5)],
    motion_blur: [
        (10.0, 3.0),
        (15.0, 5.0),
        (15.0, 8.0),
        (15.0, 12.0),
        (20.0, 15.0),
    ],
    zoom_blur: [
        (1.11, 0.01),
        (1.16, 0.01),
        (1.21, 0.02),
        (1.26, 0.02),
        (1.31, 0.03),
    ],
    snow: [
        snow(0.1, 0.3, 3.0, 0.5, 10.0, 4.0, 0.8),
        snow(0.2, 0.3, 2.0, 0.5, 12.0, 4.0, 0.7),
        snow(0.55, 0.3, 4.0, 0.9, 12.0, 8.0, 0.7),
        snow(0.55, 0.3, 4.5, 0.85, 12.0, 8.0, 0.65),
        snow(0.55, 0.3, 2.5, 0.85, 12.0, 12.0, 0.55),
    ],
    frost: [(1.0, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)],
    fog: [(1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)],
    brightness: [0.1, 0.2, 0.3, 0.4, 0.5],
    contrast: [0.4, 0.3, 0.2, 0.1, 0.05],
    saturate: [(0.3, 0.0), (0.1, 0.0), (2.0, 0.0), (5.0, 0.1), (20.0, 0.2)],
    spatter: [
        spatter(0.65, 0.3, 4.0, 0.69, 0.6, 0),
        spatter(0.65, 0.3, 3.0, 0.68, 0.6, 0),
        spatter(0.65, 0.3, 2.0, 0.68, 0.5, 0),
        spatter(0.65, 0.3, 1.0, 0.65, 1.5, 1),
        spatter(0.67, 0.4, 1.0, 0.65, 1.5, 1),
    ],
    jpeg_quality: [25, 18, 15, 10, 7],
    pixelate: [0.6, 0.5, 0.4, 0.3, 0.25],
    elastic: [
        (2.0, 0.7, 0.1),
        (2.0, 0.08, 0.2),
        (0.05, 0.01, 0.02),
        (0.07, 0.01, 0.02),
        (0.12, 0.01, 0.02),
    ],
    elastic_unit: 244.0,
    reference_size: 224,
};

/// The zoom factors of `numpy.arange(1.0, stop, step)`: `ceil((stop - 1) / step)` values
/// `1 + i·d` with `d = (1 + step) - 1`, computed in `f64` exactly as NumPy's `arange` fills
/// its buffer, so `arange(1, 1.06, 0.01)` has 7 values (the float length is
/// 6.000000000000005) and ends at 1.06.
pub fn zoom_factors(stop: f64, step: f64) -> Vec<f64> {
    let n = ((stop - 1.0) / step).ceil().max(0.0) as usize;
    let delta = (1.0 + step) - 1.0;
    (0..n).map(|i| 1.0 + i as f64 * delta).collect()
}
