//! Training augmentation (docs/model.md#training-recipe): pad 4 pixels on each side by mirroring (TensorFlow's
//! `SYMMETRIC` mode, which repeats the edge pixel), take a random crop of the original size, and
//! flip horizontally with probability ½. Works on `u8` CHW images, no padded copy is made.

use rand::Rng;

/// Padding on each side before the random crop.
const PAD: usize = 4;

/// Index into `0..n` of position `i - PAD` after symmetric padding: `-1 → 0`, `-2 → 1`, …,
/// `n → n-1`, `n+1 → n-2`.
fn reflect(i: usize, n: usize) -> usize {
    let s = i as isize - PAD as isize;
    let n = n as isize;
    let r = if s < 0 {
        -s - 1
    } else if s >= n {
        2 * n - s - 1
    } else {
        s
    };
    r.clamp(0, n - 1) as usize
}

/// Writes one augmented image to `out` (length `c·h·w`, values in [0, 1]) from `img` (`u8`, CHW).
/// Draws the crop offset (two numbers in `0..=2·PAD`) and the flip from `rng`, in that order.
pub(crate) fn augment_into(
    img: &[u8],
    c: usize,
    h: usize,
    w: usize,
    rng: &mut impl Rng,
    out: &mut [f32],
) {
    let oy = rng.random_range(0..=2 * PAD);
    let ox = rng.random_range(0..=2 * PAD);
    let flip = rng.random_bool(0.5);
    crop_into(img, c, h, w, (oy, ox), flip, out);
}

/// The crop at offset `(oy, ox)` (each in `0..=2·PAD`) of the padded image, flipped if asked.
fn crop_into(
    img: &[u8],
    c: usize,
    h: usize,
    w: usize,
    (oy, ox): (usize, usize),
    flip: bool,
    out: &mut [f32],
) {
    for ch in 0..c {
        for y in 0..h {
            let sy = reflect(y + oy, h);
            let src = &img[(ch * h + sy) * w..(ch * h + sy + 1) * w];
            let dst = &mut out[(ch * h + y) * w..(ch * h + y + 1) * w];
            for (x, d) in dst.iter_mut().enumerate() {
                let xc = if flip { w - 1 - x } else { x };
                *d = f32::from(src[reflect(xc + ox, w)]) / 255.0;
            }
        }
    }
}

/// Converts one `u8` image to `[0, 1]` floats without augmentation.
pub(crate) fn to_unit(img: &[u8], out: &mut [f32]) {
    for (d, &s) in out.iter_mut().zip(img) {
        *d = f32::from(s) / 255.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: numpy.pad([0,1,2,3,4], 4, mode="symmetric") = [3,2,1,0,0,1,2,3,4,4,3,2,1].
    #[test]
    fn reflect_is_tensorflow_symmetric() {
        let got: Vec<usize> = (0..13).map(|i| reflect(i, 5)).collect();
        assert_eq!(got, vec![3, 2, 1, 0, 0, 1, 2, 3, 4, 4, 3, 2, 1]);
    }

    /// Oracle: a crop at offset (PAD, PAD) without flip is the identity; the crop at (0, 0)
    /// starts at padded row 0 = source row 3 and columns 3,2,1,0,0; flipping reverses each row.
    #[test]
    fn crop_offsets_follow_the_padded_image() {
        let (h, w) = (5, 5);
        let img: Vec<u8> = (0..25).collect();
        let mut out = vec![0f32; 25];
        let px = |o: &[f32]| {
            o.iter()
                .map(|v| (v * 255.0).round() as u8)
                .collect::<Vec<u8>>()
        };
        crop_into(&img, 1, h, w, (PAD, PAD), false, &mut out);
        assert_eq!(px(&out), img);
        crop_into(&img, 1, h, w, (0, 0), false, &mut out);
        assert_eq!(&px(&out)[..5], &[18, 17, 16, 15, 15]);
        crop_into(&img, 1, h, w, (PAD, PAD), true, &mut out);
        assert_eq!(&px(&out)[..5], &[4, 3, 2, 1, 0]);
    }
}
