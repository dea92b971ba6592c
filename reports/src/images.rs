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

/// The signed perturbation `adv − clean`, per pixel and channel, magnified around mid-grey and
/// encoded as PNG: 128 is unchanged, lighter is a raised channel, darker a lowered one.
///
/// With `scale = Some(eps)` (an L∞ budget in [0, 1] pixel units) a change of ±`eps` maps to
/// 128 ± 127; with `None` (or `eps <= 0`) the image's own largest change does. Values past the
/// range are clipped, so an attacked image is never all black or all white (that would take
/// every channel of every pixel moved the same way), and an unattacked one is uniform grey.
/// `None` if either image does not decode or their sizes differ.
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

/// `128 + 127·(a − c)/full`, clipped to [0, 255], as [`magnified_perturbation`] describes.
fn magnify(c: &RgbImage, a: &RgbImage, scale: Option<f64>) -> Option<RgbImage> {
    if c.dimensions() != a.dimensions() {
        return None;
    }
    let diffs: Vec<f64> = c
        .as_raw()
        .iter()
        .zip(a.as_raw())
        .map(|(&x, &y)| f64::from(y) - f64::from(x))
        .collect();
    let full = match scale {
        Some(e) if e > 0.0 => e * 255.0,
        _ => diffs.iter().fold(0.0f64, |m, d| m.max(d.abs())),
    };
    let data: Vec<u8> = diffs
        .iter()
        .map(|&d| {
            if full <= 0.0 {
                128
            } else {
                (128.0 + 127.0 * d / full).round().clamp(0.0, 255.0) as u8
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

    /// Oracle: hand arithmetic of 128 + 127·d/full, rounded half away from zero. With eps =
    /// 8/255 (full = 8 levels) the changes +8, −4, 0, +20 map to 255, 64.5 → 65, 128 and 383 →
    /// 255 (clipped); without a scale the largest change (20) is full: +8 → 178.8 → 179, −4 →
    /// 102.6 → 103. No change at all is uniform grey 128.
    #[test]
    fn perturbation_is_signed_around_grey_and_scaled_so_eps_is_full_range() {
        let clean = RgbImage::from_raw(2, 1, vec![100, 100, 100, 50, 50, 50]).unwrap();
        let adv = RgbImage::from_raw(2, 1, vec![108, 96, 100, 70, 50, 50]).unwrap();
        let out = magnified_perturbation(&png(&clean), &png(&adv), Some(8.0 / 255.0)).unwrap();
        let back = image::load_from_memory(&out).unwrap().to_rgb8();
        assert_eq!(back.as_raw(), &vec![255, 65, 128, 255, 128, 128]);
        let same = magnified_perturbation(&png(&clean), &png(&clean), Some(8.0 / 255.0)).unwrap();
        let back = image::load_from_memory(&same).unwrap().to_rgb8();
        assert!(back.as_raw().iter().all(|&v| v == 128));
        let out = magnified_perturbation(&png(&clean), &png(&adv), None).unwrap();
        let back = image::load_from_memory(&out).unwrap().to_rgb8();
        assert_eq!(back.as_raw(), &vec![179, 103, 128, 255, 128, 128]);
        assert!(png_data_uri(&out)
            .unwrap()
            .starts_with("data:image/png;base64,iVBORw0KGgo"));
        assert!(png_data_uri(b"not a png").is_none());
    }
}
