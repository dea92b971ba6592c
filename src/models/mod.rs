//! Models: the decoupled operator and the networks built from it (docs/model.md).
//!
//! - [`config`]: serde configuration (architecture, magnitude, angular activation, radius).
//! - [`decoupled`]: the decoupled convolution layer.
//! - [`layers`]: ordinary convolution, BatchNorm, conv blocks.
//! - [`network`]: CNN-9, ResNet-32 and the 2-D-feature CNN.
//! - [`params`]: named parameters with their weight-decay group.

pub mod config;
pub mod decoupled;
pub mod layers;
pub mod network;
pub mod params;

pub use config::{Angular, Arch, Magnitude, ModelConfig, OperatorConfig, Radius};
pub use network::Network;
pub use params::Mode;

#[cfg(test)]
mod tests;
