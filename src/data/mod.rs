//! Data loading: CIFAR-10/100 binary, IDX (MNIST / Fashion-MNIST), ImageFolder trees,
//! and a small real CIFAR-10 subset embedded in the binary. `cifar10c` reads and writes
//! corrupted test splits in the released CIFAR-10-C layout.
//!
//! Every loader produces a [`Dataset`] whose pixels are `u8` in NCHW order.
//! Loaders never panic on bad input; they return a [`DataError`] naming the file
//! and the problem.

mod cifar;
pub(crate) mod cifar10c;
mod embedded;
mod error;
mod folder;
pub mod fuzz_entry;
mod idx;
pub mod npy;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

pub(crate) use cifar::CIFAR10_CLASSES;
pub use embedded::embedded;
pub use error::DataError;

/// One split's images in memory.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Split {
    /// Pixels, u8, image-major then channel-major:
    /// index = ((i * channels + c) * height + y) * width + x  (NCHW).
    pub images: Vec<u8>,
    /// Class index of each image, < classes.len().
    pub labels: Vec<u32>,
}

impl Split {
    /// Number of images in the split.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split holds no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The images at `indices` (ascending), `image_len` bytes each, in that order.
    fn select(&self, indices: &[usize], image_len: usize) -> Split {
        let mut images = Vec::with_capacity(indices.len() * image_len);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            images.extend_from_slice(&self.images[i * image_len..(i + 1) * image_len]);
            labels.push(self.labels[i]);
        }
        Split { images, labels }
    }
}

/// `n` indices of a split with `labels` over `classes` classes (at most the split's size),
/// balanced across classes: each class's first image, then each class's second, and so on
/// (`from_end`: each class's last, then the one before it), in ascending order. Labels at or
/// past `classes` count as the last class.
fn class_rounds(labels: &[u32], classes: usize, n: usize, from_end: bool) -> Vec<usize> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes.max(1)];
    for (i, &l) in labels.iter().enumerate() {
        by_class[(l as usize).min(classes.saturating_sub(1))].push(i);
    }
    if from_end {
        by_class.iter_mut().for_each(|m| m.reverse());
    }
    let n = n.min(labels.len());
    let mut chosen = Vec::with_capacity(n);
    let mut round = 0;
    while chosen.len() < n {
        for members in &by_class {
            if let Some(&i) = members.get(round) {
                if chosen.len() < n {
                    chosen.push(i);
                }
            }
        }
        round += 1;
    }
    chosen.sort_unstable();
    chosen
}

impl fmt::Debug for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The pixel buffer can be hundreds of megabytes: summarise it.
        f.debug_struct("Split")
            .field("len", &self.labels.len())
            .field("pixel_bytes", &self.images.len())
            .finish()
    }
}

/// A labelled image data set with a train and a test split, all images the same size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    /// Short name, e.g. "cifar10-binary", "cifar100-binary", "idx", "imagefolder", "embedded-cifar10".
    pub(crate) name: String,
    /// Path it was read from, or "embedded".
    pub(crate) source: String,
    /// Class names in label order.
    pub(crate) classes: Vec<String>,
    /// Channels per image (1 for grey, 3 for RGB).
    pub(crate) channels: usize,
    /// Image height in pixels.
    pub(crate) height: usize,
    /// Image width in pixels.
    pub(crate) width: usize,
    /// The training split.
    pub(crate) train: Split,
    /// The test split.
    pub test: Split,
}

impl Dataset {
    /// Bytes per image: `channels * height * width`.
    pub(crate) fn image_len(&self) -> usize {
        self.channels
            .saturating_mul(self.height)
            .saturating_mul(self.width)
    }

    /// Keeps at most n images of each split (None leaves a split as is), balanced across
    /// classes: the first image of every class, then the second of every class, and so on, so
    /// a small subset of a class-sorted folder still holds every class. Kept images stay in
    /// their original order. Deterministic.
    pub fn truncate(&mut self, train: Option<usize>, test: Option<usize>) {
        let image_len = self.image_len();
        let classes = self.classes.len();
        for (split, keep) in [(&mut self.train, train), (&mut self.test, test)] {
            let Some(n) = keep else { continue };
            if n >= split.len() {
                continue;
            }
            let chosen = class_rounds(&split.labels, classes, n, false);
            *split = split.select(&chosen, image_len);
        }
    }
}

impl Dataset {
    /// Moves `n` images out of the training split into a validation split, balanced across
    /// classes from the end: the last image of every class, then the one before it, and so on
    /// (so a validation split never shares an image with the training images that remain, and
    /// [`Dataset::truncate`]'s class-balanced prefix is the last to go). Both splits keep the
    /// original order. Returns the validation split. Deterministic.
    ///
    /// # Errors
    /// When `n` would leave fewer than one training image per class.
    pub(crate) fn hold_out(&mut self, n: usize) -> Result<Split, String> {
        let classes = self.classes.len().max(1);
        if n == 0 {
            return Ok(Split::default());
        }
        if n + classes > self.train.len() {
            return Err(format!(
                "--holdout {n} leaves fewer than {classes} of the {} training images to train on",
                self.train.len()
            ));
        }
        let image_len = self.image_len();
        let held = class_rounds(&self.train.labels, classes, n, true);
        let mut is_held = vec![false; self.train.len()];
        for &i in &held {
            is_held[i] = true;
        }
        let kept: Vec<usize> = (0..self.train.len()).filter(|&i| !is_held[i]).collect();
        let val = self.train.select(&held, image_len);
        self.train = self.train.select(&kept, image_len);
        Ok(val)
    }
}

/// The on-disk formats [`load`] understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum DataFormat {
    /// CIFAR-10 binary batches (`data_batch_{1..5}.bin`, `test_batch.bin`).
    Cifar10Binary,
    /// CIFAR-100 binary files (`train.bin`, `test.bin`).
    Cifar100Binary,
    /// IDX files as used by MNIST and Fashion-MNIST, raw or gzipped.
    Idx,
    /// `train/<class>/*.{png,jpg,jpeg}` and `test/<class>/*`.
    ImageFolder,
}

impl DataFormat {
    /// Every format, in detection order.
    pub(crate) const ALL: [DataFormat; 4] = [
        DataFormat::Cifar10Binary,
        DataFormat::Cifar100Binary,
        DataFormat::Idx,
        DataFormat::ImageFolder,
    ];

    /// The name used by `Display`, `FromStr` and serde, e.g. "cifar10-binary".
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DataFormat::Cifar10Binary => "cifar10-binary",
            DataFormat::Cifar100Binary => "cifar100-binary",
            DataFormat::Idx => "idx",
            DataFormat::ImageFolder => "image-folder",
        }
    }
}

impl fmt::Display for DataFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DataFormat {
    type Err = DataError;

    /// Parses "cifar10-binary", "cifar100-binary", "idx" or "image-folder"
    /// (case-insensitive; "imagefolder" is accepted too).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        if lower == "imagefolder" {
            return Ok(DataFormat::ImageFolder);
        }
        DataFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == lower)
            .ok_or_else(|| DataError::UnknownFormat {
                name: s.to_string(),
            })
    }
}

/// Which CIFAR-100 label to use as the class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cifar100Labels {
    /// The 100 fine classes.
    #[default]
    Fine,
    /// The 20 coarse super-classes.
    Coarse,
}

/// Which splits a loader reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Splits {
    /// The training and the test split.
    #[default]
    Both,
    /// Only the test split: the training files are neither read nor required, and the
    /// returned [`Dataset::train`] is empty.
    TestOnly,
}

impl Splits {
    /// Whether the training split is read.
    pub(crate) fn train(self) -> bool {
        self == Splits::Both
    }
}

/// Detects the format of `dir` (see [`detect`]), or uses `format` when given, and loads both splits.
pub(crate) fn load(
    dir: &Path,
    format: Option<DataFormat>,
    cifar100_labels: Cifar100Labels,
) -> Result<Dataset, DataError> {
    load_splits(dir, format, cifar100_labels, Splits::Both)
}

/// As [`load`], reading only the splits `splits` names (`dcrobust corrupt` needs only the test
/// split, so a folder without the training files is accepted there).
pub(crate) fn load_splits(
    dir: &Path,
    format: Option<DataFormat>,
    cifar100_labels: Cifar100Labels,
    splits: Splits,
) -> Result<Dataset, DataError> {
    check_dir(dir)?;
    let format = match format {
        Some(f) => f,
        None => detect(dir)?,
    };
    match format {
        DataFormat::Cifar10Binary => cifar::load_cifar10(dir, splits),
        DataFormat::Cifar100Binary => cifar::load_cifar100(dir, cifar100_labels, splits),
        DataFormat::Idx => idx::load_idx(dir, splits),
        DataFormat::ImageFolder => folder::load_image_folder(dir, splits),
    }
}

/// Which format `dir` holds; a clear error listing what was looked for when none matches.
///
/// Checked in this order: CIFAR-10 binary (`data_batch_1.bin` or `test_batch.bin`,
/// directly or in `cifar-10-batches-bin/`), CIFAR-100 binary (`train.bin` or `test.bin`,
/// directly or in `cifar-100-binary/`), IDX (any of the four MNIST file names, with or
/// without `.gz`), ImageFolder (a `train/` or `test/` subfolder).
fn detect(dir: &Path) -> Result<DataFormat, DataError> {
    check_dir(dir)?;
    if cifar::is_cifar10(dir) {
        return Ok(DataFormat::Cifar10Binary);
    }
    if cifar::is_cifar100(dir) {
        return Ok(DataFormat::Cifar100Binary);
    }
    if idx::is_idx(dir) {
        return Ok(DataFormat::Idx);
    }
    if folder::is_image_folder(dir) {
        return Ok(DataFormat::ImageFolder);
    }
    Err(DataError::Unrecognised {
        path: dir.to_path_buf(),
        looked_for: "CIFAR-10 binary (data_batch_1.bin or test_batch.bin, directly or in \
                     cifar-10-batches-bin/), CIFAR-100 binary (train.bin and test.bin, directly or \
                     in cifar-100-binary/), IDX (train-images-idx3-ubyte, train-labels-idx1-ubyte, \
                     t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally .gz), \
                     ImageFolder (train/<class>/ and test/<class>/ subfolders)"
            .to_string(),
    })
}

/// Errors unless `dir` exists and is a directory.
fn check_dir(dir: &Path) -> Result<(), DataError> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(DataError::MissingDir {
            path: dir.to_path_buf(),
            problem: "is not a directory",
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DataError::MissingDir {
            path: dir.to_path_buf(),
            problem: "does not exist",
        }),
        Err(e) => Err(DataError::io(dir, e)),
    }
}

#[cfg(test)]
mod test_util {
    //! Helpers shared by the data tests.

    use std::path::Path;

    /// The shared real-data folder, one level above the repository.
    pub(crate) fn shared_data() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data"))
    }

    /// The shared real-data folder `name` (`cifar10`, `fashion-mnist`), if it is there. Without
    /// it a test that reads it says so and passes, except where `DCROBUST_REQUIRE_SHARED_DATA=1`
    /// (set by `.ci/run` in CI, where the folder is always laid beside the clone): there a
    /// missing folder fails the test.
    pub(crate) fn shared_dir(name: &str) -> Option<std::path::PathBuf> {
        let dir = shared_data().join(name);
        if dir.is_dir() {
            return Some(dir);
        }
        assert!(
            std::env::var("DCROBUST_REQUIRE_SHARED_DATA").as_deref() != Ok("1"),
            "{} not found, and DCROBUST_REQUIRE_SHARED_DATA=1 requires it",
            dir.display()
        );
        eprintln!("skipping: {} not found", dir.display());
        None
    }

    /// Writes `bytes` to `dir/name`, creating parent folders.
    pub(crate) fn write(dir: &Path, name: &str, bytes: &[u8]) {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, bytes).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::write;
    use super::*;

    fn tiny() -> Dataset {
        // 2 channels, 1x2 pixels: image_len 4.
        Dataset {
            name: "t".into(),
            source: "t".into(),
            classes: vec!["a".into(), "b".into()],
            channels: 2,
            height: 1,
            width: 2,
            train: Split {
                images: (0..20).collect(),
                labels: vec![0, 1, 0, 1, 1],
            },
            test: Split {
                images: (100..112).collect(),
                labels: vec![1, 0, 1],
            },
        }
    }

    /// Oracle: by hand on 3 classes × 4 images (labels 0,1,2,0,1,2,…; pixel = index): holding
    /// out 4 takes the last image of each class (9, 10, 11), then class 0's one before (6);
    /// the rest stay in order; a hold-out that leaves under one image per class is refused.
    #[test]
    fn hold_out_takes_the_last_images_of_every_class() {
        let mut d = Dataset {
            name: "t".into(),
            source: "t".into(),
            classes: vec!["a".into(), "b".into(), "c".into()],
            channels: 1,
            height: 1,
            width: 1,
            train: Split {
                images: (0..12).collect(),
                labels: (0..12).map(|i| i % 3).collect(),
            },
            test: Split::default(),
        };
        let mut refused = d.clone();
        let err = refused.hold_out(10).unwrap_err();
        assert!(
            err.contains("--holdout 10") && err.contains("12 training images"),
            "{err}"
        );
        let val = d.hold_out(4).unwrap();
        assert_eq!(val.images, [6, 9, 10, 11]);
        assert_eq!(val.labels, [0, 0, 1, 2]);
        assert_eq!(d.train.images, [0, 1, 2, 3, 4, 5, 7, 8]);
        assert_eq!(d.train.labels, [0, 1, 2, 0, 1, 2, 1, 2]);
        assert!(d.hold_out(0).unwrap().is_empty());
    }

    #[test]
    fn truncate_keeps_a_class_balanced_prefix() {
        let mut d = tiny();
        assert_eq!(d.image_len(), 4);
        d.truncate(Some(2), None);
        assert_eq!(d.train.len(), 2);
        assert_eq!(d.train.labels, vec![0, 1]);
        assert_eq!(d.train.images, (0..8).collect::<Vec<u8>>());
        assert_eq!(d.test, tiny().test);

        // A class-sorted split keeps every class: labels [0, 0, 0, 1, 1] → images 0 and 3.
        let mut d = tiny();
        d.train.labels = vec![0, 0, 0, 1, 1];
        d.truncate(Some(2), None);
        assert_eq!(d.train.labels, vec![0, 1]);
        assert_eq!(d.train.images, vec![0, 1, 2, 3, 12, 13, 14, 15]);

        let mut d = tiny();
        d.truncate(Some(100), Some(0));
        assert_eq!(d.train, tiny().train);
        assert!(d.test.is_empty());
        assert!(d.test.images.is_empty());
    }

    #[test]
    fn format_names_round_trip() {
        for f in DataFormat::ALL {
            assert_eq!(f.to_string().parse::<DataFormat>().unwrap(), f);
        }
        assert_eq!(
            "cifar10-binary".parse::<DataFormat>().unwrap(),
            DataFormat::Cifar10Binary
        );
        assert_eq!(
            "cifar100-binary".parse::<DataFormat>().unwrap(),
            DataFormat::Cifar100Binary
        );
        assert_eq!("IDX".parse::<DataFormat>().unwrap(), DataFormat::Idx);
        assert_eq!(
            "image-folder".parse::<DataFormat>().unwrap(),
            DataFormat::ImageFolder
        );
        let err = "cifar".parse::<DataFormat>().unwrap_err().to_string();
        assert!(
            err.contains("\"cifar\"") && err.contains("image-folder"),
            "{err}"
        );
    }

    #[test]
    fn missing_directory_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("no-such-dir");
        let err = load(&dir, None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no-such-dir") && err.contains("does not exist"),
            "{err}"
        );
        let err = detect(&dir).unwrap_err().to_string();
        assert!(
            err.contains("no-such-dir") && err.contains("does not exist"),
            "{err}"
        );
        // A file is not a directory either.
        write(tmp.path(), "plain-file", b"x");
        let err = detect(&tmp.path().join("plain-file"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("plain-file") && err.contains("not a directory"),
            "{err}"
        );
    }

    #[test]
    fn unrecognised_directory_lists_markers() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "readme.txt", b"hello");
        std::fs::create_dir(tmp.path().join("validation")).unwrap();
        let err = detect(tmp.path()).unwrap_err().to_string();
        assert!(err.contains(&tmp.path().display().to_string()), "{err}");
        for marker in [
            "data_batch_1.bin",
            "cifar-10-batches-bin",
            "train.bin",
            "cifar-100-binary",
            "train-images-idx3-ubyte",
            "train/",
        ] {
            assert!(err.contains(marker), "{marker} not in {err}");
        }
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no recognised data set"), "{err}");
    }

    #[test]
    fn detect_each_format() {
        let cases: [(&str, DataFormat); 8] = [
            ("data_batch_1.bin", DataFormat::Cifar10Binary),
            ("test_batch.bin", DataFormat::Cifar10Binary),
            ("cifar-10-batches-bin/x", DataFormat::Cifar10Binary),
            ("train.bin", DataFormat::Cifar100Binary),
            ("cifar-100-binary/x", DataFormat::Cifar100Binary),
            ("train-images-idx3-ubyte", DataFormat::Idx),
            ("train-images-idx3-ubyte.gz", DataFormat::Idx),
            ("train/cat/x.png", DataFormat::ImageFolder),
        ];
        for (file, expected) in cases {
            let tmp = tempfile::tempdir().unwrap();
            write(tmp.path(), file, b"");
            assert_eq!(detect(tmp.path()).unwrap(), expected, "{file}");
        }
    }
}
