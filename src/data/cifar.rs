//! CIFAR-10 and CIFAR-100 binary formats.
//!
//! A CIFAR-10 record is 1 label byte then 3072 pixel bytes (1024 R, 1024 G, 1024 B,
//! each 32x32 row-major), i.e. already CHW. A CIFAR-100 record has a coarse and a
//! fine label byte before the same 3072 pixel bytes.

use std::path::{Path, PathBuf};

use super::{Cifar100Labels, DataError, Dataset, Split, Splits};

/// Pixel bytes per CIFAR image (3x32x32).
const PIXELS: usize = 3 * 32 * 32;

/// The CIFAR-10 class names in label order, used when `batches.meta.txt` is absent (one list for
/// the whole workspace, kept in the reports crate, which judges whether the paper applies).
pub(crate) use dcrobust_reports::paper::CIFAR10_CLASSES;

/// Subfolder of the official CIFAR-10 binary archive.
const CIFAR10_SUBDIR: &str = "cifar-10-batches-bin";
/// Subfolder of the official CIFAR-100 binary archive.
const CIFAR100_SUBDIR: &str = "cifar-100-binary";

/// Whether `dir` looks like CIFAR-10 binary.
pub(crate) fn is_cifar10(dir: &Path) -> bool {
    dir.join("data_batch_1.bin").is_file()
        || dir.join("test_batch.bin").is_file()
        || dir.join(CIFAR10_SUBDIR).is_dir()
}

/// Whether `dir` looks like CIFAR-100 binary.
pub(crate) fn is_cifar100(dir: &Path) -> bool {
    dir.join("train.bin").is_file()
        || dir.join("test.bin").is_file()
        || dir.join(CIFAR100_SUBDIR).is_dir()
}

/// `dir` itself if it holds any of `markers`, else `dir/subdir` if that is a folder, else `dir`.
fn resolve(dir: &Path, markers: &[&str], subdir: &str) -> PathBuf {
    if markers.iter().any(|m| dir.join(m).is_file()) {
        return dir.to_path_buf();
    }
    let sub = dir.join(subdir);
    if sub.is_dir() {
        sub
    } else {
        dir.to_path_buf()
    }
}

/// Reads a whole file of fixed-size records (see [`check_records`]).
fn read_records(
    path: &Path,
    what: &str,
    format: &'static str,
    record: usize,
) -> Result<Vec<u8>, DataError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(DataError::MissingFile {
                path: path.to_path_buf(),
                what: what.to_string(),
            })
        }
        Err(e) => return Err(DataError::io(path, e)),
    };
    check_records(path, &bytes, format, record)?;
    Ok(bytes)
}

/// Checks that the bytes of the file at `path` are non-empty and a whole number of records.
fn check_records(
    path: &Path,
    bytes: &[u8],
    format: &'static str,
    record: usize,
) -> Result<(), DataError> {
    if bytes.is_empty() {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
            expected: format!("{format} records of {record} bytes"),
        });
    }
    if !bytes.len().is_multiple_of(record) {
        return Err(DataError::BadRecordSize {
            path: path.to_path_buf(),
            format,
            len: bytes.len() as u64,
            record,
        });
    }
    Ok(())
}

/// Checks the bytes of one CIFAR-10 binary file (`path` names it in errors) and appends its
/// records to `split`.
pub(crate) fn cifar10_records(
    split: &mut Split,
    path: &Path,
    bytes: &[u8],
) -> Result<(), DataError> {
    check_records(path, bytes, "CIFAR-10 binary", 1 + PIXELS)?;
    append_records(split, path, bytes, 1, 0, "label", 9)
}

/// Checks the bytes of one CIFAR-100 binary file (`path` names it in errors), range-checks
/// both labels of every record, and appends its records to `split` with the chosen label.
pub(crate) fn cifar100_records(
    split: &mut Split,
    path: &Path,
    bytes: &[u8],
    labels: Cifar100Labels,
) -> Result<(), DataError> {
    let record = 2 + PIXELS;
    check_records(path, bytes, "CIFAR-100 binary", record)?;
    let (label_offset, kind, max, other_offset, other_kind, other_max) = match labels {
        Cifar100Labels::Coarse => (0, "coarse label", 19, 1, "fine label", 99),
        Cifar100Labels::Fine => (1, "fine label", 99, 0, "coarse label", 19),
    };
    // Both labels are range-checked whichever is used: a bad one means a corrupt file.
    for (index, rec) in bytes.chunks_exact(record).enumerate() {
        let label = u32::from(rec[other_offset]);
        if label > other_max {
            return Err(DataError::LabelOutOfRange {
                path: path.to_path_buf(),
                kind: other_kind,
                index,
                label,
                max: other_max,
            });
        }
    }
    append_records(split, path, bytes, 2, label_offset, kind, max)
}

/// Appends the records of one file to `split`, taking the label at `label_offset` of
/// each record (checked against `max`) and the pixels after `header` bytes.
fn append_records(
    split: &mut Split,
    path: &Path,
    bytes: &[u8],
    header: usize,
    label_offset: usize,
    kind: &'static str,
    max: u32,
) -> Result<(), DataError> {
    let record = header + PIXELS;
    let n = bytes.len() / record;
    split.labels.reserve(n);
    split.images.reserve(n * PIXELS);
    for (index, rec) in bytes.chunks_exact(record).enumerate() {
        let label = u32::from(rec[label_offset]);
        if label > max {
            return Err(DataError::LabelOutOfRange {
                path: path.to_path_buf(),
                kind,
                index,
                label,
                max,
            });
        }
        split.labels.push(label);
        split.images.extend_from_slice(&rec[header..]);
    }
    Ok(())
}

/// Reads class names, one per line (blank lines ignored) from `path` if it exists,
/// checking there are exactly `expected`; `None` when the file is absent.
fn read_class_names(path: &Path, expected: usize) -> Result<Option<Vec<String>>, DataError> {
    let text = match std::fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DataError::io(path, e)),
    };
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if names.len() != expected {
        return Err(DataError::ClassNames {
            path: path.to_path_buf(),
            found: names.len(),
            expected,
        });
    }
    Ok(Some(names))
}

/// Loads CIFAR-10 binary from `dir` or `dir/cifar-10-batches-bin/` (the five training batches
/// only if `splits` asks for them).
pub(crate) fn load_cifar10(dir: &Path, splits: Splits) -> Result<Dataset, DataError> {
    const FORMAT: &str = "CIFAR-10 binary";
    let record = 1 + PIXELS;
    let root = resolve(dir, &["data_batch_1.bin", "test_batch.bin"], CIFAR10_SUBDIR);

    let mut train = Split::default();
    let batches = if splits.train() { 5 } else { 0 };
    for k in 1..=batches {
        let path = root.join(format!("data_batch_{k}.bin"));
        let bytes = read_records(&path, "CIFAR-10 train batch", FORMAT, record)?;
        cifar10_records(&mut train, &path, &bytes)?;
    }
    let mut test = Split::default();
    let path = root.join("test_batch.bin");
    let bytes = read_records(&path, "CIFAR-10 test batch", FORMAT, record)?;
    cifar10_records(&mut test, &path, &bytes)?;

    let classes = read_class_names(&root.join("batches.meta.txt"), 10)?
        .unwrap_or_else(|| CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect());

    Ok(Dataset {
        name: "cifar10-binary".to_string(),
        source: root.display().to_string(),
        classes,
        channels: 3,
        height: 32,
        width: 32,
        train,
        test,
    })
}

/// Loads CIFAR-100 binary from `dir` or `dir/cifar-100-binary/`, with fine or coarse labels
/// (`train.bin` only if `splits` asks for it).
pub(crate) fn load_cifar100(
    dir: &Path,
    labels: Cifar100Labels,
    splits: Splits,
) -> Result<Dataset, DataError> {
    const FORMAT: &str = "CIFAR-100 binary";
    let record = 2 + PIXELS;
    let root = resolve(dir, &["train.bin", "test.bin"], CIFAR100_SUBDIR);
    let (n_classes, names_file) = match labels {
        Cifar100Labels::Coarse => (20usize, "coarse_label_names.txt"),
        Cifar100Labels::Fine => (100usize, "fine_label_names.txt"),
    };
    let mut read = Vec::with_capacity(2);
    for (file, what, wanted) in [
        ("train.bin", "CIFAR-100 train file", splits.train()),
        ("test.bin", "CIFAR-100 test file", true),
    ] {
        let mut split = Split::default();
        if wanted {
            let path = root.join(file);
            let bytes = read_records(&path, what, FORMAT, record)?;
            cifar100_records(&mut split, &path, &bytes, labels)?;
        }
        read.push(split);
    }
    let test = read.pop().unwrap_or_default();
    let train = read.pop().unwrap_or_default();

    let classes = read_class_names(&root.join(names_file), n_classes)?
        .unwrap_or_else(|| (0..n_classes).map(|i| format!("class_{i:02}")).collect());

    Ok(Dataset {
        name: "cifar100-binary".to_string(),
        source: root.display().to_string(),
        classes,
        channels: 3,
        height: 32,
        width: 32,
        train,
        test,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::write;
    use super::super::{load, Cifar100Labels, DataFormat};
    use super::*;

    /// Deterministic, position-dependent pixels for record `r`: the byte at
    /// channel c, row y, column x is (r*7 + c*50 + y*3 + x) mod 256.
    fn pixels(r: usize) -> Vec<u8> {
        let mut p = Vec::with_capacity(PIXELS);
        for c in 0..3 {
            for y in 0..32 {
                for x in 0..32 {
                    p.push(((r * 7 + c * 50 + y * 3 + x) % 256) as u8);
                }
            }
        }
        p
    }

    fn cifar10_file(labels: &[u8], first: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, &l) in labels.iter().enumerate() {
            out.push(l);
            out.extend(pixels(first + i));
        }
        out
    }

    fn cifar100_file(labels: &[(u8, u8)], first: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, &(coarse, fine)) in labels.iter().enumerate() {
            out.push(coarse);
            out.push(fine);
            out.extend(pixels(first + i));
        }
        out
    }

    /// Writes five train batches of 2 records each (labels 0..9) and a test batch of 3.
    fn write_cifar10(dir: &Path) {
        for k in 1..=5usize {
            let labels = [(2 * k - 2) as u8, (2 * k - 1) as u8];
            write(
                dir,
                &format!("data_batch_{k}.bin"),
                &cifar10_file(&labels, 2 * (k - 1)),
            );
        }
        write(dir, "test_batch.bin", &cifar10_file(&[9, 0, 4], 100));
    }

    #[test]
    fn cifar10_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        write_cifar10(tmp.path());
        let d = load(tmp.path(), None, Cifar100Labels::Fine).unwrap();
        assert_eq!(d.name, "cifar10-binary");
        assert_eq!((d.channels, d.height, d.width), (3, 32, 32));
        assert_eq!(d.image_len(), 3072);
        assert_eq!(d.classes[0], "airplane");
        assert_eq!(d.classes[9], "truck");
        assert_eq!(d.train.len(), 10);
        assert_eq!(d.train.labels, (0..10).collect::<Vec<u32>>());
        assert_eq!(d.test.labels, vec![9, 0, 4]);
        assert_eq!(d.train.images.len(), 10 * 3072);
        // NCHW: image i, channel c, row y, column x.
        let at = |s: &Split, i: usize, c: usize, y: usize, x: usize| {
            s.images[((i * 3 + c) * 32 + y) * 32 + x]
        };
        // Train image 7 (batch 4, second record) is pixels(7).
        assert_eq!(at(&d.train, 7, 0, 0, 0), 49);
        assert_eq!(at(&d.train, 7, 1, 0, 0), 99);
        assert_eq!(at(&d.train, 7, 2, 5, 9), 49 + 100 + 15 + 9);
        assert_eq!(
            at(&d.test, 2, 2, 31, 31),
            ((102 * 7 + 100 + 93 + 31) % 256) as u8
        );
        assert_eq!(&d.test.images[3072..6144], &pixels(101)[..]);
        assert_eq!(&d.test.images[6144..], &pixels(102)[..]);
    }

    #[test]
    fn cifar10_subfolder_and_meta_names() {
        let tmp = tempfile::tempdir().unwrap();
        let sub = tmp.path().join("cifar-10-batches-bin");
        write_cifar10(&sub);
        let names = "a\nb\n\nc\nd\ne\nf\ng\nh\ni\nj\n\n";
        write(&sub, "batches.meta.txt", names.as_bytes());
        assert_eq!(
            super::super::detect(tmp.path()).unwrap(),
            DataFormat::Cifar10Binary
        );
        let d = load(tmp.path(), None, Cifar100Labels::Fine).unwrap();
        assert_eq!(
            d.classes,
            "abcdefghij".chars().map(String::from).collect::<Vec<_>>()
        );
        assert_eq!(d.source, sub.display().to_string());
    }

    #[test]
    fn cifar10_bad_size() {
        let tmp = tempfile::tempdir().unwrap();
        write_cifar10(tmp.path());
        let mut bytes = cifar10_file(&[1, 2], 0);
        bytes.truncate(3073 + 100);
        write(tmp.path(), "data_batch_3.bin", &bytes);
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(err.contains("data_batch_3.bin"), "{err}");
        assert!(err.contains("truncated or not CIFAR-10 binary"), "{err}");
        assert!(
            err.contains("3173 bytes") && err.contains("multiple of 3073"),
            "{err}"
        );
    }

    #[test]
    fn cifar10_empty_file() {
        let tmp = tempfile::tempdir().unwrap();
        write_cifar10(tmp.path());
        write(tmp.path(), "test_batch.bin", b"");
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("test_batch.bin") && err.contains("empty file"),
            "{err}"
        );
    }

    #[test]
    fn cifar10_label_out_of_range() {
        let tmp = tempfile::tempdir().unwrap();
        write_cifar10(tmp.path());
        write(tmp.path(), "data_batch_2.bin", &cifar10_file(&[3, 10], 0));
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(err.contains("data_batch_2.bin"), "{err}");
        assert!(
            err.contains("label 10 of record 1 is out of range, expected 0..=9"),
            "{err}"
        );
    }

    #[test]
    fn cifar10_missing_batches_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        write_cifar10(tmp.path());
        std::fs::remove_file(tmp.path().join("data_batch_4.bin")).unwrap();
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train batch") && err.contains("data_batch_4.bin"),
            "{err}"
        );

        let tmp = tempfile::tempdir().unwrap();
        write_cifar10(tmp.path());
        std::fs::remove_file(tmp.path().join("test_batch.bin")).unwrap();
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("test batch") && err.contains("test_batch.bin"),
            "{err}"
        );
    }

    #[test]
    fn cifar10_bad_meta_names() {
        let tmp = tempfile::tempdir().unwrap();
        write_cifar10(tmp.path());
        write(tmp.path(), "batches.meta.txt", b"cat\ndog\n");
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("batches.meta.txt") && err.contains("found 2 class names, expected 10"),
            "{err}"
        );
    }

    fn write_cifar100(dir: &Path) {
        write(
            dir,
            "train.bin",
            &cifar100_file(&[(0, 99), (19, 5), (7, 42)], 0),
        );
        write(dir, "test.bin", &cifar100_file(&[(3, 0), (4, 77)], 50));
    }

    #[test]
    fn cifar100_fine_and_coarse() {
        let tmp = tempfile::tempdir().unwrap();
        write_cifar100(tmp.path());
        let fine = load(tmp.path(), None, Cifar100Labels::Fine).unwrap();
        assert_eq!(fine.name, "cifar100-binary");
        assert_eq!(fine.classes.len(), 100);
        assert_eq!(fine.classes[0], "class_00");
        assert_eq!(fine.classes[99], "class_99");
        assert_eq!(fine.train.labels, vec![99, 5, 42]);
        assert_eq!(fine.test.labels, vec![0, 77]);
        assert_eq!(&fine.train.images[3072..6144], &pixels(1)[..]);
        assert_eq!(&fine.test.images[..3072], &pixels(50)[..]);
        // Channel-major within the image: green plane of test image 1 starts at 3072 + 1024.
        assert_eq!(fine.test.images[3072 + 1024], ((51 * 7 + 50) % 256) as u8);

        let coarse = load(
            tmp.path(),
            Some(DataFormat::Cifar100Binary),
            Cifar100Labels::Coarse,
        )
        .unwrap();
        assert_eq!(coarse.classes.len(), 20);
        assert_eq!(coarse.classes[19], "class_19");
        assert_eq!(coarse.train.labels, vec![0, 19, 7]);
        assert_eq!(coarse.test.labels, vec![3, 4]);
        assert_eq!(coarse.train.images, fine.train.images);
    }

    #[test]
    fn cifar100_names_files_and_subfolder() {
        let tmp = tempfile::tempdir().unwrap();
        let sub = tmp.path().join("cifar-100-binary");
        write_cifar100(&sub);
        let coarse: String = (0..20).map(|i| format!("super{i}\n")).collect();
        write(&sub, "coarse_label_names.txt", coarse.as_bytes());
        let d = load(tmp.path(), None, Cifar100Labels::Coarse).unwrap();
        assert_eq!(d.classes[19], "super19");
        // The fine names file is absent: default names.
        let d = load(tmp.path(), None, Cifar100Labels::Fine).unwrap();
        assert_eq!(d.classes[42], "class_42");
    }

    #[test]
    fn cifar100_bad_size() {
        let tmp = tempfile::tempdir().unwrap();
        write_cifar100(tmp.path());
        // A CIFAR-10-sized record is not a CIFAR-100 record.
        write(tmp.path(), "test.bin", &cifar10_file(&[1, 2], 0));
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(err.contains("test.bin"), "{err}");
        assert!(
            err.contains(
                "truncated or not CIFAR-100 binary: 6146 bytes, expected a multiple of 3074"
            ),
            "{err}"
        );
    }

    #[test]
    fn cifar100_label_out_of_range() {
        let tmp = tempfile::tempdir().unwrap();
        write_cifar100(tmp.path());
        write(
            tmp.path(),
            "train.bin",
            &cifar100_file(&[(0, 1), (2, 100)], 0),
        );
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(err.contains("train.bin"), "{err}");
        assert!(
            err.contains("fine label 100 of record 1 is out of range, expected 0..=99"),
            "{err}"
        );

        write(tmp.path(), "train.bin", &cifar100_file(&[(20, 1)], 0));
        for labels in [Cifar100Labels::Fine, Cifar100Labels::Coarse] {
            let err = load(tmp.path(), None, labels).unwrap_err().to_string();
            assert!(
                err.contains("coarse label 20 of record 0 is out of range, expected 0..=19"),
                "{err}"
            );
        }
    }
}
