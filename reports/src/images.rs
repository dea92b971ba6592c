//! PNG `data:` URIs and magnified perturbation images.

use base64::Engine;
use image::{ImageFormat, RgbImage};

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// A `data:image/png;base64,…` URI for PNG bytes; `None` if the bytes are not a PNG.
pub(crate) fn png_data_uri(bytes: &[u8]) -> Option<String> {
    if !bytes.starts_with(PNG_MAGIC) {
        return None;
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    Some(format!("data:image/png;base64,{b64}"))
}

/// The perturbation `|adv − clean|`, per pixel and channel, magnified and encoded as PNG.
///
/// With `scale = Some(eps)` (an L∞ budget in [0, 1] pixel units) a difference of `eps` maps to
/// full intensity 255; with `None` (or `eps <= 0`) the image's own largest difference does. Values
/// past full range are clipped. `None` if either image does not decode or their sizes differ.
pub(crate) fn magnified_perturbation(
    clean: &[u8],
    adv: &[u8],
    scale: Option<f64>,
) -> Option<Vec<u8>> {
    let c = image::load_from_memory_with_format(clean, ImageFormat::Png)
        .ok()?
        .to_rgb8();
    let a = image::load_from_memory_with_format(adv, ImageFormat::Png)
        .ok()?
        .to_rgb8();
    let diff = magnify(&c, &a, scale)?;
    let mut out = std::io::Cursor::new(Vec::new());
    diff.write_to(&mut out, ImageFormat::Png).ok()?;
    Some(out.into_inner())
}

/// `|a − c|` scaled as [`magnified_perturbation`] describes.
fn magnify(c: &RgbImage, a: &RgbImage, scale: Option<f64>) -> Option<RgbImage> {
    if c.dimensions() != a.dimensions() {
        return None;
    }
    let diffs: Vec<u8> = c
        .as_raw()
        .iter()
        .zip(a.as_raw())
        .map(|(&x, &y)| x.abs_diff(y))
        .collect();
    let full = match scale {
        Some(e) if e > 0.0 => e * 255.0,
        _ => f64::from(diffs.iter().copied().max().unwrap_or(0)),
    };
    let data: Vec<u8> = diffs
        .iter()
        .map(|&d| {
            if full <= 0.0 {
                0
            } else {
                (f64::from(d) / full * 255.0).round().min(255.0) as u8
            }
        })
        .collect();
    RgbImage::from_raw(c.width(), c.height(), data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(img: &RgbImage) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    /// Oracle: hand arithmetic. With eps = 8/255, a difference of 8 levels maps to 255, 4 levels
    /// to 127.5 → 128, 0 to 0, and 20 levels clips at 255; without a scale the largest difference
    /// (20) maps to 255 and 4 to 51.
    #[test]
    fn perturbation_is_scaled_so_eps_is_full_range() {
        let clean = RgbImage::from_raw(2, 1, vec![100, 100, 100, 50, 50, 50]).unwrap();
        let adv = RgbImage::from_raw(2, 1, vec![108, 96, 100, 70, 50, 50]).unwrap();
        let out = magnified_perturbation(&png(&clean), &png(&adv), Some(8.0 / 255.0)).unwrap();
        let back = image::load_from_memory(&out).unwrap().to_rgb8();
        assert_eq!(back.as_raw(), &vec![255, 128, 0, 255, 0, 0]);
        let out = magnified_perturbation(&png(&clean), &png(&adv), None).unwrap();
        let back = image::load_from_memory(&out).unwrap().to_rgb8();
        assert_eq!(back.as_raw(), &vec![102, 51, 0, 255, 0, 0]);
        assert!(png_data_uri(&out)
            .unwrap()
            .starts_with("data:image/png;base64,iVBORw0KGgo"));
        assert!(png_data_uri(b"not a png").is_none());
    }
}
