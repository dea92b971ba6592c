//! What spatter derives from its mud layer, on 8-bit planes: OpenCV's Canny edge detector,
//! its 5x5 chamfer distance transform, and `equalizeHist`.

use super::filters::{border_index, Border};

/// OpenCV `Canny(src, low, high)` with `apertureSize = 3` and the L1 gradient: 3x3 Sobel
/// (`BORDER_REPLICATE`), magnitude `|dx| + |dy|`, non-maximum suppression over four sectors
/// (fixed-point tan 22.5° test as OpenCV), double threshold and 8-connected hysteresis.
/// Returns 255 on edges, 0 elsewhere. OpenCV's in-row tie-breaking (`prev_flag`) only decides
/// which of two adjacent strong pixels seeds the hysteresis, so the edge set is the same.
pub(crate) fn canny(plane: &[u8], h: usize, w: usize, low: i32, high: i32) -> Vec<u8> {
    let at = |y: isize, x: isize| -> i32 {
        let sy = border_index(y, h, Border::Nearest);
        let sx = border_index(x, w, Border::Nearest);
        i32::from(plane[sy * w + sx])
    };
    let mut dx = vec![0i32; h * w];
    let mut dy = vec![0i32; h * w];
    let mut mag = vec![0i32; (h + 2) * (w + 2)];
    let mw = w + 2;
    for y in 0..h as isize {
        for x in 0..w as isize {
            let gx = (at(y - 1, x + 1) + 2 * at(y, x + 1) + at(y + 1, x + 1))
                - (at(y - 1, x - 1) + 2 * at(y, x - 1) + at(y + 1, x - 1));
            let gy = (at(y + 1, x - 1) + 2 * at(y + 1, x) + at(y + 1, x + 1))
                - (at(y - 1, x - 1) + 2 * at(y - 1, x) + at(y - 1, x + 1));
            let i = y as usize * w + x as usize;
            dx[i] = gx;
            dy[i] = gy;
            mag[(y as usize + 1) * mw + x as usize + 1] = gx.abs() + gy.abs();
        }
    }
    const SHIFT: i32 = 15;
    const TG22: i64 = 13573; // 0.4142135623730950488 * (1 << 15), rounded

    // 0 = candidate, 1 = not an edge, 2 = strong edge.
    let mut map = vec![1u8; h * w];
    let mut stack = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let mi = (y + 1) * mw + x + 1;
            let m = mag[mi];
            if m <= low {
                continue;
            }
            let xs = dx[i];
            let ys = dy[i];
            let ax = i64::from(xs.abs());
            let ay = i64::from(ys.abs()) << SHIFT;
            let tg22x = ax * TG22;
            let keep = if ay < tg22x {
                m > mag[mi - 1] && m >= mag[mi + 1]
            } else {
                let tg67x = tg22x + (ax << (SHIFT + 1));
                if ay > tg67x {
                    m > mag[mi - mw] && m >= mag[mi + mw]
                } else {
                    let s: isize = if (xs ^ ys) < 0 { -1 } else { 1 };
                    let p = (mi as isize - mw as isize - s) as usize;
                    let n = (mi as isize + mw as isize + s) as usize;
                    m > mag[p] && m > mag[n]
                }
            };
            if keep {
                if m > high {
                    map[i] = 2;
                    stack.push(i);
                } else {
                    map[i] = 0;
                }
            }
        }
    }
    while let Some(i) = stack.pop() {
        let (y, x) = ((i / w) as isize, (i % w) as isize);
        for dy in -1..=1 {
            for dx in -1..=1 {
                let (ny, nx) = (y + dy, x + dx);
                if ny < 0 || nx < 0 || ny >= h as isize || nx >= w as isize {
                    continue;
                }
                let j = ny as usize * w + nx as usize;
                if map[j] == 0 {
                    map[j] = 2;
                    stack.push(j);
                }
            }
        }
    }
    map.into_iter()
        .map(|v| if v == 2 { 255 } else { 0 })
        .collect()
}

/// OpenCV `distanceTransform(src, DIST_L2, 5)`: the two-pass 5x5 chamfer distance
/// (weights a = 1, b = 1.4, c = 2.1969) to the nearest zero pixel; pixels outside the image
/// count as far away. With no zero pixel every distance is large (OpenCV's initial value).
pub(crate) fn distance_transform_l2_5(plane: &[u8], h: usize, w: usize) -> Vec<f32> {
    const A: f32 = 1.0;
    const B: f32 = 1.4;
    const C: f32 = 2.1969;
    const BIG: f32 = 8192.0 * 16.0;
    let mut d: Vec<f32> = plane
        .iter()
        .map(|&v| if v == 0 { 0.0 } else { BIG })
        .collect();
    let fwd: [(isize, isize, f32); 8] = [
        (-2, -1, C),
        (-2, 1, C),
        (-1, -2, C),
        (-1, -1, B),
        (-1, 0, A),
        (-1, 1, B),
        (-1, 2, C),
        (0, -1, A),
    ];
    let (hi, wi) = (h as isize, w as isize);
    let relax = |d: &mut Vec<f32>, y: isize, x: isize, dir: isize| {
        let i = (y * wi + x) as usize;
        let mut best = d[i];
        for &(oy, ox, c) in &fwd {
            let (ny, nx) = (y + dir * oy, x + dir * ox);
            if ny >= 0 && nx >= 0 && ny < hi && nx < wi {
                let v = d[(ny * wi + nx) as usize] + c;
                if v < best {
                    best = v;
                }
            }
        }
        d[i] = best;
    };
    for y in 0..hi {
        for x in 0..wi {
            relax(&mut d, y, x, 1);
        }
    }
    for y in (0..hi).rev() {
        for x in (0..wi).rev() {
            relax(&mut d, y, x, -1);
        }
    }
    d
}

/// OpenCV `equalizeHist` on an 8-bit plane.
pub(crate) fn equalize_hist(plane: &[u8]) -> Vec<u8> {
    let mut hist = [0usize; 256];
    for &v in plane {
        hist[v as usize] += 1;
    }
    let total = plane.len();
    let mut i = 0;
    while i < 255 && hist[i] == 0 {
        i += 1;
    }
    if hist[i] == total {
        return vec![i as u8; total];
    }
    let scale = 255.0f32 / (total - hist[i]) as f32;
    let mut lut = [0u8; 256];
    let mut sum = 0usize;
    lut[i] = 0;
    for j in i + 1..256 {
        sum += hist[j];
        lut[j] = ((sum as f32) * scale).round_ties_even().clamp(0.0, 255.0) as u8;
    }
    plane.iter().map(|&v| lut[v as usize]).collect()
}
