//! Image operations the corruptions are built from, each a port of the library function the
//! reference scripts call (SciPy / scikit-image, OpenCV, Pillow, ImageMagick). Planes are
//! row-major `h x w` slices.
//!
//! - [`filters`]: border handling, Gaussian and box filters, `filter2D`.
//! - [`colour`]: RGB ↔ HSV.
//! - [`resample`]: zoom maps, Pillow's BOX resize, bilinear texture resize.
//! - [`warp`]: bilinear taps, `map_coordinates`, affine warps.
//! - [`imagemagick`]: the motion blur.
//! - [`edges`]: Canny edges, distance transform, histogram equalisation (for spatter).
//! - [`jpeg`]: libjpeg-turbo's JPEG round trip (quantisation, DCTs, chroma resampling).

pub(crate) mod colour;
pub(crate) mod edges;
pub(crate) mod filters;
pub(crate) mod imagemagick;
pub(crate) mod jpeg;
pub(crate) mod resample;
pub(crate) mod warp;
