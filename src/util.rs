//! Small helpers shared by every module: atomic writes, seed derivation.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` so that a reader never sees a partial file: the bytes go to a
/// temporary file in the same directory, which is flushed to disk and then renamed over `path`;
/// the directory is flushed too, so the rename itself survives a crash of the machine.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Not every file system can sync a directory; the rename is done either way.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Reads a JSON file written by dcrobust; the error names the file.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    use anyhow::Context;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a valid dcrobust file", path.display()))
}

/// Serialises `value` as pretty JSON and writes it atomically.
pub(crate) fn write_json_atomic<T: serde::Serialize>(
    path: &Path,
    value: &T,
) -> std::io::Result<()> {
    let mut s = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    s.push(b'\n');
    write_atomic(path, &s)
}

/// A seed for one purpose, derived from the run seed and a path of integers (for example
/// `[SHUFFLE, epoch]`), so that every random draw depends only on where it is made, never on
/// the order in which threads reach it. SplitMix64 finalisation of each component in turn.
pub(crate) fn derive_seed(seed: u64, path: &[u64]) -> u64 {
    let mut h = splitmix(seed);
    for &p in path {
        h = splitmix(h ^ splitmix(p.wrapping_add(0x9E37_79B9_7F4A_7C15)));
    }
    h
}

/// SplitMix64's first output from state `z` (add the golden gamma, then the finaliser): the seed
/// mixer every dcrobust crate uses.
fn splitmix(z: u64) -> u64 {
    use rand_xoshiro::rand_core::{RngCore, SeedableRng};
    rand_xoshiro::SplitMix64::seed_from_u64(z).next_u64()
}

/// A progress bar on standard error counting `unit`s (hidden when `show` is false).
pub(crate) fn progress_bar(
    show: bool,
    total: u64,
    prefix: &str,
    unit: &str,
) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    let template = format!(
        "{{prefix}} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} {unit}, ETA {{eta}} {{msg}}"
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_prefix(prefix.to_string());
    bar
}

/// The one-line message of an error and its causes, joined by `: ` (anyhow's `{:#}`), with the
/// backtraces candle attaches to its errors (when `RUST_BACKTRACE` is set) left out.
pub fn error_message(e: &anyhow::Error) -> String {
    e.chain()
        .map(|cause| match cause.downcast_ref::<candle_core::Error>() {
            Some(candle_core::Error::WithBacktrace { inner, .. }) => inner.to_string(),
            _ => cause.to_string(),
        })
        .collect::<Vec<_>>()
        .join(": ")
}

/// Test hook standing in for a kill: when `DCROBUST_FAULT` is `POINT:N`, the `N`-th arrival
/// (counted from 1) at `point` aborts the process at once, as SIGKILL would: no destructor runs
/// and nothing is flushed. Points: `batch` (after an optimiser step), `checkpoint` (between an
/// epoch's checkpoint and its `state.json`), `epoch` (after an epoch's files), `attack-batch`
/// (after an attack cell's batch file), `cell` (after a unit's file), `report` (before the
/// report page is written).
pub(crate) fn fault_point(point: &str) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let Ok(spec) = std::env::var("DCROBUST_FAULT") else {
        return;
    };
    let Some((p, n)) = spec.split_once(':') else {
        return;
    };
    if p != point {
        return;
    }
    let n: usize = n.parse().unwrap_or(1);
    if COUNT.fetch_add(1, Ordering::SeqCst) + 1 == n {
        eprintln!("DCROBUST_FAULT: aborting at {point} #{n}");
        std::process::abort();
    }
}

/// This process's command line as one shell line: `dcrobust` and its arguments, each quoted
/// where the shell would need it, without `--resume` and the hidden `--stop-after-epochs` (so
/// that it reruns the whole run from scratch).
pub(crate) fn command_line() -> String {
    shell_line(std::env::args().skip(1))
}

/// `dcrobust` and `args` as one shell line (see [`command_line`]).
fn shell_line(mut args: impl Iterator<Item = String>) -> String {
    let quote = |a: &str| {
        if !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c))
        {
            a.to_string()
        } else {
            format!("'{}'", a.replace('\'', "'\\''"))
        }
    };
    let mut out = vec!["dcrobust".to_string()];
    while let Some(a) = args.next() {
        match a.as_str() {
            "--resume" => {}
            // The test hook that stops a run as if killed, and its value.
            "--stop-after-epochs" => {
                args.next();
            }
            a if a.starts_with("--stop-after-epochs=") => {}
            a => out.push(quote(a)),
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: a context over `DataError::Io`, whose message already says the system's error;
    /// each message appears exactly once, in chain order.
    #[test]
    fn error_message_says_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = anyhow::Error::new(crate::data::DataError::io("a/summary.json", io))
            .context("loading the results of a");
        assert_eq!(
            error_message(&e),
            "loading the results of a: cannot read a/summary.json: no such file"
        );
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_message(&e), "outer: inner");
    }

    /// Oracle: SplitMix64's published first output for seed 0 is 0xE220A8397B1DCDAF
    /// (Vigna's reference implementation: state += golden gamma, then the two multiplies).
    #[test]
    fn splitmix_matches_reference_and_paths_differ() {
        assert_eq!(splitmix(0), 0xE220_A839_7B1D_CDAF);
        let a = derive_seed(1, &[0, 1]);
        assert_ne!(a, derive_seed(1, &[1, 0]));
        assert_ne!(a, derive_seed(2, &[0, 1]));
        assert_eq!(a, derive_seed(1, &[0, 1]));
    }

    /// Oracle: after a write the file holds exactly the bytes, and no temporary file remains.
    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        write_atomic(&p, b"first version, long").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// Oracle: the message is exactly the context then the inner candle error, while anyhow's own
    /// `{:#}` of the same error is longer (it carries the backtrace text).
    #[test]
    fn error_message_drops_candle_backtraces() {
        let inner = candle_core::Error::Msg("device went away".into());
        let e = candle_core::Error::WithBacktrace {
            inner: Box::new(inner),
            backtrace: Box::new(std::backtrace::Backtrace::force_capture()),
        };
        let e = anyhow::Error::new(e).context("opening CUDA device 0");
        assert_eq!(error_message(&e), "opening CUDA device 0: device went away");
        assert!(format!("{e:#}").len() > error_message(&e).len());
    }

    /// Oracle: POSIX shell quoting — plain words stay bare, anything else is single-quoted with
    /// `'` written as `'\''`; `--resume` and the stop hook with its value are dropped.
    #[test]
    fn shell_line_quotes_and_drops_resume() {
        let args = [
            "train",
            "--resume",
            "--out",
            "my runs",
            "--stop-after-epochs",
            "1",
            "--lr",
            "1e-3",
            "it's",
        ];
        assert_eq!(
            shell_line(args.iter().map(|s| s.to_string())),
            "dcrobust train --out 'my runs' --lr 1e-3 'it'\\''s'"
        );
    }
}
