//! Models: the decoupled operator and the networks built from it (docs/model.md).
//!
//! - `config`: serde configuration (architecture, magnitude, angular activation, radius).
//! - `decoupled`: the decoupled convolution layer.
//! - `layers`: ordinary convolution, BatchNorm, conv blocks.
//! - `network`: CNN-9, ResNet-32 and the 2-D-feature CNN.
//! - [`params`]: named parameters with their weight-decay group.

pub(crate) mod config;
pub(crate) mod decoupled;
pub(crate) mod layers;
pub(crate) mod network;
pub mod params;

pub(crate) use config::{Angular, Magnitude, Radius};
pub use config::{Arch, ModelConfig, OperatorConfig};
pub use network::Network;

#[cfg(test)]
mod tests;
