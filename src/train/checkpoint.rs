//! Run directories and their checkpoints: writing them after each epoch, reading them to resume
//! or to evaluate.
//!
//! After every epoch a run directory receives, each file written atomically and in this order:
//! `history.json`; `optimizer.safetensors` (the optimiser's moments, `optim.a.<param>` and
//! `optim.b.<param>`); `model.safetensors` (the weights and running statistics only, under
//! PyTorch's names: a BatchNorm's γ, β and update count are `<layer>.bn.weight`, `.bn.bias` and
//! `.bn.num_batches_tracked`); `config.json` with the SHA-256 of `model.safetensors`; and
//! `state.json`. Both tensor files carry the epoch and iteration they belong to in their
//! metadata, and a resume trusts them over `state.json`. Runs written by dcrobust 0.1's single
//! `checkpoint.safetensors` (weights and optimiser state together, BatchNorm's `gamma`, `beta`,
//! `updates`) still load and resume.

use super::*;
use sha2::{Digest, Sha256};

/// Paths of a run directory.
pub(crate) struct RunDir {
    /// The directory.
    pub(crate) dir: PathBuf,
}

impl RunDir {
    /// `config.json`.
    pub(crate) fn config(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    /// `model.safetensors`: weights and running statistics.
    pub(crate) fn model(&self) -> PathBuf {
        self.dir.join("model.safetensors")
    }
    /// `optimizer.safetensors`: the optimiser's state.
    pub(crate) fn optimizer(&self) -> PathBuf {
        self.dir.join("optimizer.safetensors")
    }
    /// `checkpoint.safetensors`: weights and optimiser state in one file, as written by
    /// dcrobust 0.1 (read only).
    fn legacy_checkpoint(&self) -> PathBuf {
        self.dir.join("checkpoint.safetensors")
    }
    /// `state.json`.
    pub(crate) fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    /// `history.json`.
    pub(crate) fn history(&self) -> PathBuf {
        self.dir.join("history.json")
    }
    /// Whether the run uses the single-file layout of dcrobust 0.1.
    fn is_legacy(&self) -> bool {
        !self.model().exists() && self.legacy_checkpoint().exists()
    }
    /// The file that holds the weights.
    pub(crate) fn weights(&self) -> PathBuf {
        if self.is_legacy() {
            self.legacy_checkpoint()
        } else {
            self.model()
        }
    }
}

/// The SHA-256 of `bytes` as 64 lower-case hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Internal parameter name → the name in `model.safetensors`.
fn export_name(name: &str) -> String {
    for (ours, torch) in [
        (".bn.gamma", ".bn.weight"),
        (".bn.beta", ".bn.bias"),
        (".bn.updates", ".bn.num_batches_tracked"),
    ] {
        if let Some(stem) = name.strip_suffix(ours) {
            return format!("{stem}{torch}");
        }
    }
    name.to_string()
}

/// Name in `model.safetensors` → internal parameter name.
fn import_name(name: &str) -> String {
    for (ours, torch) in [
        (".bn.gamma", ".bn.weight"),
        (".bn.beta", ".bn.bias"),
        (".bn.updates", ".bn.num_batches_tracked"),
    ] {
        if let Some(stem) = name.strip_suffix(torch) {
            return format!("{stem}{ours}");
        }
    }
    name.to_string()
}

/// The network's tensors as `model.safetensors` stores them: PyTorch's names, and a BatchNorm's
/// update count as an i64 scalar (`num_batches_tracked`).
fn export_tensors(net: &Network) -> Result<HashMap<String, Tensor>> {
    let mut out = HashMap::new();
    for (name, t) in net.params().tensors() {
        let t = if name.ends_with(".bn.updates") {
            let n = t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?[0];
            Tensor::new(n.round() as i64, &Device::Cpu)?
        } else {
            t.to_device(&Device::Cpu)?
        };
        out.insert(export_name(&name), t);
    }
    Ok(out)
}

/// Tensors read from `model.safetensors` under the internal names and shapes.
fn import_tensors(tensors: HashMap<String, Tensor>) -> Result<HashMap<String, Tensor>> {
    tensors
        .into_iter()
        .map(|(name, t)| {
            let name = import_name(&name);
            let t = if name.ends_with(".bn.updates") {
                t.to_dtype(DType::F32)?.reshape(1)?
            } else {
                t
            };
            Ok((name, t))
        })
        .collect()
}

/// Loads a trained network from a run directory (its `config.json` and weights). A
/// `model.safetensors` whose SHA-256 differs from the one in `config.json` is refused.
pub fn load_network(dir: &Path, device: &Device) -> Result<(RunConfig, Network)> {
    let rd = RunDir {
        dir: dir.to_path_buf(),
    };
    let cfg: RunConfig = read_json(&rd.config())?;
    let path = rd.weights();
    let bytes =
        std::fs::read(&path).with_context(|| format!("reading weights {}", path.display()))?;
    if rd.is_legacy() {
        let net = Network::new(cfg.model.clone(), device, DType::F32, 0)?;
        let tensors = checkpoint_tensors(&bytes, &path, device)?;
        net.params()
            .load(&tensors)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        return Ok((cfg, net));
    }
    let net = network_from_weights(
        &cfg,
        &bytes,
        &path.display().to_string(),
        &rd.config().display().to_string(),
        device,
    )?;
    Ok((cfg, net))
}

/// Builds `cfg`'s network (f32) from the bytes of a `model.safetensors` (f32 or f16 tensors under
/// PyTorch's names). `label` names the weights and `config_label` the configuration in errors;
/// bytes whose SHA-256 differs from `cfg.weights_sha256` (when set) are refused.
pub(crate) fn network_from_weights(
    cfg: &RunConfig,
    bytes: &[u8],
    label: &str,
    config_label: &str,
    device: &Device,
) -> Result<Network> {
    if let Some(want) = &cfg.weights_sha256 {
        let got = sha256_hex(bytes);
        if &got != want {
            bail!(
                "{label}: SHA-256 {got} does not match the {want} recorded in {config_label} (a corrupt or replaced file; if training was interrupted, rerun it with --resume)"
            );
        }
    }
    let net = Network::new(cfg.model.clone(), device, DType::F32, 0)?;
    let tensors = candle_core::safetensors::load_buffer(bytes, device).with_context(|| {
        format!("{label} is not a valid safetensors checkpoint (truncated or corrupt?)")
    })?;
    net.params()
        .load(&import_tensors(tensors)?)
        .map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
    Ok(net)
}

/// The network's weights as the bytes of a `model.safetensors` (PyTorch's names, name order, no
/// metadata), with every floating-point tensor stored as `dtype`.
pub(crate) fn weights_bytes(net: &Network, dtype: DType) -> Result<Vec<u8>> {
    let tensors = export_tensors(net)?
        .into_iter()
        .map(|(name, t)| {
            let t = if t.dtype().is_float() {
                t.to_dtype(dtype)?
            } else {
                t
            };
            Ok((name, t))
        })
        .collect::<Result<HashMap<_, _>>>()?;
    safetensors_bytes(&tensors, None)
}

/// Restores weights and optimiser state for a resume and returns the progress the files were
/// written at (`None` for files written without it).
pub(super) fn load_for_resume(
    rd: &RunDir,
    net: &Network,
    opt: &mut Optimizer,
    steps: impl FnOnce(Option<&Progress>) -> u64,
) -> Result<Option<Progress>> {
    let device = net.params().device().clone();
    let read =
        |p: &Path| std::fs::read(p).with_context(|| format!("reading checkpoint {}", p.display()));
    let (weights, optim, progress) = if rd.is_legacy() {
        let path = rd.legacy_checkpoint();
        let bytes = read(&path)?;
        let progress = checkpoint_progress(&bytes, &path)?;
        let tensors = checkpoint_tensors(&bytes, &path, &device)?;
        ((tensors.clone(), path.clone()), (tensors, path), progress)
    } else {
        let (mp, op) = (rd.model(), rd.optimizer());
        let (mb, ob) = (read(&mp)?, read(&op)?);
        let (pm, po) = (
            checkpoint_progress(&mb, &mp)?,
            checkpoint_progress(&ob, &op)?,
        );
        if pm != po {
            let epoch = |p: &Option<Progress>| p.as_ref().map_or(0, |p| p.epochs_done);
            bail!(
                "{} is from epoch {} but {} from epoch {}: the run was stopped between writing the two; restart it in a new --out",
                mp.display(),
                epoch(&pm),
                op.display(),
                epoch(&po)
            );
        }
        let model = import_tensors(checkpoint_tensors(&mb, &mp, &device)?)?;
        let optim = checkpoint_tensors(&ob, &op, &device)?;
        ((model, mp), (optim, op), pm)
    };
    net.params()
        .load(&weights.0)
        .map_err(|e| anyhow::anyhow!("{}: {e}", weights.1.display()))?;
    opt.load_state(&optim.0, steps(progress.as_ref()))
        .map_err(|e| anyhow::anyhow!("{}: {e}", optim.1.display()))?;
    Ok(progress)
}

pub(super) fn checkpoint_tensors(
    bytes: &[u8],
    path: &Path,
    device: &Device,
) -> Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load_buffer(bytes, device).with_context(|| {
        format!(
            "{} is not a valid safetensors checkpoint (truncated or corrupt?)",
            path.display()
        )
    })
}

/// Metadata key of the training progress saved inside each checkpoint file.
pub(super) const META_PROGRESS: &str = "dcrobust.progress";

/// How far training had gone when a checkpoint was written (no timings, so that the checkpoint's
/// bytes depend only on the computation).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Progress {
    pub(super) epochs_done: usize,
    pub(super) iteration: usize,
    pub(super) finished: bool,
}

/// The progress stored in a checkpoint's metadata (`None` for checkpoints written without it).
fn checkpoint_progress(bytes: &[u8], path: &Path) -> Result<Option<Progress>> {
    let bad = || {
        format!(
            "{} is not a valid safetensors checkpoint (truncated or corrupt?)",
            path.display()
        )
    };
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).with_context(bad)?;
    match meta.metadata().as_ref().and_then(|m| m.get(META_PROGRESS)) {
        Some(p) => Ok(Some(serde_json::from_str(p).with_context(bad)?)),
        None => Ok(None),
    }
}

/// Writes history, optimiser state, weights, `config.json` (with the weights' SHA-256) and
/// state, in this order, each atomically. Both tensor files carry their epoch and iteration and a
/// resume trusts them over `state.json`; the history is written first, so it always holds their
/// epoch.
pub(super) fn save_checkpoint(
    rd: &RunDir,
    run_cfg: &mut RunConfig,
    net: &Network,
    opt: &Optimizer,
    state: &TrainState,
    history: &TrainingHistory,
) -> Result<()> {
    let progress = Progress {
        epochs_done: state.epochs_done,
        iteration: state.iteration,
        finished: state.finished,
    };
    let meta = HashMap::from([(META_PROGRESS.to_string(), serde_json::to_string(&progress)?)]);
    let model = safetensors_bytes(&export_tensors(net)?, Some(meta.clone()))?;
    let optim = safetensors_bytes(&opt.state_tensors(), Some(meta))?;
    write_json_atomic(&rd.history(), history)
        .with_context(|| format!("writing {}", rd.history().display()))?;
    write_atomic(&rd.optimizer(), &optim)
        .with_context(|| format!("writing {}", rd.optimizer().display()))?;
    write_atomic(&rd.model(), &model)
        .with_context(|| format!("writing {}", rd.model().display()))?;
    run_cfg.weights_sha256 = Some(sha256_hex(&model));
    write_json_atomic(&rd.config(), run_cfg)
        .with_context(|| format!("writing {}", rd.config().display()))?;
    if rd.legacy_checkpoint().exists() {
        // The run now lives in the two files; the old one would only go stale.
        std::fs::remove_file(rd.legacy_checkpoint())
            .with_context(|| format!("removing {}", rd.legacy_checkpoint().display()))?;
    }
    crate::util::fault_point("checkpoint");
    write_json_atomic(&rd.state(), state)
        .with_context(|| format!("writing {}", rd.state().display()))?;
    Ok(())
}

/// Serialises `tensors` in name order (so that equal weights give equal bytes).
pub(super) fn safetensors_bytes(
    tensors: &HashMap<String, Tensor>,
    meta: Option<HashMap<String, String>>,
) -> Result<Vec<u8>> {
    let mut sorted: Vec<(&String, &Tensor)> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    Ok(safetensors::serialize(sorted, meta)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: the renaming is a bijection on BatchNorm's three names and the identity elsewhere.
    #[test]
    fn names_round_trip() {
        for n in [
            "stage1.conv1.bn.gamma",
            "stage1.conv1.bn.beta",
            "stage1.conv1.bn.updates",
            "stage1.conv1.bn.running_mean",
            "fc6.radius",
            "score.weight",
        ] {
            assert_eq!(import_name(&export_name(n)), n);
        }
        assert_eq!(export_name("a.bn.gamma"), "a.bn.weight");
        assert_eq!(export_name("a.bn.updates"), "a.bn.num_batches_tracked");
    }

    /// Oracle: SHA-256 of "abc" from FIPS 180-2, appendix B.1.
    #[test]
    fn sha256_of_abc() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
