//! # dcrobust-corruptions
//!
//! CIFAR-10-C style image corruptions (noise, blur, weather, digital), with the published
//! severity tables, for measuring how a classifier degrades off its training distribution.
//!
//! Contract:
//! - No tensor library: images are plain `f32` buffers in `[0, 1]`, any size, grey or RGB.
//! - Severities are 1 to 5 ([`Severity`] refuses anything else), as in CIFAR-10-C.
//! - Randomness comes only from a caller-provided seed, so results do not depend on threads.
//!
//! Files: `lib.rs` (this overview, [`Category`]), `severity.rs` ([`Severity`]). The corruptions
//! themselves are added by the corruption-suite work.
#![warn(missing_docs)]

mod severity;

pub use severity::{Severity, SeverityError};

/// The four groups CIFAR-10-C reports results by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// Gaussian, shot, impulse and speckle noise.
    Noise,
    /// Defocus, glass, motion, zoom and Gaussian blur.
    Blur,
    /// Snow, frost, fog, brightness and spatter.
    Weather,
    /// Contrast, elastic transform, pixelate, JPEG and saturate.
    Digital,
}

impl Category {
    /// Lower-case name used in results files.
    pub fn name(self) -> &'static str {
        match self {
            Category::Noise => "noise",
            Category::Blur => "blur",
            Category::Weather => "weather",
            Category::Digital => "digital",
        }
    }
}
