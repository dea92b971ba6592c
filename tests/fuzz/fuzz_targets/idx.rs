//! IDX image and label files (raw or gzipped). The input is split in two: the first byte, scaled
//! to the rest's length, gives where the image file ends and the label file begins.
//! Oracle: Ok or Err, never a panic or an allocation beyond what the bytes justify; an Ok split
//! has `rows * cols` pixels per label.
#![no_main]

use std::path::Path;

use dcrobust::data::fuzz_entry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let cut = rest.len() * usize::from(first) / 255;
    let (images, labels) = rest.split_at(cut);
    let r = fuzz_entry::idx(
        Path::new("train-images-idx3-ubyte"),
        images,
        Path::new("train-labels-idx1-ubyte"),
        labels,
    );
    if let Ok(s) = r {
        assert_eq!(s.split.images.len(), s.split.len() * s.rows * s.cols);
        assert!(s.split.labels.iter().all(|&l| l <= 9));
    }
});
