//! # dcrobust-corruptions
//!
//! CIFAR-10-C style image corruptions (noise, blur, weather, digital), with the published
//! severity tables, for measuring how a classifier degrades off its training distribution.
//!
//! Contract:
//! - No tensor library: images are planar (channel-major, CHW) `u8` buffers ([`Image`]), any
//!   size from 8x8 up, grey (1 channel) or RGB (3 channels). Internally each corruption works in
//!   `f32` in `[0, 1]` (or `[0, 255]` where the reference recipe does) and the result is clipped
//!   and cast back to `u8` by truncation, like CIFAR-10-C's final `np.uint8(float)`.
//! - Severities are 1 to 5 ([`Severity`] refuses anything else), as in CIFAR-10-C.
//! - Two severity tables ([`Table`]): CIFAR-10-C's (`make_cifar_c.py`, the default) and
//!   ImageNet-C's (`make_imagenet_c.py`, the one `imagecorruptions` uses). See [`tables`].
//! - Randomness comes only from a caller-provided seed (a [`rand_chacha::ChaCha8Rng`] per
//!   image), so results do not depend on threads or on how a set is split into batches
//!   ([`corrupt_images`], [`image_seed`]).
//!
//! Grey images: every corruption that only needs per-channel arithmetic (noise, blurs, fog,
//! snow, contrast, elastic, pixelate, JPEG) runs on the single channel. The colour ones
//! (brightness, saturate, frost, spatter) expand grey to RGB, run, and convert back with the
//! luma weights 0.299, 0.587, 0.114 (OpenCV `RGB2GRAY`) before the final cast.
//!
//! How this port relates to `make_cifar_c.py` (and, for [`Table::ImageNetC`], to ImageNet-C /
//! `imagecorruptions`):
//! - Exact on the tests' reference image: brightness, saturate, contrast, defocus blur,
//!   pixelate (Pillow's fixed-point BOX resize), the ImageMagick motion blur (bit-exact
//!   against Wand on ImageMagick 6.9.11 Q16) and JPEG (bit-exact against Pillow with
//!   libjpeg-turbo 3.2). Gaussian blur and zoom blur run in `f32` and can differ by one level
//!   where a value sits on a truncation boundary.
//! - Randomness: a ChaCha8 stream per image instead of NumPy's global generator, so the
//!   stochastic corruptions match the reference in distribution only (Poisson from
//!   `rand_distr`; salt-and-pepper from one uniform draw per value with the same
//!   probabilities as scikit-image's two `choice` arrays).
//! - Severity 0 does not silently mean 5 (docs/corruptions.md, quirk 3): [`Severity`] accepts 1
//!   to 5 only.
//! - JPEG runs libjpeg-turbo's lossy stages in the pixel domain (YCbCr, 4:2:0 chroma
//!   subsampling, integer DCTs, quantisation with rounding, fancy upsampling) and skips the
//!   lossless Huffman coding, so no JPEG bytes are written; the result is Pillow's round trip.
//! - Glass blur gives each visited pixel its neighbour's value and leaves the neighbour as it
//!   is, as the reference's tuple assignment on NumPy views does (not a swap).
//! - Spatter: OpenCV's Canny, chamfer distance transform, `equalizeHist`, emboss and box
//!   filters are ported (Canny without OpenCV's in-row tie-breaking, which does not change
//!   the edge set; the distance transform in `f32`); a mask that is zero everywhere
//!   leaves the image unchanged instead of producing NaN (0/0) as the reference would, and
//!   layer values above 1 saturate at 255 instead of wrapping in `astype(uint8)`.
//! - Any size: glass blur walks the actual height and width; fog's plasma side is the next
//!   power of two ≥ max(h, w) (32 for CIFAR, 256 for 224); zoom crops are per axis (as
//!   `imagecorruptions`); elastic α, σ and jitter scale with `min(h, w) / reference size`
//!   (unchanged at 32x32 for CIFAR and 224x224 for ImageNet); a frost texture too small for
//!   the image is enlarged bilinearly.
//! - ImageNet-C table: the functions are Hendrycks' (including his affine + displacement
//!   elastic transform and Pillow BOX upsampling in pixelate); frost follows
//!   `imagecorruptions` (texture enlarged ×1.1 bicubic, stored as JPEG quality 90, see
//!   `assets/README.md`).
//!
//! Files: `lib.rs` (this overview, the public API), `severity.rs` ([`Severity`]), `tables.rs`
//! (the severity tables), `ops/` (the ported library operations: `filters.rs`, `colour.rs`,
//! `resample.rs`, `warp.rs`, `imagemagick.rs` for the motion blur, `edges.rs` for spatter,
//! `jpeg.rs` for the JPEG round trip), `noise.rs`, `blur.rs`, `weather.rs`, `digital.rs` (the
//! 19 corruptions), `assets/` (the frost textures, embedded).
#![warn(missing_docs)]

mod blur;
mod digital;
mod noise;
mod ops;
mod severity;
pub mod tables;
mod weather;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

pub use severity::{Severity, SeverityError};
pub use tables::SeverityTable;

/// The four groups CIFAR-10-C reports results by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// Gaussian, shot, impulse and speckle noise.
    Noise,
    /// Defocus, glass, motion, zoom and Gaussian blur.
    Blur,
    /// Snow, frost, fog, brightness and spatter.
    Weather,
    /// Contrast, elastic transform, pixelate, JPEG and saturate.
    Digital,
}

impl Category {
    /// Lower-case name used in results files.
    pub fn name(self) -> &'static str {
        match self {
            Category::Noise => "noise",
            Category::Blur => "blur",
            Category::Weather => "weather",
            Category::Digital => "digital",
        }
    }
}

/// The 19 corruptions of CIFAR-10-C, in the order of the generation scripts; written in results
/// files by their CIFAR-10-C file names (`gaussian_noise`, …).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "&'static str")]
pub enum Corruption {
    /// Additive Gaussian noise.
    GaussianNoise,
    /// Poisson (shot) noise.
    ShotNoise,
    /// Salt-and-pepper noise.
    ImpulseNoise,
    /// Convolution with an anti-aliased disk.
    DefocusBlur,
    /// Gaussian blur, local pixel shuffle, Gaussian blur.
    GlassBlur,
    /// ImageMagick motion blur at a random angle.
    MotionBlur,
    /// Average of centre zooms.
    ZoomBlur,
    /// Motion-blurred snow flakes over a whitened image.
    Snow,
    /// Blend with a frost texture crop.
    Frost,
    /// Plasma-fractal haze.
    Fog,
    /// HSV value shift.
    Brightness,
    /// Contrast reduction around the channel mean.
    Contrast,
    /// Random affine plus smoothed displacement field.
    ElasticTransform,
    /// Box downscale and upscale.
    Pixelate,
    /// JPEG round trip.
    JpegCompression,
    /// Multiplicative Gaussian noise.
    SpeckleNoise,
    /// Gaussian blur.
    GaussianBlur,
    /// Water or mud splashes.
    Spatter,
    /// HSV saturation change.
    Saturate,
}

/// A corruption name that is not one of the 19.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown corruption {name:?}: expected one of {valid}")]
pub struct UnknownCorruption {
    /// The name that was given.
    pub name: String,
    /// The valid names, comma-separated.
    pub valid: String,
}

impl Corruption {
    /// All 19, in CIFAR-10-C order (the 15 main ones, then speckle noise, Gaussian blur,
    /// spatter, saturate).
    pub const ALL: [Corruption; 19] = [
        Corruption::GaussianNoise,
        Corruption::ShotNoise,
        Corruption::ImpulseNoise,
        Corruption::DefocusBlur,
        Corruption::GlassBlur,
        Corruption::MotionBlur,
        Corruption::ZoomBlur,
        Corruption::Snow,
        Corruption::Frost,
        Corruption::Fog,
        Corruption::Brightness,
        Corruption::Contrast,
        Corruption::ElasticTransform,
        Corruption::Pixelate,
        Corruption::JpegCompression,
        Corruption::SpeckleNoise,
        Corruption::GaussianBlur,
        Corruption::Spatter,
        Corruption::Saturate,
    ];

    /// The 15 main corruptions (what RobustBench and mCE use), in CIFAR-10-C order.
    pub const MAIN: [Corruption; 15] = {
        let mut out = [Corruption::GaussianNoise; 15];
        let mut i = 0;
        while i < 15 {
            out[i] = Corruption::ALL[i];
            i += 1;
        }
        out
    };

    /// Position in [`Corruption::ALL`], 0 to 18.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The CIFAR-10-C file stem, e.g. `"gaussian_noise"`, `"jpeg_compression"`.
    pub fn name(self) -> &'static str {
        match self {
            Corruption::GaussianNoise => "gaussian_noise",
            Corruption::ShotNoise => "shot_noise",
            Corruption::ImpulseNoise => "impulse_noise",
            Corruption::DefocusBlur => "defocus_blur",
            Corruption::GlassBlur => "glass_blur",
            Corruption::MotionBlur => "motion_blur",
            Corruption::ZoomBlur => "zoom_blur",
            Corruption::Snow => "snow",
            Corruption::Frost => "frost",
            Corruption::Fog => "fog",
            Corruption::Brightness => "brightness",
            Corruption::Contrast => "contrast",
            Corruption::ElasticTransform => "elastic_transform",
            Corruption::Pixelate => "pixelate",
            Corruption::JpegCompression => "jpeg_compression",
            Corruption::SpeckleNoise => "speckle_noise",
            Corruption::GaussianBlur => "gaussian_blur",
            Corruption::Spatter => "spatter",
            Corruption::Saturate => "saturate",
        }
    }

    /// The CIFAR-10-C category.
    pub fn category(self) -> Category {
        use Corruption::*;
        match self {
            GaussianNoise | ShotNoise | ImpulseNoise | SpeckleNoise => Category::Noise,
            DefocusBlur | GlassBlur | MotionBlur | ZoomBlur | GaussianBlur => Category::Blur,
            Snow | Frost | Fog | Brightness | Spatter => Category::Weather,
            Contrast | ElasticTransform | Pixelate | JpegCompression | Saturate => {
                Category::Digital
            }
        }
    }

    /// Whether this is one of the 15 main corruptions.
    pub fn is_main(self) -> bool {
        self.index() < 15
    }

    /// Whether the output depends on the seed.
    pub fn is_stochastic(self) -> bool {
        use Corruption::*;
        matches!(
            self,
            GaussianNoise
                | ShotNoise
                | ImpulseNoise
                | SpeckleNoise
                | GlassBlur
                | MotionBlur
                | Snow
                | Frost
                | Fog
                | Spatter
                | ElasticTransform
        )
    }

    /// Whether a grey image is expanded to RGB for this corruption (see the crate docs).
    fn needs_rgb(self) -> bool {
        matches!(
            self,
            Corruption::Brightness | Corruption::Saturate | Corruption::Frost | Corruption::Spatter
        )
    }

    fn valid_names() -> String {
        Corruption::ALL
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl From<Corruption> for &'static str {
    fn from(c: Corruption) -> &'static str {
        c.name()
    }
}

impl TryFrom<String> for Corruption {
    type Error = UnknownCorruption;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl std::str::FromStr for Corruption {
    type Err = UnknownCorruption;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Corruption::ALL
            .iter()
            .copied()
            .find(|c| c.name() == s)
            .ok_or_else(|| UnknownCorruption {
                name: s.to_string(),
                valid: Corruption::valid_names(),
            })
    }
}

/// Which severity table to use; written in results files as `cifar10-c` or `imagenet-c`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Table {
    /// CIFAR-10-C (`make_cifar_c.py`, made for 32x32 images).
    #[default]
    #[serde(rename = "cifar10-c")]
    Cifar10C,
    /// ImageNet-C (`make_imagenet_c.py`, made for 224x224 images; far harsher on small images).
    #[serde(rename = "imagenet-c")]
    ImageNetC,
}

impl std::str::FromStr for Table {
    type Err = String;

    /// Parses `cifar10-c` or `imagenet-c`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cifar10-c" => Ok(Table::Cifar10C),
            "imagenet-c" => Ok(Table::ImageNetC),
            t => Err(format!(
                "table `{t}` is unknown; expected cifar10-c or imagenet-c"
            )),
        }
    }
}

impl Table {
    /// The name used on the command line and in results files.
    pub fn name(self) -> &'static str {
        match self {
            Table::Cifar10C => "cifar10-c",
            Table::ImageNetC => "imagenet-c",
        }
    }

    /// The table's parameters.
    pub fn params(self) -> &'static SeverityTable {
        match self {
            Table::Cifar10C => &tables::CIFAR10C,
            Table::ImageNetC => &tables::IMAGENETC,
        }
    }
}

/// A planar (channel-major, CHW) 8-bit image: `data[(c * height + y) * width + x]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// `channels * height * width` bytes, channel-major.
    pub data: Vec<u8>,
}

/// The shape of one planar (CHW) 8-bit image, without its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ImageShape {
    /// 1 (grey) or 3 (RGB).
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl ImageShape {
    /// Bytes of one image: `channels * height * width`.
    pub fn byte_count(self) -> usize {
        self.channels * self.height * self.width
    }
}

/// What to apply to an image: a corruption at a severity, with the table its parameters
/// come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CorruptionSpec {
    /// Which of the 19 corruptions.
    pub corruption: Corruption,
    /// How strong, 1 to 5.
    pub severity: Severity,
    /// Which severity table gives the parameters.
    pub table: Table,
}

/// Smallest accepted height and width.
pub const MIN_SIDE: usize = 8;

/// Largest accepted height and width.
pub const MAX_SIDE: usize = 1 << 14;

/// Why an image could not be corrupted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CorruptionError {
    /// Channel count other than 1 or 3.
    #[error("image has {0} channels: expected 1 (grey) or 3 (RGB)")]
    Channels(usize),
    /// Height or width outside `MIN_SIDE..=MAX_SIDE`.
    #[error("image is {height}x{width}: expected height and width from {MIN_SIDE} to {MAX_SIDE}")]
    Size {
        /// Rows given.
        height: usize,
        /// Columns given.
        width: usize,
    },
    /// Buffer length does not match the shape.
    #[error("image data has {got} bytes: expected {expected} (channels x height x width)")]
    DataLength {
        /// Bytes given.
        got: usize,
        /// `channels * height * width` (or `n * channels * height * width` for a batch).
        expected: usize,
    },
}

impl Image {
    /// Checks the shape and wraps the buffer.
    pub fn new(
        channels: usize,
        height: usize,
        width: usize,
        data: Vec<u8>,
    ) -> Result<Image, CorruptionError> {
        let image = Image {
            channels,
            height,
            width,
            data,
        };
        image.validate()?;
        Ok(image)
    }

    /// Its channels, height and width.
    pub fn shape(&self) -> ImageShape {
        ImageShape {
            channels: self.channels,
            height: self.height,
            width: self.width,
        }
    }

    /// Checks channels (1 or 3), size (`MIN_SIDE..=MAX_SIDE`) and data length.
    pub fn validate(&self) -> Result<(), CorruptionError> {
        check_shape(self.channels, self.height, self.width)?;
        let expected = self.channels * self.height * self.width;
        if self.data.len() != expected {
            return Err(CorruptionError::DataLength {
                got: self.data.len(),
                expected,
            });
        }
        Ok(())
    }
}

fn check_shape(c: usize, h: usize, w: usize) -> Result<(), CorruptionError> {
    if c != 1 && c != 3 {
        return Err(CorruptionError::Channels(c));
    }
    if !(MIN_SIDE..=MAX_SIDE).contains(&h) || !(MIN_SIDE..=MAX_SIDE).contains(&w) {
        return Err(CorruptionError::Size {
            height: h,
            width: w,
        });
    }
    Ok(())
}

/// SplitMix64's first output from state `z` (add the golden gamma, then the finaliser).
fn splitmix64(z: u64) -> u64 {
    use rand_xoshiro::rand_core::{RngCore, SeedableRng};
    rand_xoshiro::SplitMix64::seed_from_u64(z).next_u64()
}

/// The seed [`corrupt_images`] gives image number `index` (its global index in the set):
/// a SplitMix64 chain `s0 = sm(run_seed)`, `s1 = sm(s0 ^ corruption.index())`,
/// `s2 = sm(s1 ^ severity)`, `seed = sm(s2 ^ index)`, where `sm` is SplitMix64
/// mixing (add the golden gamma 0x9E3779B97F4A7C15, then the SplitMix64 finaliser).
/// `corrupt(image, c, s, table, image_seed(run_seed, c, s, i))` reproduces one image of a batch.
pub fn image_seed(run_seed: u64, corruption: Corruption, severity: Severity, index: u64) -> u64 {
    let s0 = splitmix64(run_seed);
    let s1 = splitmix64(s0 ^ corruption.index() as u64);
    let s2 = splitmix64(s1 ^ u64::from(severity.get()));
    splitmix64(s2 ^ index)
}

/// Corrupts one image. The output has the input's shape; the random stream is a
/// `ChaCha8Rng::seed_from_u64(seed)`.
pub fn corrupt(
    image: &Image,
    corruption: Corruption,
    severity: Severity,
    table: Table,
    seed: u64,
) -> Result<Image, CorruptionError> {
    image.validate()?;
    let spec = CorruptionSpec {
        corruption,
        severity,
        table,
    };
    let data = corrupt_planes(&image.data, image.shape(), spec, seed)?;
    Ok(Image {
        channels: image.channels,
        height: image.height,
        width: image.width,
        data,
    })
}

/// Corrupts `n` images of `shape` stored back to back (`n * shape.byte_count()` bytes, each
/// image CHW), in parallel on the current rayon pool. Image `i` uses the seed
/// `image_seed(run_seed, spec.corruption, spec.severity, first_index + i)`, so the output does
/// not depend on the thread count or on how a set is split into calls.
pub fn corrupt_images(
    images: &[u8],
    n: usize,
    shape: ImageShape,
    spec: CorruptionSpec,
    run_seed: u64,
    first_index: usize,
) -> Result<Vec<u8>, CorruptionError> {
    check_shape(shape.channels, shape.height, shape.width)?;
    let per = shape.byte_count();
    let expected = n * per;
    if images.len() != expected {
        return Err(CorruptionError::DataLength {
            got: images.len(),
            expected,
        });
    }
    let mut out = vec![0u8; expected];
    out.par_chunks_mut(per)
        .zip(images.par_chunks(per))
        .enumerate()
        .try_for_each(|(i, (dst, src))| {
            let index = (first_index + i) as u64;
            let seed = image_seed(run_seed, spec.corruption, spec.severity, index);
            let res = corrupt_planes(src, shape, spec, seed)?;
            dst.copy_from_slice(&res);
            Ok(())
        })?;
    Ok(out)
}

/// An `f32` working copy of an image, channel-major.
#[derive(Clone, Debug)]
pub(crate) struct Planes {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub data: Vec<f32>,
}

impl Planes {
    pub fn plane(&self, ch: usize) -> &[f32] {
        let n = self.h * self.w;
        &self.data[ch * n..(ch + 1) * n]
    }

    pub fn plane_mut(&mut self, ch: usize) -> &mut [f32] {
        let n = self.h * self.w;
        &mut self.data[ch * n..(ch + 1) * n]
    }
}

/// What a corruption produced: float values to clip and truncate, or final bytes.
pub(crate) enum Output {
    /// Values in `[0, 1]` units (clipped, times 255, truncated).
    Unit(Vec<f32>),
    /// The same in `f64`, for pipelines the reference runs in `float64` end to end.
    Unit64(Vec<f64>),
    /// Values in `[0, 255]` units (clipped, truncated).
    Byte(Vec<f32>),
    /// Final bytes.
    Bytes(Vec<u8>),
}

/// Shared per-call context.
pub(crate) struct Ctx<'a> {
    /// The input bytes, CHW.
    pub src: &'a [u8],
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub severity: Severity,
    pub table: &'static SeverityTable,
}

impl Ctx<'_> {
    /// The input scaled to `[0, 1]`.
    pub fn unit(&self) -> Planes {
        Planes {
            c: self.c,
            h: self.h,
            w: self.w,
            data: self.src.iter().map(|&v| f32::from(v) / 255.0).collect(),
        }
    }

    pub fn s(&self) -> usize {
        self.severity.index()
    }
}

/// Corrupts one image of `shape` (its bytes `src`, CHW, already checked) with the random
/// stream `ChaCha8Rng::seed_from_u64(seed)`; a grey image goes through RGB for the colour
/// corruptions (see the crate docs). Returns the output bytes, CHW, of the same shape.
fn corrupt_planes(
    src: &[u8],
    shape: ImageShape,
    spec: CorruptionSpec,
    seed: u64,
) -> Result<Vec<u8>, CorruptionError> {
    let ImageShape {
        channels: c,
        height: h,
        width: w,
    } = shape;
    if c == 1 && spec.corruption.needs_rgb() {
        let n = h * w;
        let mut rgb = Vec::with_capacity(3 * n);
        for _ in 0..3 {
            rgb.extend_from_slice(src);
        }
        let rgb_shape = ImageShape {
            channels: 3,
            ..shape
        };
        let out = run(&rgb, rgb_shape, spec, seed)?;
        let (scale, vals) = match out {
            Output::Unit(v) => (1.0f32, v),
            Output::Unit64(v) => (1.0f32, v.into_iter().map(|x| x as f32).collect()),
            Output::Byte(v) => (1.0 / 255.0, v),
            Output::Bytes(b) => (1.0 / 255.0, b.iter().map(|&v| f32::from(v)).collect()),
        };
        let grey = (0..n)
            .map(|i| {
                let r = (vals[i] * scale).clamp(0.0, 1.0);
                let g = (vals[n + i] * scale).clamp(0.0, 1.0);
                let b = (vals[2 * n + i] * scale).clamp(0.0, 1.0);
                0.299 * r + 0.587 * g + 0.114 * b
            })
            .collect();
        return Ok(finish(Output::Unit(grey)));
    }
    Ok(finish(run(src, shape, spec, seed)?))
}

/// Runs one corruption on `src` (CHW bytes of `shape`) with the random stream
/// `ChaCha8Rng::seed_from_u64(seed)`, before clipping and the cast to bytes.
fn run(
    src: &[u8],
    shape: ImageShape,
    spec: CorruptionSpec,
    seed: u64,
) -> Result<Output, CorruptionError> {
    let CorruptionSpec {
        corruption,
        severity,
        table,
    } = spec;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let ctx = Ctx {
        src,
        c: shape.channels,
        h: shape.height,
        w: shape.width,
        severity,
        table: table.params(),
    };
    use Corruption::*;
    Ok(match corruption {
        GaussianNoise => noise::gaussian_noise(&ctx, &mut rng),
        ShotNoise => noise::shot_noise(&ctx, &mut rng),
        ImpulseNoise => noise::impulse_noise(&ctx, &mut rng),
        SpeckleNoise => noise::speckle_noise(&ctx, &mut rng),
        DefocusBlur => blur::defocus_blur(&ctx),
        GlassBlur => blur::glass_blur(&ctx, &mut rng),
        MotionBlur => blur::motion_blur(&ctx, &mut rng),
        ZoomBlur => blur::zoom_blur(&ctx),
        GaussianBlur => blur::gaussian_blur(&ctx),
        Snow => weather::snow(&ctx, &mut rng),
        Frost => weather::frost(&ctx, &mut rng, table),
        Fog => weather::fog(&ctx, &mut rng),
        Brightness => weather::brightness(&ctx),
        Spatter => weather::spatter(&ctx, &mut rng),
        Contrast => digital::contrast(&ctx),
        ElasticTransform => digital::elastic_transform(&ctx, &mut rng),
        Pixelate => digital::pixelate(&ctx),
        JpegCompression => digital::jpeg_compression(&ctx),
        Saturate => digital::saturate(&ctx),
    })
}

/// Clip and truncate, as `np.uint8(np.clip(x, 0, 1) * 255)`.
fn finish(out: Output) -> Vec<u8> {
    match out {
        Output::Unit(v) => v
            .into_iter()
            .map(|x| (x.clamp(0.0, 1.0) * 255.0) as u8)
            .collect(),
        Output::Unit64(v) => v
            .into_iter()
            .map(|x| (x.clamp(0.0, 1.0) * 255.0) as u8)
            .collect(),
        Output::Byte(v) => v.into_iter().map(|x| x.clamp(0.0, 255.0) as u8).collect(),
        Output::Bytes(b) => b,
    }
}

#[cfg(test)]
mod tests;
