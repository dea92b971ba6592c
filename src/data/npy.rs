//! NumPy `.npy` files: the released CIFAR-10-C layout (`<corruption>.npy`, uint8
//! `N × H × W × C`, and `labels.npy`), read and written without a NumPy dependency.
//!
//! Only C-order arrays of one-byte unsigned or little-endian integer types are read; a
//! declared shape is checked against the file length before anything is allocated.

use anyhow::{bail, Context, Result};
use std::path::Path;

/// A parsed `.npy` array.
#[derive(Debug, Clone, PartialEq)]
pub struct Npy {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// The dtype descriptor (`|u1`, `<i8`, ...).
    pub descr: String,
    /// The raw little-endian data.
    pub data: Vec<u8>,
}

const MAGIC: &[u8] = b"\x93NUMPY";

fn item_size(descr: &str) -> Option<usize> {
    match descr {
        "|u1" | "<u1" | "|i1" | "<i1" | "|b1" => Some(1),
        "<u2" | "<i2" => Some(2),
        "<u4" | "<i4" => Some(4),
        "<u8" | "<i8" => Some(8),
        _ => None,
    }
}

/// The header of a `.npy` file.
struct Header {
    shape: Vec<usize>,
    descr: String,
    /// Offset of the data.
    offset: usize,
    /// Data bytes the shape and dtype declare.
    data_len: usize,
}

/// Parses the header at the start of `bytes` (which need not hold the data).
fn parse_header(bytes: &[u8], name: &str) -> Result<Header> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        bail!("{name} is not a .npy file (no \\x93NUMPY magic)");
    }
    let (hlen, start) = match bytes[6] {
        1 => (
            usize::from(u16::from_le_bytes([bytes[8], bytes[9]])),
            10usize,
        ),
        2 | 3 => {
            if bytes.len() < 12 {
                bail!("{name} is truncated inside its header");
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => bail!("{name}: unsupported .npy version {v}; expected 1, 2 or 3"),
    };
    let offset = start
        .checked_add(hlen)
        .filter(|&e| e <= bytes.len())
        .with_context(|| format!("{name} is truncated inside its header"))?;
    let header = std::str::from_utf8(&bytes[start..offset])
        .with_context(|| format!("{name}: the header is not text"))?;
    let field = |key: &str| -> Result<&str> {
        let k = format!("'{key}':");
        let at = header
            .find(&k)
            .with_context(|| format!("{name}: the header has no '{key}' entry"))?;
        Ok(header[at + k.len()..].trim_start())
    };
    let descr = field("descr")?
        .strip_prefix('\'')
        .and_then(|s| s.split('\'').next())
        .with_context(|| format!("{name}: cannot read the dtype in the header"))?
        .to_string();
    let item = item_size(&descr).with_context(|| {
        format!("{name}: dtype {descr} is not supported; expected an unsigned or little-endian integer type such as |u1 or <i8")
    })?;
    if field("fortran_order")?.starts_with("True") {
        bail!("{name}: Fortran-order arrays are not supported; save it with C order");
    }
    let inner = field("shape")?
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .with_context(|| format!("{name}: cannot read the shape in the header"))?;
    let mut shape = Vec::new();
    for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        shape.push(
            part.parse::<usize>()
                .with_context(|| format!("{name}: bad dimension `{part}` in the shape"))?,
        );
    }
    let data_len = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .and_then(|c| c.checked_mul(item))
        .filter(|&c| c <= isize::MAX as usize)
        .with_context(|| format!("{name}: the shape {shape:?} is too large"))?;
    Ok(Header {
        shape,
        descr,
        offset,
        data_len,
    })
}

/// Parses `.npy` bytes; `name` names the file in errors.
pub(crate) fn parse(bytes: &[u8], name: &str) -> Result<Npy> {
    let h = parse_header(bytes, name)?;
    let have = bytes.len() - h.offset;
    if have < h.data_len {
        bail!(
            "{name} is truncated: its shape {:?} needs {} data bytes, the file has {have}",
            h.shape,
            h.data_len
        );
    }
    Ok(Npy {
        data: bytes[h.offset..h.offset + h.data_len].to_vec(),
        shape: h.shape,
        descr: h.descr,
    })
}

/// Checks a `.npy` file's header against its length without reading the data; returns the
/// shape and dtype.
pub(crate) fn check(path: &Path) -> Result<(Vec<usize>, String)> {
    use std::io::Read;
    let name = path.display().to_string();
    let f = std::fs::File::open(path).with_context(|| format!("opening {name}"))?;
    let len = f
        .metadata()
        .with_context(|| format!("reading {name}"))?
        .len();
    let mut head = Vec::new();
    f.take(65_536)
        .read_to_end(&mut head)
        .with_context(|| format!("reading {name}"))?;
    let h = parse_header(&head, &name)?;
    let have = len.saturating_sub(h.offset as u64);
    if have < h.data_len as u64 {
        bail!(
            "{name} is truncated: its shape {:?} needs {} data bytes, the file has {have}",
            h.shape,
            h.data_len
        );
    }
    Ok((h.shape, h.descr))
}

/// Reads a `.npy` file.
pub(crate) fn read(path: &Path) -> Result<Npy> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&bytes, &path.display().to_string())
}

impl Npy {
    /// The values as `u32` (labels); refuses negative or too-large values.
    pub(crate) fn to_u32(&self, name: &str) -> Result<Vec<u32>> {
        let item = item_size(&self.descr).unwrap_or(1);
        let signed = self.descr.contains('i');
        self.data
            .chunks(item)
            .enumerate()
            .map(|(i, c)| {
                let mut b = [0u8; 8];
                b[..item].copy_from_slice(c);
                let v = if signed {
                    // Sign-extend from `item` bytes.
                    let shift = 64 - 8 * item as u32;
                    (i64::from_le_bytes(b) << shift) >> shift
                } else {
                    i64::try_from(u64::from_le_bytes(b)).unwrap_or(-1)
                };
                u32::try_from(v).map_err(|_| {
                    anyhow::anyhow!("{name}: value {v} at position {i} is not a valid label")
                })
            })
            .collect()
    }
}

/// `.npy` bytes (version 1.0) of a C-order array with dtype `descr`.
pub(crate) fn encode(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_s = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_s}, }}");
    // Pad with spaces so that magic + header ends on a 64-byte boundary, then a newline.
    let total = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: the bytes NumPy 2 writes for `np.save(f, np.arange(6, dtype=np.uint8).reshape(1,2,3))`
    /// start with this 128-byte-aligned v1.0 header (`python3 -c "import numpy as np, io;
    /// b = io.BytesIO(); np.save(b, np.arange(6, dtype=np.uint8).reshape(1,2,3)); print(b.getvalue())"`),
    /// and our encoder's output parses back to the same array.
    #[test]
    fn round_trip_and_numpy_header() {
        let bytes = encode("|u1", &[1, 2, 3], &[0, 1, 2, 3, 4, 5]);
        assert_eq!(
            (MAGIC.len() + 4 + usize::from(u16::from_le_bytes([bytes[8], bytes[9]]))) % 64,
            0
        );
        let header = std::str::from_utf8(&bytes[10..bytes.len() - 6]).unwrap();
        assert!(
            header.starts_with("{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 3), }")
        );
        let a = parse(&bytes, "x.npy").unwrap();
        assert_eq!(a.shape, vec![1, 2, 3]);
        assert_eq!(a.data, vec![0, 1, 2, 3, 4, 5]);
        let l = encode(
            "<i8",
            &[2],
            &[
                7, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255,
            ],
        );
        let p = parse(&l, "labels.npy").unwrap();
        assert_eq!(p.shape, vec![2]);
        let e = p.to_u32("labels.npy").unwrap_err().to_string();
        assert!(e.contains("value -1 at position 1"), "{e}");
    }

    /// Oracle: the file-length check — damaged files are refused with the file named, and a
    /// huge declared shape is refused before allocating.
    #[test]
    fn damaged_files_are_refused() {
        let good = encode("|u1", &[2, 2], &[1, 2, 3, 4]);
        let e = parse(&good[..good.len() - 1], "a.npy")
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.npy is truncated"), "{e}");
        assert!(parse(b"PK\x03\x04 not npy", "b.npy")
            .unwrap_err()
            .to_string()
            .contains("not a .npy"));
        let huge = encode("|u1", &[usize::MAX / 2, 4], &[]);
        assert!(parse(&huge, "c.npy")
            .unwrap_err()
            .to_string()
            .contains("too large"));
        let float = encode("<f4", &[1], &[0, 0, 0, 0]);
        assert!(parse(&float, "d.npy")
            .unwrap_err()
            .to_string()
            .contains("<f4 is not supported"));
        let mut fortran = encode("|u1", &[1], &[0]);
        let at = fortran.windows(5).position(|w| w == b"False").unwrap();
        fortran[at..at + 5].copy_from_slice(b"True ");
        assert!(parse(&fortran, "e.npy")
            .unwrap_err()
            .to_string()
            .contains("Fortran"));
    }
}
