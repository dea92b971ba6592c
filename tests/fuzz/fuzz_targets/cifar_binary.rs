//! CIFAR-10 and CIFAR-100 binary batches: the whole input is one file's bytes.
//! Oracle: the parser returns Ok or Err, never panics; an Ok split is consistent with the bytes.
#![no_main]

use std::path::Path;

use dcrobust::data::{fuzz_entry, Cifar100Labels};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("data_batch_1.bin");
    if let Ok(s) = fuzz_entry::cifar10_records(path, data) {
        assert_eq!(s.len() * 3073, data.len());
        assert_eq!(s.images.len(), s.len() * 3072);
        assert!(s.labels.iter().all(|&l| l <= 9));
    }
    for labels in [Cifar100Labels::Fine, Cifar100Labels::Coarse] {
        if let Ok(s) = fuzz_entry::cifar100_records(Path::new("train.bin"), data, labels) {
            assert_eq!(s.len() * 3074, data.len());
            assert_eq!(s.images.len(), s.len() * 3072);
        }
    }
});
