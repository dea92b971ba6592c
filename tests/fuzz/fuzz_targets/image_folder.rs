//! One ImageFolder image (PNG or JPEG bytes), decoded as the ImageFolder loader does.
//! Oracle: Ok or Err, never a panic, and no allocation beyond the decoder limits; an Ok image
//! holds `channels * height * width` pixels.
#![no_main]

use std::path::Path;

use dcrobust::data::fuzz_entry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(img) = fuzz_entry::image(Path::new("train/cat/0.png"), data) {
        assert_eq!(img.pixels.len(), img.channels * img.height * img.width);
        assert!(img.channels == 1 || img.channels == 3);
    }
});
