//! The CIFAR-10-C layout on disk (Hendrycks & Dietterich 2019; docs/corruptions.md): one uint8
//! `.npy` file per corruption, `<corruption>.npy` of shape `(S·N) × H × W × C` holding one block of
//! the `N` test images per severity, `labels.npy` (uint8, `S·N`), and, when the blocks are not all
//! five severities, [`SEVERITIES_FILE`] listing them.
//!
//! [`write_corrupted_set`] writes it (`dcrobust corrupt`); [`check_released`] checks a directory
//! before a run and `read_labels` and `read_released` read it into the NCHW layout of a
//! [`Dataset`] (`dcrobust run --suite corruption --cifar10c DIR`).

use super::{npy, Dataset};
use crate::util::write_atomic;
use anyhow::{bail, Context, Result};
use dcrobust_corruptions::{
    corrupt_images, Corruption, CorruptionSpec, ImageShape, Severity, Table,
};
use std::path::Path;

/// The released files of one corruption, in our NCHW layout, severity-major, with their labels.
pub(crate) struct Released {
    pub(crate) images: Vec<u8>,
    per_severity: usize,
    /// The severity of each block, in block order ([`released_severities`]).
    severities: Vec<Severity>,
}

impl Released {
    /// Index of the first image of severity `sev`'s block (checked to exist before the run).
    pub(crate) fn first(&self, sev: Severity) -> Result<usize> {
        let block = self
            .severities
            .iter()
            .position(|&s| s == sev)
            .ok_or_else(|| anyhow::anyhow!("the released files hold no severity {sev} block"))?;
        Ok(block * self.per_severity)
    }
}

/// The released file of corruption `c` in `dir`, whose blocks hold `severities`
/// ([`released_severities`]).
pub(crate) fn read_released(
    dir: &Path,
    c: Corruption,
    severities: &[Severity],
    data: &Dataset,
    labels: &[u32],
) -> Result<Released> {
    let blocks = severities.len();
    let path = dir.join(format!("{}.npy", c.name()));
    let a = npy::read(&path)?;
    if a.descr != "|u1" && a.descr != "<u1" {
        bail!("{}: dtype {} is not uint8", path.display(), a.descr);
    }
    let (n, h, w, ch) = match a.shape[..] {
        [n, h, w, ch] => (n, h, w, ch),
        [n, h, w] => (n, h, w, 1),
        _ => bail!(
            "{}: shape {:?} is not N x H x W x C",
            path.display(),
            a.shape
        ),
    };
    if (ch, h, w) != (data.channels, data.height, data.width) {
        bail!(
            "{}: images are {h}x{w}x{ch}, the data set's are {}x{}x{}",
            path.display(),
            data.height,
            data.width,
            data.channels
        );
    }
    if n != labels.len() || n % blocks != 0 {
        bail!(
            "{}: {n} images, but labels.npy has {} labels; expected the same count, {blocks} severity blocks",
            path.display(),
            labels.len()
        );
    }
    // HWC → CHW.
    let mut images = vec![0u8; a.data.len()];
    let per = h * w * ch;
    for i in 0..n {
        let src = &a.data[i * per..(i + 1) * per];
        let dst = &mut images[i * per..(i + 1) * per];
        for y in 0..h {
            for x in 0..w {
                for k in 0..ch {
                    dst[(k * h + y) * w + x] = src[(y * w + x) * ch + k];
                }
            }
        }
    }
    Ok(Released {
        images,
        per_severity: n / blocks,
        severities: severities.to_vec(),
    })
}

/// Checks the released files a run will read (headers and lengths only), before any training:
/// `labels.npy` and one uint8 `N x H x W x C` file per corruption, N = the label count, holding
/// a block for each of `severities` ([`released_severities`]).
pub(crate) fn check_released(
    dir: &Path,
    corruptions: &[Corruption],
    severities: &[Severity],
    data: &Dataset,
) -> Result<()> {
    let held = released_severities(dir)?;
    if let Some(s) = severities.iter().find(|s| !held.contains(s)) {
        let list: Vec<String> = held.iter().map(|s| s.to_string()).collect();
        bail!(
            "{}: the files hold severities {} only (see {SEVERITIES_FILE}); severity {s} was asked for",
            dir.display(),
            list.join(", ")
        );
    }
    let (lshape, _) = npy::check(&dir.join("labels.npy"))?;
    let n = lshape.iter().product::<usize>();
    if n == 0 || n % held.len() != 0 {
        bail!(
            "{}: {n} labels; expected {} equal severity blocks",
            dir.join("labels.npy").display(),
            held.len()
        );
    }
    for c in corruptions {
        let path = dir.join(format!("{c}.npy"));
        let (shape, descr) = npy::check(&path)?;
        let want4 = [n, data.height, data.width, data.channels];
        let ok = descr.ends_with("u1")
            && (shape == want4 || (data.channels == 1 && shape == want4[..3]));
        if !ok {
            bail!(
                "{}: {descr} array of shape {shape:?}; expected uint8 of shape {want4:?} to match labels.npy and the data set",
                path.display()
            );
        }
    }
    Ok(())
}

/// The labels of the released files in `dir` (`labels.npy`) and the severities of their blocks,
/// in block order ([`released_severities`]); an error unless the labels split into that many
/// equal blocks.
pub(crate) fn read_labels(dir: &Path) -> Result<(Vec<u32>, Vec<Severity>)> {
    let l = npy::read(&dir.join("labels.npy"))?
        .to_u32(&dir.join("labels.npy").display().to_string())?;
    let held = released_severities(dir)?;
    if l.len() % held.len() != 0 || l.is_empty() {
        bail!(
            "{}: {} labels; expected {} equal severity blocks",
            dir.join("labels.npy").display(),
            l.len(),
            held.len()
        );
    }
    Ok((l, held))
}

/// What `dcrobust corrupt` writes.
#[derive(Clone, Debug)]
pub(crate) struct CorruptedSet {
    /// Corruptions, one `<name>.npy` each.
    pub(crate) corruptions: Vec<Corruption>,
    /// Severities, ascending, each once: one block of the test split per severity, in this
    /// order. Anything but all five is recorded in `severities.json`.
    pub(crate) severities: Vec<Severity>,
    /// Severity table.
    pub(crate) table: Table,
    /// Run seed of the random corruptions.
    pub(crate) seed: u64,
    /// Also write `clean.npy`: the uncorrupted test images, one block, same order and layout.
    pub(crate) clean: bool,
}

/// Name of the file that lists the severity blocks of a directory written with a subset of the
/// five severities (a JSON array of numbers, ascending).
const SEVERITIES_FILE: &str = "severities.json";

/// The severities whose blocks the released files in `dir` hold, in block order: the contents of
/// [`SEVERITIES_FILE`] when `dir` has one (written by `dcrobust corrupt --severities`), else
/// all five, as in the released CIFAR-10-C.
pub(crate) fn released_severities(dir: &Path) -> Result<Vec<Severity>> {
    let path = dir.join(SEVERITIES_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Severity::ALL.to_vec()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let values: Vec<i64> = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not a JSON array of severities (numbers 1 to 5)",
            path.display()
        )
    })?;
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        let s = Severity::try_from(v).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if out.last().is_some_and(|&last| last >= s) {
            bail!(
                "{}: severities must be ascending, each once; found {v} after {}",
                path.display(),
                out.last().copied().unwrap_or(s)
            );
        }
        out.push(s);
    }
    if out.is_empty() {
        bail!(
            "{}: no severities listed; expected 1 to 5 of them",
            path.display()
        );
    }
    Ok(out)
}

/// NCHW u8 images `chw` (each `c × h × w`) appended to `hwc` in NHWC order.
fn push_hwc(hwc: &mut Vec<u8>, chw: &[u8], (c, h, w): (usize, usize, usize)) {
    for img in chw.chunks(c * h * w) {
        for y in 0..h {
            for x in 0..w {
                for k in 0..c {
                    hwc.push(img[(k * h + y) * w + x]);
                }
            }
        }
    }
}

/// `dcrobust corrupt`: writes the corrupted test split in the released CIFAR-10-C layout:
/// `<corruption>.npy` (uint8, `(S·N) × H × W × C`, one block of the `N` test images per
/// severity), `labels.npy` (uint8, `S·N`), with `S` the chosen severities; plus
/// [`SEVERITIES_FILE`] when `S` is not all five, and `clean.npy` (`N × H × W × C`) if asked.
pub(crate) fn write_corrupted_set(
    data: &Dataset,
    set: &CorruptedSet,
    out: &Path,
    progress: bool,
) -> Result<()> {
    if set.severities.is_empty() {
        bail!("--severities is empty; name at least one of 1 to 5");
    }
    let labels_max = data.test.labels.iter().copied().max().unwrap_or(0);
    if labels_max > u32::from(u8::MAX) {
        bail!(
            "label {labels_max} does not fit labels.npy's uint8 (the released layout); at most 256 classes"
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let (c, h, w) = (data.channels, data.height, data.width);
    let shape = ImageShape {
        channels: c,
        height: h,
        width: w,
    };
    let n = data.test.len();
    let len = data.image_len();
    let blocks = set.severities.len();
    let pb = crate::util::progress_bar(
        progress,
        (set.corruptions.len() * blocks) as u64,
        "corrupt",
        "cells",
    );
    if set.clean {
        let mut hwc = Vec::with_capacity(n * len);
        push_hwc(&mut hwc, &data.test.images, (c, h, w));
        let path = out.join("clean.npy");
        write_atomic(&path, &npy::encode("|u1", &[n, h, w, c], &hwc))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    for &corr in &set.corruptions {
        let mut hwc = Vec::with_capacity(blocks * n * len);
        for &sev in &set.severities {
            pb.set_message(format!("{} severity {sev}", corr.name()));
            let spec = CorruptionSpec {
                corruption: corr,
                severity: sev,
                table: set.table,
            };
            let chw = corrupt_images(&data.test.images, n, shape, spec, set.seed, 0)?;
            push_hwc(&mut hwc, &chw, (c, h, w));
            pb.inc(1);
        }
        let path = out.join(format!("{}.npy", corr.name()));
        write_atomic(&path, &npy::encode("|u1", &[blocks * n, h, w, c], &hwc))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    // uint8 labels, as the released CIFAR-10-C and make_cifar_c.py store them.
    let labels: Vec<u8> = (0..blocks)
        .flat_map(|_| data.test.labels.iter().map(|&l| l as u8))
        .collect();
    let path = out.join("labels.npy");
    write_atomic(&path, &npy::encode("|u1", &[blocks * n], &labels))
        .with_context(|| format!("writing {}", path.display()))?;
    let sev_path = out.join(SEVERITIES_FILE);
    if set.severities != Severity::ALL {
        let list: Vec<u8> = set.severities.iter().map(|s| s.get()).collect();
        write_atomic(&sev_path, serde_json::to_string(&list)?.as_bytes())
            .with_context(|| format!("writing {}", sev_path.display()))?;
    } else if sev_path.exists() {
        // A complete set: a list left by an earlier subset would misdescribe the new files.
        std::fs::remove_file(&sev_path)
            .with_context(|| format!("removing {}", sev_path.display()))?;
    }
    pb.finish_and_clear();
    Ok(())
}
