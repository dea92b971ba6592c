//! A CIFAR-10-C `.npy` file (images or labels).
//! Oracle: Ok or Err, never a panic, and no allocation from a declared shape the bytes do not
//! hold; an Ok array holds exactly the bytes its shape declares (checked for `|u1`).
#![no_main]

use std::path::Path;

use dcrobust::data::fuzz_entry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = fuzz_entry::npy(Path::new("fog.npy"), data) {
        if a.descr.ends_with("u1") {
            assert_eq!(a.data.len(), a.shape.iter().product::<usize>());
        }
    }
});
