//! ImageFolder trees: `train/<class>/*.{png,jpg,jpeg}` and `test/<class>/*`.
//!
//! The listing (from disk or from a tar archive in memory) is turned into a
//! [`Tree`], and [`assemble`] validates, decodes (in parallel) and packs it into
//! a [`Dataset`]. Both the on-disk loader and the embedded data set use it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{DataError, Dataset, Split, Splits};

/// The split folders, in the order they are stored in a [`Dataset`].
pub(crate) const SPLITS: [&str; 2] = ["train", "test"];

/// Where an image's bytes come from.
pub(crate) enum Source {
    /// A file to be read when decoding.
    File(PathBuf),
    /// Bytes already in memory.
    Bytes(Vec<u8>),
}

/// One image file of the tree.
pub(crate) struct Item {
    /// File name within its class folder (the sort key).
    pub(crate) name: String,
    /// Path shown in error messages.
    pub(crate) display: PathBuf,
    /// The encoded image.
    pub(crate) source: Source,
}

/// A listed ImageFolder tree: split name -> class name -> images.
pub(crate) struct Tree {
    /// The tree's root, for error messages (a directory, or the archive's name).
    pub(crate) root: PathBuf,
    /// Splits found; class folders with no images map to an empty list.
    pub(crate) splits: BTreeMap<String, BTreeMap<String, Vec<Item>>>,
}

/// Whether a file or folder name is hidden.
pub(crate) fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

/// Whether a file name has an image extension we decode (png, jpg, jpeg; any case).
pub(crate) fn is_image_name(name: &str) -> bool {
    if is_hidden(name) {
        return false;
    }
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => {
            let ext = ext.to_ascii_lowercase();
            ext == "png" || ext == "jpg" || ext == "jpeg"
        }
        _ => false,
    }
}

/// Whether `dir` looks like an ImageFolder tree.
pub(crate) fn is_image_folder(dir: &Path) -> bool {
    SPLITS.iter().any(|s| dir.join(s).is_dir())
}

/// Names and paths of the entries of `dir` that are (if `dirs`) non-hidden folders,
/// or (if not) files, following symbolic links.
fn list(dir: &Path, dirs: bool) -> Result<Vec<(String, PathBuf)>, DataError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_hidden(&name) {
            continue;
        }
        let path = entry.path();
        let keep = if dirs { path.is_dir() } else { path.is_file() };
        if keep {
            out.push((name, path));
        }
    }
    Ok(out)
}

/// Lists an ImageFolder tree on disk (without reading the images), `train/` only if `which`
/// asks for it.
fn list_disk(dir: &Path, which: Splits) -> Result<Tree, DataError> {
    let mut splits = BTreeMap::new();
    for split in SPLITS {
        if split == SPLITS[0] && !which.train() {
            continue;
        }
        let split_dir = dir.join(split);
        if !split_dir.is_dir() {
            continue; // reported by `assemble`
        }
        let mut classes = BTreeMap::new();
        for (class, class_dir) in list(&split_dir, true)? {
            let items = list(&class_dir, false)?
                .into_iter()
                .filter(|(name, _)| is_image_name(name))
                .map(|(name, path)| Item {
                    name,
                    display: path.clone(),
                    source: Source::File(path),
                })
                .collect();
            classes.insert(class, items);
        }
        splits.insert(split.to_string(), classes);
    }
    Ok(Tree {
        root: dir.to_path_buf(),
        splits,
    })
}

/// Loads an ImageFolder tree from disk (`train/` only if `splits` asks for it).
pub(crate) fn load_image_folder(dir: &Path, splits: Splits) -> Result<Dataset, DataError> {
    let tree = list_disk(dir, splits)?;
    assemble(tree, "imagefolder", &dir.display().to_string(), splits)
}

/// Largest width or height accepted for one image, in pixels.
const MAX_SIDE: u32 = 16_384;
/// Largest buffer one image's decoder may allocate, in bytes.
const MAX_DECODE_ALLOC: u64 = 256 << 20;

/// One decoded image, pixels planar (CHW) with 1 or 3 channels.
pub(crate) struct Decoded {
    /// Width in pixels.
    pub(crate) width: usize,
    /// Height in pixels.
    pub(crate) height: usize,
    /// Whether the image has colour (3 channels) or is grey (1 channel).
    pub(crate) colour: bool,
    /// Pixels, `(C, H, W)` planar, C = 3 if `colour` else 1.
    pub(crate) pixels: Vec<u8>,
}

/// Reads (if needed) and decodes one image into planar form.
fn decode(item: &Item) -> Result<Decoded, DataError> {
    match &item.source {
        Source::Bytes(b) => decode_bytes(&item.display, b),
        Source::File(path) => {
            let read = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
            decode_bytes(&item.display, &read)
        }
    }
}

/// Decodes the bytes of one PNG or JPEG image (format detected from its content; `path` names
/// it in errors) into planar form. The declared size is limited to [`MAX_SIDE`] pixels per side
/// and [`MAX_DECODE_ALLOC`] bytes before the decoder allocates.
pub(crate) fn decode_bytes(path: &Path, bytes: &[u8]) -> Result<Decoded, DataError> {
    let decode_error = |message: String| DataError::Decode {
        path: path.to_path_buf(),
        message,
    };
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| decode_error(e.to_string()))?;
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| decode_error(e.to_string().trim_end().to_string()))?;
    let (width, height) = (img.width() as usize, img.height() as usize);
    let colour = img.color().has_color();
    let pixels = if colour {
        // Interleaved RGB -> three planes.
        let rgb = img.into_rgb8().into_raw();
        let plane = width * height;
        let mut planar = vec![0u8; 3 * plane];
        let (r, rest) = planar.split_at_mut(plane);
        let (g, b) = rest.split_at_mut(plane);
        for (((px, r), g), b) in rgb.chunks_exact(3).zip(r).zip(g).zip(b) {
            *r = px[0];
            *g = px[1];
            *b = px[2];
        }
        planar
    } else {
        img.into_luma8().into_raw()
    };
    Ok(Decoded {
        width,
        height,
        colour,
        pixels,
    })
}

/// The class folders of each split: index 0 the training split (`None` when `which` skips it), 1
/// the test split.
type SplitClasses = Vec<Option<BTreeMap<String, Vec<Item>>>>;

/// Validates a listed tree, decodes every image in parallel (in a deterministic
/// order: split, class, file name) and packs the result into a [`Dataset`].
///
/// Class names are the sorted class folders of `train/`; `test/` must have the same
/// set. If any image is in colour, all images become 3-channel RGB; otherwise they
/// stay 1-channel grey. All images must have the size of the first one.
pub(crate) fn assemble(
    tree: Tree,
    name: &str,
    source: &str,
    which: Splits,
) -> Result<Dataset, DataError> {
    let root = tree.root.clone();
    let (split_classes, class_names) = split_classes(tree, which)?;

    // Flatten into (split index, label, item) in deterministic order.
    let mut items: Vec<(usize, u32, Item)> = Vec::new();
    for (s, classes) in split_classes.into_iter().enumerate() {
        let Some(classes) = classes else { continue };
        for (label, (class, mut files)) in classes.into_iter().enumerate() {
            if files.is_empty() {
                return Err(DataError::EmptyClass {
                    path: root.join(SPLITS[s]).join(&class),
                });
            }
            files.sort_by(|a, b| a.name.cmp(&b.name));
            let label = u32::try_from(label).map_err(|_| DataError::Invalid {
                path: root.join(SPLITS[s]),
                problem: "more than 2^32 class folders".to_string(),
            })?;
            items.extend(files.into_iter().map(|f| (s, label, f)));
        }
    }

    // Decode in parallel; `collect` keeps the order. The first error in that order wins.
    let decoded: Vec<Result<Decoded, DataError>> =
        items.par_iter().map(|(_, _, item)| decode(item)).collect();
    let mut images = Vec::with_capacity(decoded.len());
    for d in decoded {
        images.push(d?);
    }
    let (channels, height, width, [train, test]) = pack(images, &items)?;
    Ok(Dataset {
        name: name.to_string(),
        source: source.to_string(),
        classes: class_names,
        channels,
        height,
        width,
        train,
        test,
    })
}

/// The class folders of the splits `which` reads, and the class names (the training split's;
/// the test split must hold the same).
fn split_classes(mut tree: Tree, which: Splits) -> Result<(SplitClasses, Vec<String>), DataError> {
    let root = tree.root.clone();
    let mut split_classes = Vec::with_capacity(SPLITS.len());
    for split in SPLITS {
        if split == SPLITS[0] && !which.train() {
            split_classes.push(None);
            continue;
        }
        let classes = tree
            .splits
            .remove(split)
            .ok_or_else(|| DataError::MissingSplit {
                path: root.join(split),
            })?;
        if classes.is_empty() {
            return Err(DataError::NoClasses {
                path: root.join(split),
            });
        }
        split_classes.push(Some(classes));
    }
    let test_names: Vec<String> = split_classes[1]
        .as_ref()
        .map(|c| c.keys().cloned().collect())
        .unwrap_or_default();
    let class_names: Vec<String> = match &split_classes[0] {
        Some(train) => train.keys().cloned().collect(),
        None => test_names.clone(),
    };
    if let (Some(train), Some(test)) = (&split_classes[0], &split_classes[1]) {
        if class_names != test_names {
            return Err(DataError::ClassMismatch {
                train: root.join(SPLITS[0]),
                test: root.join(SPLITS[1]),
                missing_in_test: class_names
                    .iter()
                    .filter(|c| !test.contains_key(*c))
                    .cloned()
                    .collect(),
                extra_in_test: test_names
                    .iter()
                    .filter(|c| !train.contains_key(*c))
                    .cloned()
                    .collect(),
            });
        }
    }
    Ok((split_classes, class_names))
}

/// Packs the decoded `images` (one per entry of `items`: split index, label, file) into the two
/// splits: every image the size of the first, grey ones repeated to three planes when any image
/// has colour. Returns channels, height, width and the splits.
fn pack(
    images: Vec<Decoded>,
    items: &[(usize, u32, Item)],
) -> Result<(usize, usize, usize, [Split; 2]), DataError> {
    let (width, height) = match images.first() {
        Some(first) => (first.width, first.height),
        None => (0, 0), // unreachable: every class holds an image
    };
    for (img, (_, _, item)) in images.iter().zip(items) {
        if (img.width, img.height) != (width, height) {
            return Err(DataError::MixedSize {
                path: item.display.clone(),
                found_w: img.width,
                found_h: img.height,
                expected_w: width,
                expected_h: height,
                reference: items
                    .first()
                    .map(|(_, _, i)| i.display.clone())
                    .unwrap_or_default(),
            });
        }
    }
    let colour = images.iter().any(|d| d.colour);
    let channels = if colour { 3 } else { 1 };
    let image_len = channels * width * height;

    let mut splits = [Split::default(), Split::default()];
    for (s, split) in splits.iter_mut().enumerate() {
        let n = items.iter().filter(|(si, _, _)| *si == s).count();
        split.images.reserve_exact(n * image_len);
        split.labels.reserve_exact(n);
    }
    for (img, (s, label, _)) in images.into_iter().zip(items) {
        let split = &mut splits[*s];
        split.labels.push(*label);
        if colour && !img.colour {
            // Grey in a colour data set: the same plane three times.
            for _ in 0..3 {
                split.images.extend_from_slice(&img.pixels);
            }
        } else {
            split.images.extend_from_slice(&img.pixels);
        }
    }
    Ok((channels, height, width, splits))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{shared_dir, write};
    use super::super::{load, Cifar100Labels, DataFormat};
    use super::*;

    use image::{GrayImage, ImageFormat, Rgb, RgbImage, RgbaImage};

    fn png_rgb(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| Rgb(f(x, y)));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn png_grey(w: u32, h: u32, f: impl Fn(u32, u32) -> u8) -> Vec<u8> {
        let img = GrayImage::from_fn(w, h, |x, y| image::Luma([f(x, y)]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    /// Pixel (x, y) of the colour test image with id `k`: R = 10x + y + k, G = 100 + y, B = 200 + k.
    fn rgb_at(k: u32) -> impl Fn(u32, u32) -> [u8; 3] {
        move |x, y| [(10 * x + y + k) as u8, (100 + y) as u8, (200 + k) as u8]
    }

    /// A 2-class tree of 4x3 colour PNGs: train 2 + 1, test 1 + 1.
    fn write_tree(dir: &Path) {
        write(dir, "train/zebra/b.png", &png_rgb(4, 3, rgb_at(1)));
        write(dir, "train/zebra/a.PNG", &png_rgb(4, 3, rgb_at(0)));
        write(dir, "train/ant/x.png", &png_rgb(4, 3, rgb_at(2)));
        write(dir, "test/ant/y.png", &png_rgb(4, 3, rgb_at(3)));
        write(dir, "test/zebra/z.png", &png_rgb(4, 3, rgb_at(4)));
        // Ignored: other extensions, hidden files, hidden folders, loose files.
        write(dir, "train/zebra/notes.txt", b"not an image");
        write(dir, "train/zebra/.hidden.png", b"garbage");
        write(dir, "train/.cache/q.png", b"garbage");
        write(dir, "train/readme.md", b"hi");
    }

    #[test]
    fn folder_layout_is_nchw() {
        let tmp = tempfile::tempdir().unwrap();
        write_tree(tmp.path());
        assert_eq!(
            super::super::detect(tmp.path()).unwrap(),
            DataFormat::ImageFolder
        );
        let d = load(tmp.path(), None, Cifar100Labels::Fine).unwrap();
        assert_eq!(d.name, "imagefolder");
        assert_eq!(d.classes, vec!["ant", "zebra"]);
        assert_eq!((d.channels, d.height, d.width), (3, 3, 4));
        // Train order: ant/x (k=2), zebra/a.PNG (k=0), zebra/b.png (k=1).
        assert_eq!(d.train.labels, vec![0, 1, 1]);
        assert_eq!(d.test.labels, vec![0, 1]);
        let at = |s: &Split, i: usize, c: usize, y: usize, x: usize| {
            s.images[((i * 3 + c) * 3 + y) * 4 + x]
        };
        for (i, k) in [2u32, 0, 1].into_iter().enumerate() {
            for y in 0..3 {
                for x in 0..4 {
                    let want = rgb_at(k)(x as u32, y as u32);
                    for (c, &v) in want.iter().enumerate() {
                        assert_eq!(at(&d.train, i, c, y, x), v, "i{i} c{c} y{y} x{x}");
                    }
                }
            }
        }
        assert_eq!(at(&d.test, 1, 0, 2, 3), 30 + 2 + 4);
        assert_eq!(at(&d.test, 1, 2, 0, 0), 204);
        assert_eq!(d.train.images.len(), 3 * 36);
    }

    #[test]
    fn folder_grey_and_mixed() {
        // All grey: one channel.
        let tmp = tempfile::tempdir().unwrap();
        for (p, k) in [("train/a/1.png", 0u8), ("test/a/1.png", 50)] {
            write(tmp.path(), p, &png_grey(2, 2, |x, y| k + (2 * y + x) as u8));
        }
        let d = load(tmp.path(), None, Cifar100Labels::Fine).unwrap();
        assert_eq!(d.channels, 1);
        assert_eq!(d.train.images, vec![0, 1, 2, 3]);
        assert_eq!(d.test.images, vec![50, 51, 52, 53]);

        // One colour image (RGBA, alpha dropped) makes every image RGB.
        let img = RgbaImage::from_fn(2, 2, |x, _| image::Rgba([x as u8, 9, 8, 128]));
        let mut rgba = std::io::Cursor::new(Vec::new());
        img.write_to(&mut rgba, ImageFormat::Png).unwrap();
        write(tmp.path(), "test/a/2.png", &rgba.into_inner());
        let d = load(tmp.path(), None, Cifar100Labels::Fine).unwrap();
        assert_eq!(d.channels, 3);
        assert_eq!(d.train.images, [0, 1, 2, 3].repeat(3));
        assert_eq!(
            d.test.images,
            [
                [50, 51, 52, 53].repeat(3),
                vec![0, 1, 0, 1, 9, 9, 9, 9, 8, 8, 8, 8]
            ]
            .concat()
        );
    }

    #[test]
    fn folder_mixed_sizes() {
        let tmp = tempfile::tempdir().unwrap();
        write_tree(tmp.path());
        write(tmp.path(), "test/zebra/z.png", &png_rgb(5, 3, rgb_at(4)));
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(err.contains("z.png is 5x3, expected 4x3 like"), "{err}");
        assert!(err.contains("x.png"), "{err}");
    }

    #[test]
    fn folder_undecodable_image() {
        let tmp = tempfile::tempdir().unwrap();
        write_tree(tmp.path());
        write(
            tmp.path(),
            "train/ant/broken.jpg",
            b"this is not a jpeg at all",
        );
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("broken.jpg") && err.contains("cannot decode image"),
            "{err}"
        );
        // A JPEG header followed by garbage.
        write(
            tmp.path(),
            "train/ant/broken.jpg",
            &[0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5],
        );
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("broken.jpg") && err.contains("cannot decode image"),
            "{err}"
        );
    }

    #[test]
    fn folder_empty_class() {
        let tmp = tempfile::tempdir().unwrap();
        write_tree(tmp.path());
        std::fs::create_dir_all(tmp.path().join("train/moth")).unwrap();
        std::fs::create_dir_all(tmp.path().join("test/moth")).unwrap();
        write(tmp.path(), "test/moth/m.png", &png_rgb(4, 3, rgb_at(4)));
        write(tmp.path(), "train/moth/readme.txt", b"no images here");
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("moth") && err.contains("empty class folder"),
            "{err}"
        );
        assert!(
            err.contains(&format!("train{}moth", std::path::MAIN_SEPARATOR)),
            "{err}"
        );
    }

    #[test]
    fn folder_missing_split() {
        let tmp = tempfile::tempdir().unwrap();
        write_tree(tmp.path());
        std::fs::remove_dir_all(tmp.path().join("test")).unwrap();
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing split folder") && err.contains("test"),
            "{err}"
        );
    }

    #[test]
    fn folder_class_mismatch() {
        let tmp = tempfile::tempdir().unwrap();
        write_tree(tmp.path());
        std::fs::rename(tmp.path().join("test/zebra"), tmp.path().join("test/zebu")).unwrap();
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing from test: [zebra]") && err.contains("only in test: [zebu]"),
            "{err}"
        );
    }

    #[test]
    fn folder_no_classes() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("train")).unwrap();
        std::fs::create_dir_all(tmp.path().join("test")).unwrap();
        let err = load(tmp.path(), None, Cifar100Labels::Fine)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train") && err.contains("no class folders"),
            "{err}"
        );
    }

    /// A small tree of real CIFAR-10 JPEGs copied from the shared folder:
    /// 3 train + 2 test images of 2 classes, listed in reverse name order
    /// to check the sort.
    #[test]
    fn real_cifar10_jpegs() {
        let Some(src) = shared_dir("cifar10") else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        for class in ["truck", "cat"] {
            for (split, n) in [("train", 3), ("test", 2)] {
                for i in (0..n).rev() {
                    let name = format!("{split}/{class}/{i:04}.jpg");
                    let bytes = std::fs::read(src.join(&name)).unwrap();
                    write(tmp.path(), &name, &bytes);
                }
            }
        }
        let d = load(tmp.path(), None, Cifar100Labels::Fine).unwrap();
        assert_eq!(d.classes, vec!["cat", "truck"]);
        assert_eq!((d.channels, d.height, d.width), (3, 32, 32));
        assert_eq!(d.train.labels, vec![0, 0, 0, 1, 1, 1]);
        assert_eq!(d.test.labels, vec![0, 0, 1, 1]);
        assert_eq!(d.train.images.len(), 6 * 3072);
        // Decoding is deterministic.
        let again = load(tmp.path(), None, Cifar100Labels::Fine).unwrap();
        assert_eq!(again, d);
        // Image 1 of train is cat/0001.jpg; check its CHW layout against an
        // interleaved decode of that file.
        let rgb = image::load_from_memory(&std::fs::read(src.join("train/cat/0001.jpg")).unwrap())
            .unwrap()
            .into_rgb8();
        for (x, y, px) in rgb.enumerate_pixels() {
            for c in 0..3 {
                let idx = ((3 + c) * 32 + y as usize) * 32 + x as usize;
                assert_eq!(d.train.images[idx], px[c]);
            }
        }
        // Not all images are the same.
        assert_ne!(d.train.images[..3072], d.train.images[3072..6144]);
    }
}
