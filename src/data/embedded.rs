//! The small real CIFAR-10 subset compiled into the binary (see `embedded/README.md`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use super::folder::{self, Item, Source, Tree, SPLITS};
use super::{DataError, Dataset, Splits};

/// File name of the embedded archive, used in error messages.
const ARCHIVE_NAME: &str = "src/data/embedded/cifar10-small.tar.gz";

/// The gzipped tar of an ImageFolder tree: 500 train and 100 test JPEGs per CIFAR-10 class.
static ARCHIVE: &[u8] = include_bytes!("embedded/cifar10-small.tar.gz");

/// The real CIFAR-10 subset committed in the repository (src/data/embedded/), decoded from memory.
///
/// 5000 training and 1000 test images (the first 500 / 100 of each class), 32x32 RGB,
/// classes airplane..truck in sorted order. Name "embedded-cifar10", source "embedded".
pub fn embedded() -> Result<Dataset, DataError> {
    let tree = tar_gz_tree(ARCHIVE, Path::new(ARCHIVE_NAME))?;
    folder::assemble(tree, "embedded-cifar10", "embedded", Splits::Both)
}

/// Lists an ImageFolder tree held in a gzipped tar in memory. Entries are taken as
/// `split/class/file`; directory entries `split/class/` create (possibly empty)
/// classes; anything else (other depths, other splits, hidden or non-image files,
/// links) is ignored, as on disk.
fn tar_gz_tree(bytes: &[u8], archive: &Path) -> Result<Tree, DataError> {
    let bad = |e: std::io::Error| DataError::Archive {
        path: archive.to_path_buf(),
        message: e.to_string(),
    };
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut splits: BTreeMap<String, BTreeMap<String, Vec<Item>>> = BTreeMap::new();
    for entry in tar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = entry.path().map_err(bad)?.into_owned();
        let parts: Vec<String> = path
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        let kind = entry.header().entry_type();
        if parts.iter().any(|p| folder::is_hidden(p)) {
            continue;
        }
        match parts.as_slice() {
            [split, class] if kind.is_dir() && SPLITS.contains(&split.as_str()) => {
                splits
                    .entry(split.clone())
                    .or_default()
                    .entry(class.clone())
                    .or_default();
            }
            [split, class, file]
                if kind.is_file()
                    && SPLITS.contains(&split.as_str())
                    && folder::is_image_name(file) =>
            {
                let display: PathBuf = archive.join(&path);
                let mut data = Vec::new();
                entry
                    .read_to_end(&mut data)
                    .map_err(|e| DataError::Archive {
                        path: display.clone(),
                        message: e.to_string(),
                    })?;
                splits
                    .entry(split.clone())
                    .or_default()
                    .entry(class.clone())
                    .or_default()
                    .push(Item {
                        name: file.clone(),
                        display,
                        source: Source::Bytes(data),
                    });
            }
            _ => {}
        }
    }
    Ok(Tree {
        root: archive.to_path_buf(),
        splits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_cifar10_subset() {
        let start = std::time::Instant::now();
        let d = embedded().unwrap();
        eprintln!("embedded() took {:?}", start.elapsed());
        assert_eq!(d.name, "embedded-cifar10");
        assert_eq!(d.source, "embedded");
        assert_eq!(
            d.classes,
            [
                "airplane",
                "automobile",
                "bird",
                "cat",
                "deer",
                "dog",
                "frog",
                "horse",
                "ship",
                "truck"
            ]
        );
        assert_eq!((d.channels, d.height, d.width), (3, 32, 32));
        assert_eq!(d.train.len(), 5000);
        assert_eq!(d.test.len(), 1000);
        assert_eq!(d.train.images.len(), 5000 * 3072);
        assert_eq!(d.test.images.len(), 1000 * 3072);
        let mut train_counts = [0usize; 10];
        for &l in &d.train.labels {
            train_counts[l as usize] += 1;
        }
        assert_eq!(train_counts, [500; 10]);
        let mut test_counts = [0usize; 10];
        for &l in &d.test.labels {
            test_counts[l as usize] += 1;
        }
        assert_eq!(test_counts, [100; 10]);
        // Labels are grouped by class, in order.
        assert!(d.train.labels.windows(2).all(|w| w[0] <= w[1]));
    }

    /// The embedded images are the same bytes as the shared CIFAR-10 JPEGs:
    /// the first train and last test image decode identically from both.
    #[test]
    fn embedded_matches_shared_folder() {
        let Some(src) = super::super::test_util::shared_dir("cifar10") else {
            return;
        };
        let d = embedded().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        for name in [
            "train/airplane/0000.jpg",
            "train/truck/0499.jpg",
            "test/airplane/0000.jpg",
            "test/truck/0099.jpg",
        ] {
            let to = tmp.path().join(name);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(src.join(name), to).unwrap();
        }
        let small = super::super::load(tmp.path(), None, Default::default()).unwrap();
        assert_eq!(small.train.images[..3072], d.train.images[..3072]);
        assert_eq!(small.train.images[3072..], d.train.images[4999 * 3072..]);
        assert_eq!(small.test.images[..3072], d.test.images[..3072]);
        assert_eq!(small.test.images[3072..], d.test.images[999 * 3072..]);
    }

    #[test]
    fn corrupt_archive_is_an_error() {
        let err = tar_gz_tree(&ARCHIVE[..1000], Path::new("x.tar.gz"));
        // A truncated gzip stream either fails to list or yields a partial tree;
        // it must not panic, and a failure names the archive.
        if let Err(e) = err {
            assert!(e.to_string().contains("x.tar.gz"), "{e}");
        }
        let err = tar_gz_tree(b"not gzip", Path::new("y.tar.gz"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("y.tar.gz"), "{err}");
    }
}
