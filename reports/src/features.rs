//! 2-D penultimate features of a `feat2d` model (the paper's Fig. 1 and 4):
//! `features/<model>.json` of a run.

use serde::{Deserialize, Serialize};

/// The 2-D features of test images under one model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Features2d {
    /// Model name.
    pub model: String,
    /// Class names, indexed by label.
    pub classes: Vec<String>,
    /// First feature of each image.
    pub x: Vec<f32>,
    /// Second feature of each image.
    pub y: Vec<f32>,
    /// True class of each image.
    pub labels: Vec<u32>,
}
