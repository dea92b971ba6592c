//! Models: the decoupled operator and the networks built from it (paper.md §1–2).
//!
//! - [`config`]: serde configuration (architecture, magnitude, angular activation, radius).
//! - [`decoupled`]: the decoupled convolution layer.
//! - [`layers`]: ordinary convolution, BatchNorm, conv blocks.
//! - [`network`]: CNN-9, ResNet-32 and the 2-D-feature CNN.
//! - [`params`]: named parameters with their weight-decay group.
//! - [`ops`]: differentiable `acos`.
//! - [`bn`]: BatchNorm training kernel.
//! - [`conv`]: 2-D convolution with dcrobust's CPU kernels.

pub mod bn;
pub mod config;
pub mod conv;
pub mod decoupled;
pub mod layers;
pub mod network;
pub mod ops;
pub mod params;

pub use config::{Angular, Arch, Magnitude, ModelConfig, OperatorConfig, Radius};
pub use layers::Mode;
pub use network::Network;

#[cfg(test)]
mod tests;
