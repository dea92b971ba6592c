//! Byte-level entry points to the file parsers, for the fuzz targets in `tests/fuzz/` and for
//! tests of hostile inputs.
//!
//! Each function is the code the path-based loaders run on a file's bytes once they have read
//! it; `path` only names the file in error messages. None of them panics, and declared sizes are
//! checked against the input's length (for images, against fixed decoder limits) before anything
//! is allocated from them: bad bytes give a [`DataError`] (an [`anyhow::Error`] for `.npy`)
//! naming `path`, what was wrong and what was expected.
#![warn(missing_docs)]

use std::path::Path;

use super::{cifar, folder, idx, npy, Cifar100Labels, DataError, Split};

/// Parses the bytes of one CIFAR-10 binary batch (such as `data_batch_1.bin`).
///
/// # Shapes
/// The returned split holds `N = bytes.len() / 3073` images, pixels `(N, 3, 32, 32)` u8, and
/// `N` labels in `0..=9`.
pub fn cifar10_records(path: &Path, bytes: &[u8]) -> Result<Split, DataError> {
    let mut split = Split::default();
    cifar::cifar10_records(&mut split, path, bytes)?;
    Ok(split)
}

/// Parses the bytes of one CIFAR-100 binary file (`train.bin` or `test.bin`), keeping the fine
/// or coarse label.
///
/// # Shapes
/// The returned split holds `N = bytes.len() / 3074` images, pixels `(N, 3, 32, 32)` u8, and
/// `N` labels (`0..=99` fine, `0..=19` coarse).
pub fn cifar100_records(
    path: &Path,
    bytes: &[u8],
    labels: Cifar100Labels,
) -> Result<Split, DataError> {
    let mut split = Split::default();
    cifar::cifar100_records(&mut split, path, bytes, labels)?;
    Ok(split)
}

/// One IDX split as parsed from an image file and a label file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxSplit {
    /// The images and labels.
    pub split: Split,
    /// Rows (height) of every image.
    pub rows: usize,
    /// Columns (width) of every image.
    pub cols: usize,
}

/// Parses the bytes of an IDX image file (magic `0x00000803`) and an IDX label file (magic
/// `0x00000801`), each raw or gzipped, and checks them against each other.
///
/// # Shapes
/// The returned split holds `N` images, pixels `(N, 1, rows, cols)` u8, and `N` labels in
/// `0..=9`.
pub fn idx(
    images_path: &Path,
    images: &[u8],
    labels_path: &Path,
    labels: &[u8],
) -> Result<IdxSplit, DataError> {
    let (split, rows, cols) = idx::parse_split(images_path, images, labels_path, labels)?;
    Ok(IdxSplit { split, rows, cols })
}

/// One image as an ImageFolder tree's loader decodes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// 3 for a colour image, 1 for a grey one.
    pub channels: usize,
    /// Pixels, `(channels, height, width)` planar u8.
    pub pixels: Vec<u8>,
}

/// Decodes the bytes of one PNG or JPEG image (the format is detected from the content) the way
/// the ImageFolder loader does, with its limits on the declared size.
///
/// # Shapes
/// Pixels `(C, H, W)` u8, C = 3 for colour images and 1 for grey ones.
pub fn image(path: &Path, bytes: &[u8]) -> Result<Image, DataError> {
    let d = folder::decode_bytes(path, bytes)?;
    Ok(Image {
        width: d.width,
        height: d.height,
        channels: if d.colour { 3 } else { 1 },
        pixels: d.pixels,
    })
}

/// Parses the bytes of a `.npy` file as the CIFAR-10-C reader does (`npy::parse`), and for a
/// one-dimensional array also converts it to labels (`npy::Npy::to_u32`) as the reader does
/// for `labels.npy`.
///
/// # Shapes
/// The array's shape is as declared in its header; its data hold exactly
/// `product(shape) * item size` bytes.
pub fn npy(path: &Path, bytes: &[u8]) -> anyhow::Result<npy::Npy> {
    let name = path.display().to_string();
    let a = npy::parse(bytes, &name)?;
    if a.shape.len() == 1 {
        a.to_u32(&name)?;
    }
    Ok(a)
}
