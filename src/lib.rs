//! # dcrobust
//!
//! Are decoupled convolutional networks (DCNets, Liu et al., CVPR 2018) more robust than
//! ordinary CNNs? This crate is the glue of the `dcrobust` tool: it loads data, builds and
//! trains baseline and decoupled networks, and (through the member crates `dcrobust-attacks`,
//! `dcrobust-corruptions` and `dcrobust-reports`) attacks, corrupts and reports on them.
//!
//! The crate's public API is what the `dcrobust` binary (src/main.rs), the integration tests
//! (tests/*.rs) and the fuzz targets (tests/fuzz) use; everything else is `pub(crate)` (or
//! private to its module), so the compiler reports what nothing uses.
//!
//! Modules:
//! - [`data`]: CIFAR-10/100 binary, MNIST-style IDX and ImageFolder loaders, and the embedded
//!   CIFAR-10 subset used when no data set is given.
//! - `kernels`: dcrobust's CPU kernels (convolution, BatchNorm, max-pooling, the fused
//!   decoupled tail, `acos`) as candle custom operations.
//! - [`external`]: models dcrobust did not train: ONNX graphs and PyTorch state dicts of
//!   RobustBench's CIFAR architectures.
//! - [`models`]: the decoupled operator and the CNN-9, ResNet-32 and 2-D-feature networks.
//! - [`train`]: optimisers, the training loop, checkpoints and convergence curves.
//! - `zoo`: the CNN-9 models dcrobust trained on CIFAR-10 and ships in the binary.
//! - `suite`: the adversarial and corruption suites, their resumable units and shards.
//! - [`bench`]: images/s of training, inference and attack steps, own kernels against candle's.
//! - [`cli`]: the command line, and [`run`], its single entry point.
//! - [`util`]: atomic file writes and seed derivation.

pub mod bench;
pub mod cli;
pub mod data;
pub mod external;
pub(crate) mod kernels;
pub mod models;
pub(crate) mod suite;
pub mod train;
pub mod util;
pub(crate) mod zoo;

pub use cli::run;
