//! IDX files (MNIST, Fashion-MNIST), raw or gzip-compressed.
//!
//! Header, big-endian: a magic number `0x0000TTNN` (TT = 0x08 for unsigned bytes,
//! NN = number of dimensions), then NN u32 dimensions, then the data.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use super::{DataError, Dataset, Split, Splits};

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
const LABELS_MAGIC: u32 = 0x0000_0801;
/// Number of classes of MNIST and Fashion-MNIST.
const CLASSES: u32 = 10;
/// DEFLATE cannot compress by more than about 1032:1; a gzip file of n bytes therefore
/// never decompresses to more than this many times n bytes.
const MAX_DEFLATE_RATIO: u64 = 1032;
/// Largest buffer reserved up front from a header's declared size (the rest grows as data arrives).
const MAX_PREALLOC: u64 = 64 << 20;

/// The Fashion-MNIST class names.
const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// The four IDX files, without the optional `.gz`.
const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Whether `dir` holds any of the four IDX files (raw or `.gz`).
pub(crate) fn is_idx(dir: &Path) -> bool {
    FILES
        .iter()
        .any(|f| dir.join(f).is_file() || dir.join(format!("{f}.gz")).is_file())
}

/// `dir/name` if it exists, else `dir/name.gz` if that exists, else a missing-file error.
fn find(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let raw = dir.join(name);
    if raw.is_file() {
        return Ok(raw);
    }
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(DataError::MissingFile {
        path: raw,
        what: format!("IDX file (looked for {name} and {name}.gz)"),
    })
}

/// One parsed IDX file: its dimensions and data bytes.
struct IdxFile {
    /// The declared dimensions, outermost first.
    pub(crate) dims: Vec<u32>,
    /// The data bytes, exactly the product of `dims`.
    pub(crate) data: Vec<u8>,
}

/// Formats dimensions as "60000x28x28".
fn dims_string(dims: &[u32]) -> String {
    dims.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join("x")
}

/// Parses the bytes of an IDX file with the given magic number, raw or gzipped (detected by
/// the gzip magic bytes 1f 8b, whatever the name); `path` names it in errors. The declared
/// size is checked against what the file can hold before anything is allocated from it.
fn parse_idx(
    path: &Path,
    file: &[u8],
    magic: u32,
    what: &'static str,
) -> Result<IdxFile, DataError> {
    let gzipped = file.starts_with(&[0x1f, 0x8b]);
    // The magic number's last byte is the number of dimensions, each a u32.
    let ndims = (magic & 0xff) as usize;
    let header_len = 4 + 4 * ndims;
    let mut reader: Box<dyn Read + '_> = if gzipped {
        Box::new(MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let corrupt = |e: std::io::Error| DataError::Invalid {
        path: path.to_path_buf(),
        problem: format!(
            "cannot decompress gzip data: {e}; expected a valid gzip stream of an IDX file"
        ),
    };

    // Magic number and dimensions.
    let mut header = Vec::with_capacity(header_len);
    (&mut reader)
        .take(header_len as u64)
        .read_to_end(&mut header)
        .map_err(corrupt)?;
    if header.len() < 4 {
        return Err(DataError::Invalid {
            path: path.to_path_buf(),
            problem: format!(
                "file too short for an IDX header: {} bytes, expected at least {header_len}",
                header.len()
            ),
        });
    }
    let found = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if found != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found,
            expected: magic,
            what,
        });
    }
    if header.len() < header_len {
        return Err(DataError::Invalid {
            path: path.to_path_buf(),
            problem: format!(
                "truncated IDX header: {} bytes, expected {header_len} ({ndims} dimensions)",
                header.len()
            ),
        });
    }
    let dims: Vec<u32> = header[4..]
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let dims_str = dims_string(&dims);

    // Declared data size, guarded against overflow and against the file's real size.
    let declared = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d)))
        .filter(|&n| usize::try_from(n).is_ok())
        .ok_or_else(|| DataError::DeclaredTooLarge {
            path: path.to_path_buf(),
            dims: dims_str.clone(),
            problem: "whose product overflows".to_string(),
        })?;
    let file_len = file.len() as u64;
    if gzipped {
        let bound = file_len.saturating_mul(MAX_DEFLATE_RATIO);
        if declared > bound {
            return Err(DataError::DeclaredTooLarge {
                path: path.to_path_buf(),
                dims: dims_str,
                problem: format!(
                    "{declared} data bytes, more than a gzip file of {file_len} bytes can hold \
                     (at most {bound}); the file is truncated or corrupt"
                ),
            });
        }
    } else {
        let available = file_len.saturating_sub(header_len as u64);
        if declared > available {
            return Err(DataError::Truncated {
                path: path.to_path_buf(),
                dims: dims_str,
                declared,
                found: available,
            });
        }
    }

    // The data: read at most one byte more than declared, to detect trailing data.
    let mut data = Vec::with_capacity(declared.min(MAX_PREALLOC) as usize);
    (&mut reader)
        .take(declared.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(corrupt)?;
    let got = data.len() as u64;
    if got < declared {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            dims: dims_str,
            declared,
            found: got,
        });
    }
    if got > declared {
        return Err(DataError::Invalid {
            path: path.to_path_buf(),
            problem: format!(
                "more data than the header declares: expected exactly {declared} bytes after \
                 the {header_len}-byte header ({dims_str})"
            ),
        });
    }
    Ok(IdxFile { dims, data })
}

/// Reads one split: an image file and a label file, checked against each other.
fn read_split(
    dir: &Path,
    images_name: &str,
    labels_name: &str,
) -> Result<(Split, PathBuf, usize, usize), DataError> {
    let images_path = find(dir, images_name)?;
    let labels_path = find(dir, labels_name)?;
    let images = std::fs::read(&images_path).map_err(|e| DataError::io(&images_path, e))?;
    let labels = std::fs::read(&labels_path).map_err(|e| DataError::io(&labels_path, e))?;
    let (split, rows, cols) = parse_split(&images_path, &images, &labels_path, &labels)?;
    Ok((split, images_path, rows, cols))
}

/// Parses one split from the bytes of an image file and a label file (the paths name them in
/// errors), checked against each other; returns the split and the image rows and columns.
pub(crate) fn parse_split(
    images_path: &Path,
    images: &[u8],
    labels_path: &Path,
    labels: &[u8],
) -> Result<(Split, usize, usize), DataError> {
    let images = parse_idx(
        images_path,
        images,
        IMAGES_MAGIC,
        "IDX image file: unsigned bytes, 3 dimensions",
    )?;
    let labels = parse_idx(
        labels_path,
        labels,
        LABELS_MAGIC,
        "IDX label file: unsigned bytes, 1 dimension",
    )?;
    let (images_path, labels_path) = (images_path.to_path_buf(), labels_path.to_path_buf());
    // The magic numbers fix the number of dimensions: 3 and 1.
    let (&[n, rows, cols], &[n_labels]) = (images.dims.as_slice(), labels.dims.as_slice()) else {
        return Err(DataError::Invalid {
            path: images_path,
            problem: "unexpected number of IDX dimensions, expected 3 for images and 1 for labels"
                .to_string(),
        });
    };
    let (n, rows, cols, n_labels) = (n as usize, rows as usize, cols as usize, n_labels as usize);
    if n > 0 && (rows == 0 || cols == 0) {
        return Err(DataError::Invalid {
            path: images_path,
            problem: format!("images of size {rows}x{cols}, expected non-zero rows and columns"),
        });
    }
    if n != n_labels {
        return Err(DataError::CountMismatch {
            images_path,
            labels_path,
            images: n,
            labels: n_labels,
        });
    }
    if let Some((index, &label)) = labels
        .data
        .iter()
        .enumerate()
        .find(|(_, &l)| u32::from(l) >= CLASSES)
    {
        return Err(DataError::LabelOutOfRange {
            path: labels_path,
            kind: "label",
            index,
            label: u32::from(label),
            max: CLASSES - 1,
        });
    }
    let split = Split {
        images: images.data,
        labels: labels.data.iter().map(|&l| u32::from(l)).collect(),
    };
    Ok((split, rows, cols))
}

/// Whether the data-set directory is Fashion-MNIST, judged by its name (as given, or
/// after resolving `.`, `..` and symbolic links).
fn is_fashion(dir: &Path) -> bool {
    let resolved = dir.canonicalize().ok();
    let fashion = [Some(dir), resolved.as_deref()]
        .into_iter()
        .flatten()
        .filter_map(Path::file_name)
        .any(|n| n.to_string_lossy().to_lowercase().contains("fashion"));
    fashion
}

/// Loads MNIST-style IDX files from `dir` (the training files only if `splits` asks for them).
pub(crate) fn load_idx(dir: &Path, splits: Splits) -> Result<Dataset, DataError> {
    let train = if splits.train() {
        let (train, _, rows, cols) =
            read_split(dir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte")?;
        Some((train, rows, cols))
    } else {
        None
    };
    let (test, test_path, test_rows, test_cols) =
        read_split(dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")?;
    let (train, rows, cols) = train.unwrap_or((Split::default(), test_rows, test_cols));
    if (rows, cols) != (test_rows, test_cols) {
        return Err(DataError::SplitShape {
            path: test_path,
            found: format!("{test_rows}x{test_cols}"),
            expected: format!("{rows}x{cols}"),
        });
    }
    let classes = if is_fashion(dir) {
        FASHION_CLASSES.iter().map(|s| s.to_string()).collect()
    } else {
        (0..CLASSES).map(|i| i.to_string()).collect()
    };
    Ok(Dataset {
        name: "idx".to_string(),
        source: dir.display().to_string(),
        classes,
        channels: 1,
        height: rows,
        width: cols,
        train,
        test,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::super::test_util::{shared_dir, write};
    use super::super::{load, Cifar100Labels, DataFormat};
    use super::*;

    fn idx_images(n: u32, rows: u32, cols: u32, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for v in [IMAGES_MAGIC, n, rows, cols] {
            out.extend(v.to_be_bytes());
        }
        out.extend_from_slice(data);
        out
    }

    fn idx_labels(labels: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(LABELS_MAGIC.to_be_bytes());
        out.extend((labels.len() as u32).to_be_bytes());
        out.extend_from_slice(labels);
        out
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    /// Writes a 3x2 (rows x cols) data set: 4 train images, 2 test images,
    /// pixel value = image*10 + row*2 + col. Train raw, test gzipped.
    fn write_small(dir: &Path) {
        let pix = |n: u32| -> Vec<u8> {
            (0..n)
                .flat_map(|i| {
                    (0..3u32).flat_map(move |y| (0..2u32).map(move |x| (i * 10 + y * 2 + x) as u8))
                })
                .collect()
        };
        write(
            dir,
            "train-images-idx3-ubyte",
            &idx_images(4, 3, 2, &pix(4)),
        );
        write(dir, "train-labels-idx1-ubyte", &idx_labels(&[3, 1, 4, 1]));
        write(
            dir,
            "t10k-images-idx3-ubyte.gz",
            &gzip(&idx_images(2, 3, 2, &pix(2))),
        );
        write(
            dir,
            "t10k-labels-idx1-ubyte.gz",
            &gzip(&idx_labels(&[9, 0])),
        );
    }

    #[test]
    fn idx_raw_and_gzip_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        write_small(tmp.path());
        assert_eq!(super::super::detect(tmp.path()).unwrap(), DataFormat::Idx);
        let d = load(tmp.path(), None, Cifar100Labels::Fine).unwrap();
        assert_eq!(d.name, "idx");
        assert_eq!((d.channels, d.height, d.width), (1, 3, 2));
        assert_eq!(
            d.classes,
            (0..10).map(|i| i.to_string()).collect::<Vec<_>>()
        );
        assert_eq!(d.train.labels, vec![3, 1, 4, 1]);
        assert_eq!(d.test.labels, vec![9, 0]);
        // image 3, row 2, column 1 = 30 + 4 + 1.
        assert_eq!(d.train.images[(3 * 3 + 2) * 2 + 1], 35);
        assert_eq!(d.train.images.len(), 4 * 6);
        assert_eq!(
            d.test.images,
            vec![0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15]
        );
    }

    #[test]
    fn gzip_detected_by_magic_not_name() {
        let tmp = tempfile::tempdir().unwrap();
        write_small(tmp.path());
        // Gzipped content under the raw name, raw content under the .gz name.
        let raw = std::fs::read(tmp.path().join("train-labels-idx1-ubyte")).unwrap();
        std::fs::remove_file(tmp.path().join("train-labels-idx1-ubyte")).unwrap();
        write(tmp.path(), "train-labels-idx1-ubyte.gz", &raw);
        let gz = gzip(&std::fs::read(tmp.path().join("train-images-idx3-ubyte")).unwrap());
        write(tmp.path(), "train-images-idx3-ubyte", &gz);
        let d = load(tmp.path(), Some(DataFormat::Idx), Cifar100Labels::Fine).unwrap();
        assert_eq!(d.train.labels, vec![3, 1, 4, 1]);
        assert_eq!(d.train.images[23], 35);
    }

    #[test]
    fn idx_fashion_names_from_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("My-Fashion-Data");
        write_small(&dir);
        let d = load(&dir, None, Cifar100Labels::Fine).unwrap();
        assert_eq!(d.classes[0], "T-shirt/top");
        assert_eq!(d.classes[9], "Ankle boot");
        // Digits when the name says nothing, Fashion through a link named so.
        let plain = tmp.path().join("plain");
        write_small(&plain);
        let d = load(&plain, None, Cifar100Labels::Fine).unwrap();
        assert_eq!(d.classes[9], "9");
        #[cfg(unix)]
        {
            let link = tmp.path().join("fashion-link");
            std::os::unix::fs::symlink(&plain, &link).unwrap();
            let d = load(&link, None, Cifar100Labels::Fine).unwrap();
            assert_eq!(d.classes[0], "T-shirt/top");
        }
    }

    #[test]
    fn idx_wrong_magic() {
        let tmp = tempfile::tempdir().unwrap();
        write_small(tmp.path());
        // A label file where an image file should be.
        write(tmp.path(), "train-images-idx3-ubyte", &idx_labels(&[1, 2]));
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(err.contains("train-images-idx3-ubyte"), "{err}");
        assert!(
            err.contains("wrong IDX magic number 0x00000801, expected 0x00000803"),
            "{err}"
        );
    }

    #[test]
    fn idx_truncated() {
        let tmp = tempfile::tempdir().unwrap();
        write_small(tmp.path());
        let mut bytes = idx_images(4, 3, 2, &[7; 24]);
        bytes.truncate(16 + 20);
        write(tmp.path(), "train-images-idx3-ubyte", &bytes);
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(err.contains("train-images-idx3-ubyte"), "{err}");
        assert!(
            err.contains(
                "truncated IDX file: the header declares 4x3x2 = 24 data bytes, but only 20 follow"
            ),
            "{err}"
        );
        // The same inside gzip: found only after decompression.
        let tmp = tempfile::tempdir().unwrap();
        write_small(tmp.path());
        let mut labels = idx_labels(&[9, 0]);
        labels.pop();
        write(tmp.path(), "t10k-labels-idx1-ubyte.gz", &gzip(&labels));
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(err.contains("t10k-labels-idx1-ubyte.gz"), "{err}");
        assert!(
            err.contains("declares 2 = 2 data bytes, but only 1 follow"),
            "{err}"
        );
    }

    #[test]
    fn idx_trailing_data() {
        let tmp = tempfile::tempdir().unwrap();
        write_small(tmp.path());
        write(
            tmp.path(),
            "train-labels-idx1-ubyte",
            &[idx_labels(&[3, 1, 4, 1]), vec![0]].concat(),
        );
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train-labels-idx1-ubyte")
                && err.contains("more data than the header declares"),
            "{err}"
        );
    }

    #[test]
    fn idx_huge_declared_dimensions() {
        let tmp = tempfile::tempdir().unwrap();
        write_small(tmp.path());
        // n = 0xFFFFFFFF 28x28 images in a 100-byte file: rejected before allocating.
        let mut bytes = idx_images(0xFFFF_FFFF, 28, 28, &[0; 84]);
        assert_eq!(bytes.len(), 100);
        write(tmp.path(), "train-images-idx3-ubyte", &bytes);
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(err.contains("train-images-idx3-ubyte"), "{err}");
        assert!(
            err.contains("4294967295x28x28 = 3367254359280 data bytes, but only 84 follow"),
            "{err}"
        );

        // Dimensions whose product overflows.
        bytes = idx_images(0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF, &[0; 84]);
        write(tmp.path(), "train-images-idx3-ubyte", &bytes);
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train-images-idx3-ubyte") && err.contains("overflows"),
            "{err}"
        );

        // Gzipped: the declared size is checked against what the compressed size can hold.
        let gz = gzip(&idx_images(0xFFFF_FFFF, 28, 28, &[0; 84]));
        write(tmp.path(), "train-images-idx3-ubyte", &gz);
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(err.contains("train-images-idx3-ubyte"), "{err}");
        assert!(err.contains("more than a gzip file of"), "{err}");
    }

    #[test]
    fn idx_count_mismatch() {
        let tmp = tempfile::tempdir().unwrap();
        write_small(tmp.path());
        write(
            tmp.path(),
            "train-labels-idx1-ubyte",
            &idx_labels(&[3, 1, 4]),
        );
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train-images-idx3-ubyte holds 4 images but")
                && err.contains("train-labels-idx1-ubyte holds 3 labels"),
            "{err}"
        );
    }

    #[test]
    fn idx_label_out_of_range() {
        let tmp = tempfile::tempdir().unwrap();
        write_small(tmp.path());
        write(
            tmp.path(),
            "t10k-labels-idx1-ubyte.gz",
            &gzip(&idx_labels(&[9, 10])),
        );
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(err.contains("t10k-labels-idx1-ubyte.gz"), "{err}");
        assert!(
            err.contains("label 10 of record 1 is out of range, expected 0..=9"),
            "{err}"
        );
    }

    #[test]
    fn idx_missing_file() {
        let tmp = tempfile::tempdir().unwrap();
        write_small(tmp.path());
        std::fs::remove_file(tmp.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t10k-labels-idx1-ubyte") && err.contains("missing"),
            "{err}"
        );
    }

    #[test]
    fn idx_corrupt_gzip() {
        let tmp = tempfile::tempdir().unwrap();
        write_small(tmp.path());
        let mut gz = gzip(&idx_labels(&[9, 0]));
        let n = gz.len();
        for b in &mut gz[10..n - 8] {
            *b ^= 0x5a;
        }
        write(tmp.path(), "t10k-labels-idx1-ubyte.gz", &gz);
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(err.contains("t10k-labels-idx1-ubyte.gz"), "{err}");
    }

    /// The real Fashion-MNIST files in the shared data folder.
    ///
    /// Oracle (independent of this crate), run in shared/data/fashion-mnist:
    /// ```text
    /// python3 -c "
    /// import gzip,struct
    /// for p in ['train','t10k']:
    ///   im=gzip.open(p+'-images-idx3-ubyte.gz').read(); lb=gzip.open(p+'-labels-idx1-ubyte.gz').read()
    ///   m,n,r,c=struct.unpack('>IIII',im[:16])
    ///   print(p,n,r,c,'first label',lb[8],'first img sum',sum(im[16:16+r*c]),
    ///         'last label',lb[-1],'last img sum',sum(im[-r*c:]),'total sum',sum(im[16:]))"
    /// ```
    /// prints
    /// `train 60000 28 28 first label 8 first img sum 59838 last label 9 last img sum 52249 total sum 3430841456`
    /// `t10k 10000 28 28 first label 3 first img sum 40340 last label 7 last img sum 33673 total sum 574628567`
    /// and 6000 / 1000 images of each class.
    #[test]
    fn real_fashion_mnist() {
        let Some(dir) = shared_dir("fashion-mnist") else {
            return;
        };
        let d = load(&dir, None, Cifar100Labels::Fine).unwrap();
        assert_eq!((d.channels, d.height, d.width), (1, 28, 28));
        assert_eq!(d.train.len(), 60000);
        assert_eq!(d.test.len(), 10000);
        assert_eq!(d.train.images.len(), 60000 * 784);
        assert_eq!(d.test.images.len(), 10000 * 784);
        assert_eq!(d.classes[0], "T-shirt/top");
        assert_eq!(d.classes[9], "Ankle boot");
        let sum = |b: &[u8]| b.iter().map(|&v| u64::from(v)).sum::<u64>();
        assert_eq!(d.train.labels[0], 8);
        assert_eq!(sum(&d.train.images[..784]), 59838);
        assert_eq!(d.train.labels[59999], 9);
        assert_eq!(sum(&d.train.images[59999 * 784..]), 52249);
        assert_eq!(sum(&d.train.images), 3430841456);
        assert_eq!(d.test.labels[0], 3);
        assert_eq!(sum(&d.test.images[..784]), 40340);
        assert_eq!(d.test.labels[9999], 7);
        assert_eq!(sum(&d.test.images[9999 * 784..]), 33673);
        assert_eq!(sum(&d.test.images), 574628567);
        for (split, per_class) in [(&d.train, 6000), (&d.test, 1000)] {
            let mut counts = [0usize; 10];
            for &l in &split.labels {
                counts[l as usize] += 1;
            }
            assert_eq!(counts, [per_class; 10]);
        }
    }
}
