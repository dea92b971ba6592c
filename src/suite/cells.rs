//! Units of evaluation work, recorded one file each, so that a killed run resumes where it
//! stopped and a run split with `--shard K/N` can be merged.
//!
//! A suite enumerates its units (one attack at one ε on one model, one corruption at one
//! severity on every model, ...) in a fixed order. Each finished unit is written atomically to
//! `<out>/cells/<id>.json`; a rerun loads the units found there instead of computing them again.
//! Every unit is a pure function of the configuration and the seed, so the results assembled from
//! the files equal those of an uninterrupted run, whatever the stops and the shards.
//!
//! A unit that works batch by batch (an attack cell: AutoAttack on 1,000 images takes most of an
//! hour on two cores) may also record each finished batch in `<out>/cells/batches/<id>/`, so that
//! a killed unit resumes from its last finished batch; the folder is removed when the unit is
//! finished.

use crate::util::write_json_atomic;
use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Which part of the units one process evaluates: unit `i` (counted from 0 in the suite's order)
/// belongs to shard `(i mod count) + 1`, so each shard gets every `count`-th unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Shard {
    /// This shard, counted from 1.
    pub(crate) index: usize,
    /// Number of shards.
    pub(crate) count: usize,
}

impl Shard {
    /// Parses `K/N` with `1 ≤ K ≤ N`.
    pub(crate) fn parse(s: &str) -> std::result::Result<Shard, String> {
        let bad = || format!("invalid shard `{s}`; expected K/N with 1 <= K <= N, e.g. 2/8");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether unit `unit` (its place in the suite's order) belongs to this shard.
    pub(crate) fn owns(&self, unit: usize) -> bool {
        unit % self.count == self.index - 1
    }
}

/// Whether unit `unit` belongs to the process: every unit without a shard.
pub(crate) fn owned(shard: Option<Shard>, unit: usize) -> bool {
    shard.is_none_or(|s| s.owns(unit))
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The folder, inside `cells/`, of the batches of unfinished units.
const BATCHES: &str = "batches";

/// The folder of unit files of one run directory.
pub(crate) struct CellStore {
    dir: PathBuf,
}

impl CellStore {
    /// The store of run directory `out` (`<out>/cells`), created if missing.
    pub(crate) fn open(out: &Path) -> Result<CellStore> {
        let dir = out.join("cells");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(CellStore { dir })
    }

    /// The store of run directory `out`, which must exist (for merging).
    pub(crate) fn existing(out: &Path) -> Result<CellStore> {
        let dir = out.join("cells");
        if !dir.is_dir() {
            bail!(
                "{} has no cells/ folder: not the output of `dcrobust run`",
                out.display()
            );
        }
        Ok(CellStore { dir })
    }

    /// The file of unit `id`.
    pub(crate) fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Unit `id` if it was finished, else `None` (an unreadable file: see [`read_unit`]).
    pub(crate) fn load<T: DeserializeOwned>(&self, id: &str) -> Option<T> {
        read_unit(&self.path(id))
    }

    /// Records unit `id` as finished.
    pub(crate) fn save<T: Serialize>(&self, id: &str, value: &T) -> Result<()> {
        let path = self.path(id);
        write_json_atomic(&path, value).with_context(|| format!("writing {}", path.display()))
    }

    /// Records unit `id` as finished: [`CellStore::save`], then removes its recorded batches,
    /// then the `cell` fault point.
    pub(crate) fn finish<T: Serialize>(&self, id: &str, value: &T) -> Result<()> {
        self.save(id, value)?;
        let batches = self.dir.join(BATCHES);
        let dir = batches.join(id);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
            // Fails, harmlessly, while another unit's batches are still there.
            let _ = std::fs::remove_dir(&batches);
        }
        crate::util::fault_point("cell");
        Ok(())
    }

    /// The file of the batch of unit `id` that starts at item `first`.
    fn batch_path(&self, id: &str, first: usize) -> PathBuf {
        self.dir
            .join(BATCHES)
            .join(id)
            .join(format!("{first}.json"))
    }

    /// Records a finished batch of unit `id`, the one starting at item `first`, until the unit
    /// is finished ([`CellStore::finish`] removes it).
    pub(crate) fn save_batch<T: Serialize>(&self, id: &str, first: usize, value: &T) -> Result<()> {
        let path = self.batch_path(id, first);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        write_json_atomic(&path, value).with_context(|| format!("writing {}", path.display()))
    }

    /// The recorded batch of unit `id` that starts at item `first`, if one was recorded; an
    /// unreadable file is reported and the batch computed again, as for [`CellStore::load`].
    pub(crate) fn load_batch<T: DeserializeOwned>(&self, id: &str, first: usize) -> Option<T> {
        read_unit(&self.batch_path(id, first))
    }

    /// Copies every unit file of `other` into this store (for merging shards).
    pub(crate) fn copy_from(&self, other: &CellStore) -> Result<usize> {
        let mut n = 0;
        let entries = std::fs::read_dir(&other.dir)
            .with_context(|| format!("reading {}", other.dir.display()))?;
        for e in entries {
            let e = e.with_context(|| format!("reading {}", other.dir.display()))?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            let bytes = std::fs::read(e.path())
                .with_context(|| format!("reading {}", e.path().display()))?;
            let dest = self.dir.join(&*name);
            crate::util::write_atomic(&dest, &bytes)
                .with_context(|| format!("writing {}", dest.display()))?;
            n += 1;
        }
        Ok(n)
    }
}

/// The unit or batch file at `path` if it exists and reads; an unreadable one (the files are
/// written atomically, so damaged from outside) is reported and `None` returned, so that it is
/// computed again.
fn read_unit<T: DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(v) => Some(v),
        Err(e) => {
            eprintln!(
                "warning: {} is unreadable ({e}); computing it again",
                path.display()
            );
            None
        }
    }
}

/// A file-name-safe id from parts: letters, digits, `.` and `-` kept, anything else `_`.
pub(crate) fn unit_id(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| {
            p.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("--")
}

pub(crate) use dcrobust_reports::RunInfo;

/// The description of a run evaluating `images` test images of `data`.
pub(crate) fn run_info(
    data: &crate::data::Dataset,
    images: usize,
    seed: u64,
    device: &str,
    threads: usize,
    train_seconds: f64,
    origins: Vec<dcrobust_reports::ModelOrigin>,
) -> RunInfo {
    RunInfo {
        origins,
        seed,
        data: format!("{} ({})", data.name, data.source),
        images,
        classes: data.classes.clone(),
        device: device.to_string(),
        threads,
        train_seconds,
    }
}

/// Writes `shard.json` for `shard` of a run of `units` units: the shard's end.
pub(crate) fn write_shard_record(out: &Path, shard: Shard, units: usize) -> Result<()> {
    let path = out.join("shard.json");
    let record = ShardRecord {
        shard,
        units,
        owned: (0..units).filter(|&i| shard.owns(i)).count(),
    };
    write_json_atomic(&path, &record).with_context(|| format!("writing {}", path.display()))
}

/// `shard.json` of a sharded run: which shard it is and whether it finished.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ShardRecord {
    /// The shard.
    pub(crate) shard: Shard,
    /// Units of the whole run.
    pub(crate) units: usize,
    /// Units this shard evaluated (or found finished).
    pub(crate) owned: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: the grammar K/N with 1 ≤ K ≤ N, and round-robin ownership — every unit has exactly
    /// one owner among the N shards.
    #[test]
    fn shards_parse_and_partition() {
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "1/0", "3", "a/b", "1/2/3", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        for n in 1..5 {
            for unit in 0..20 {
                let owners = (1..=n)
                    .filter(|&k| Shard { index: k, count: n }.owns(unit))
                    .count();
                assert_eq!(owners, 1, "unit {unit} of {n} shards");
            }
        }
    }

    /// Oracle: ids keep safe characters and replace the rest, so distinct names stay distinct
    /// when they differ in safe characters.
    #[test]
    fn unit_ids_are_file_names() {
        assert_eq!(
            unit_id(&["adv", "cnn9-tanh-cosine", "pgd", "0.0314"]),
            "adv--cnn9-tanh-cosine--pgd--0.0314"
        );
        assert_eq!(unit_id(&["a/b c"]), "a_b_c");
    }
}
