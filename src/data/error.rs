//! The error type of the data loaders.

use std::path::PathBuf;

/// Everything that can go wrong while finding, reading or decoding a data set.
///
/// Every message names the file or directory concerned, says what was wrong
/// and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or directory could not be read.
    #[error("cannot read {}: {error}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error, said in the message (like every variant's cause), so
        /// not returned again by `source()`.
        error: std::io::Error,
    },

    /// The data directory does not exist or is not a directory.
    #[error("data directory {} {problem}", path.display())]
    MissingDir {
        /// The directory that was asked for.
        path: PathBuf,
        /// "does not exist" or "is not a directory".
        problem: &'static str,
    },

    /// No known data set layout was found in a directory.
    #[error("no recognised data set in {}: looked for {looked_for}", path.display())]
    Unrecognised {
        /// The directory that was searched.
        path: PathBuf,
        /// A description of every marker that was looked for.
        looked_for: String,
    },

    /// A file the format needs is missing.
    #[error("missing {what}: {} does not exist", path.display())]
    MissingFile {
        /// The path where the file was expected.
        path: PathBuf,
        /// What the file is, e.g. "CIFAR-10 train batch".
        what: String,
    },

    /// A file holds no data.
    #[error("{}: empty file, expected {expected}", path.display())]
    EmptyFile {
        /// The file.
        path: PathBuf,
        /// What the file should hold.
        expected: String,
    },

    /// A file of fixed-size records has a length that is not a multiple of the record size.
    #[error(
        "{}: truncated or not {format}: {len} bytes, expected a multiple of {record}",
        path.display()
    )]
    BadRecordSize {
        /// The file.
        path: PathBuf,
        /// The format that was expected, e.g. "CIFAR-10 binary".
        format: &'static str,
        /// The file's length in bytes.
        len: u64,
        /// The record size in bytes.
        record: usize,
    },

    /// A label is not a valid class index.
    #[error(
        "{}: {kind} {label} of record {index} is out of range, expected 0..={max}",
        path.display()
    )]
    LabelOutOfRange {
        /// The file holding the label.
        path: PathBuf,
        /// Which label, e.g. "label", "fine label", "coarse label".
        kind: &'static str,
        /// The index of the record (0-based) within the file.
        index: usize,
        /// The label found.
        label: u32,
        /// The largest valid label.
        max: u32,
    },

    /// A class-name file has the wrong number of names.
    #[error("{}: found {found} class names, expected {expected} (one per line)", path.display())]
    ClassNames {
        /// The class-name file.
        path: PathBuf,
        /// How many non-blank lines it holds.
        found: usize,
        /// How many classes the format has.
        expected: usize,
    },

    /// An IDX file starts with the wrong magic number.
    #[error(
        "{}: wrong IDX magic number 0x{found:08X}, expected 0x{expected:08X} ({what})",
        path.display()
    )]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The big-endian number found in the first four bytes.
        found: u32,
        /// The number expected.
        expected: u32,
        /// What the file should be, e.g. "IDX image file: unsigned bytes, 3 dimensions".
        what: &'static str,
    },

    /// An IDX file holds fewer bytes than its header declares.
    #[error(
        "{}: truncated IDX file: the header declares {dims} = {declared} data bytes, but only {found} follow",
        path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The declared dimensions, e.g. "60000x28x28".
        dims: String,
        /// The number of data bytes the header declares.
        declared: u64,
        /// The number of data bytes actually present.
        found: u64,
    },

    /// An IDX header declares dimensions that cannot possibly fit the file.
    #[error("{}: IDX header declares dimensions {dims}, {problem}", path.display())]
    DeclaredTooLarge {
        /// The file.
        path: PathBuf,
        /// The declared dimensions, e.g. "4294967295x28x28".
        dims: String,
        /// Why they were rejected.
        problem: String,
    },

    /// A file is malformed in some other way.
    #[error("{}: {problem}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What was wrong and what was expected.
        problem: String,
    },

    /// An image file and its label file hold different numbers of items.
    #[error(
        "{} holds {images} images but {} holds {labels} labels; expected the same count",
        images_path.display(),
        labels_path.display()
    )]
    CountMismatch {
        /// The image file.
        images_path: PathBuf,
        /// The label file.
        labels_path: PathBuf,
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },

    /// The train and test splits have different image sizes.
    #[error(
        "{} holds {found} images, expected {expected} like the training images",
        path.display()
    )]
    SplitShape {
        /// The test-split file.
        path: PathBuf,
        /// The test images' size, e.g. "28x28".
        found: String,
        /// The training images' size.
        expected: String,
    },

    /// The train and test folders of an ImageFolder tree have different class folders.
    #[error(
        "{} and {} have different class folders: missing from test: [{}]; only in test: [{}]; expected the same set",
        train.display(),
        test.display(),
        missing_in_test.join(", "),
        extra_in_test.join(", ")
    )]
    ClassMismatch {
        /// The train folder.
        train: PathBuf,
        /// The test folder.
        test: PathBuf,
        /// Classes in train but not in test.
        missing_in_test: Vec<String>,
        /// Classes in test but not in train.
        extra_in_test: Vec<String>,
    },

    /// A split folder of an ImageFolder tree has no class folders.
    #[error("{}: no class folders, expected one subfolder per class", path.display())]
    NoClasses {
        /// The split folder.
        path: PathBuf,
    },

    /// A class folder holds no images.
    #[error("{}: empty class folder, expected at least one .png, .jpg or .jpeg image", path.display())]
    EmptyClass {
        /// The class folder.
        path: PathBuf,
    },

    /// A split folder of an ImageFolder tree is missing.
    #[error("missing split folder {}: expected train/<class>/* and test/<class>/*", path.display())]
    MissingSplit {
        /// The split folder that was expected.
        path: PathBuf,
    },

    /// An image could not be decoded.
    #[error("{}: cannot decode image: {message}", path.display())]
    Decode {
        /// The image file.
        path: PathBuf,
        /// The decoder's message.
        message: String,
    },

    /// An image differs in size from the first image of the data set.
    #[error(
        "{} is {found_w}x{found_h}, expected {expected_w}x{expected_h} like {}",
        path.display(),
        reference.display()
    )]
    MixedSize {
        /// The offending image.
        path: PathBuf,
        /// Its width.
        found_w: usize,
        /// Its height.
        found_h: usize,
        /// The expected width.
        expected_w: usize,
        /// The expected height.
        expected_h: usize,
        /// The first image of the data set, which sets the size.
        reference: PathBuf,
    },

    /// A tar archive could not be read.
    #[error("{}: cannot read tar.gz archive: {message}", path.display())]
    Archive {
        /// The archive (or the entry within it).
        path: PathBuf,
        /// The reader's message.
        message: String,
    },

    /// A data format name was not recognised.
    #[error("unknown data format {name:?}, expected one of cifar10-binary, cifar100-binary, idx, image-folder")]
    UnknownFormat {
        /// The name given.
        name: String,
    },
}

impl DataError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            error,
        }
    }
}
