//! One attack at one ε on one model: the cell, its per-batch results and records, and its
//! example images.

use super::*;

/// A model's logits on every test image, computed once and shared by all cells.
pub(super) struct CleanLogits {
    pub(super) logits: Vec<f32>,
    pub(super) classes: usize,
}

impl CleanLogits {
    pub(super) fn compute(
        model: &PreparedModel,
        data: &Dataset,
        batch_size: usize,
    ) -> Result<Self> {
        let oracle = Oracle::new(&model.net);
        let n = data.test.len();
        let (mut logits, mut classes) = (Vec::new(), 0);
        let mut first = 0;
        while first < n {
            let end = (first + batch_size).min(n);
            let x = images_f32(data, &data.test, first..end);
            let (z, k) =
                oracle.logits(&x, [end - first, data.channels, data.height, data.width])?;
            logits.extend(z);
            classes = k;
            first = end;
        }
        Ok(CleanLogits { logits, classes })
    }

    pub(super) fn accuracy(&self, labels: &[u32]) -> f64 {
        let p = dcrobust_attacks::ops::predictions(&self.logits, self.classes);
        p.iter().zip(labels).filter(|(a, b)| a == b).count() as f64 / labels.len().max(1) as f64
    }
}

/// One attack at one ε, as [`attack_cell`] runs it.
pub(super) struct CellJob<'a> {
    /// The attack.
    pub(super) kind: AttackKind,
    /// Its budget.
    pub(super) eps: f64,
    /// Its parameters.
    pub(super) params: &'a AttackConfig,
    /// Seed of its random draws (mixed with the attack and ε).
    pub(super) seed: u64,
    /// Attack only the images the model classifies correctly (the others count as errors).
    pub(super) only_correct: bool,
    /// The adversarial images the cell keeps.
    pub(super) keep: Keep<'a>,
    /// Where each finished batch is recorded, so that a killed cell resumes from its last
    /// finished batch; `None`: nothing is recorded before the whole cell is.
    pub(super) journal: Option<BatchJournal<'a>>,
}

/// Which adversarial images a cell keeps in its [`BatchResult`]s.
#[derive(Clone, Copy, Debug)]
pub(super) enum Keep<'a> {
    /// Every one (a transfer attack evaluates them on the other models).
    All,
    /// Those of these test images (a cell's example images; none for the checks).
    Only(&'a [usize]),
}

/// What an attack did to test images `first..first + len` of a cell, and what it cost: an
/// [`dcrobust_attacks::AttackOutcome`] without the adversarial images the cell does not keep. A cell with a
/// [`BatchJournal`] records each one as it finishes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct BatchResult {
    /// Index of the batch's first test image.
    pub(super) first: usize,
    /// Prediction on each clean image.
    pub(super) clean_pred: Vec<u32>,
    /// Prediction on each adversarial image.
    pub(super) adv_pred: Vec<u32>,
    /// Target class per image, for targeted attacks.
    pub(super) targets: Option<Vec<u32>>,
    /// Whether the attack succeeded on each image.
    pub(super) success: Vec<bool>,
    /// Whether the attack ran on each image.
    pub(super) attacked: Vec<bool>,
    /// L∞ norm of each perturbation.
    pub(super) linf: Vec<f32>,
    /// L2 norm of each perturbation.
    pub(super) l2: Vec<f32>,
    /// Cross-entropy of the true class at each adversarial image.
    pub(super) loss: Vec<f32>,
    /// Test indices of the kept adversarial images, ascending.
    pub(super) kept: Vec<usize>,
    /// The kept adversarial images, `kept.len()·C·H·W` values.
    pub(super) adv: Vec<f32>,
    /// Input gradients the batch took.
    pub(super) gradients: u64,
    /// Forward queries the batch took.
    pub(super) queries: u64,
    /// Seconds the batch took.
    pub(super) seconds: f64,
}

impl BatchResult {
    /// Number of images.
    pub(super) fn len(&self) -> usize {
        self.adv_pred.len()
    }

    /// The kept adversarial image of test image `index` (`d` values per image), if kept.
    pub(super) fn adv_image(&self, index: usize, d: usize) -> Option<&[f32]> {
        let k = self.kept.binary_search(&index).ok()?;
        self.adv.get(k * d..(k + 1) * d)
    }
}

/// Where one cell records its finished batches (see [`CellStore::save_batch`]).
#[derive(Clone, Copy)]
pub(super) struct BatchJournal<'a> {
    /// The run's unit store.
    pub(super) store: &'a CellStore,
    /// The cell's unit id.
    pub(super) unit: &'a str,
}

impl BatchJournal<'_> {
    /// The recorded batch starting at test image `first` with `len` images, if any.
    fn load(&self, first: usize, len: usize) -> Option<BatchResult> {
        let b: BatchResult = self.store.load_batch(self.unit, first)?;
        (b.first == first && b.len() == len).then_some(b)
    }
}

/// Evaluates one attack at one ε on every image, batch by batch; returns the cell and the
/// batches' results. With a journal, batches recorded by an earlier (killed) run of the same
/// cell are read instead of computed, and each computed batch is recorded: every per-sample
/// result is independent of the other samples (see the module doc), so the cell equals that of
/// an uninterrupted run, seconds aside.
pub(super) fn attack_cell(
    model: &PreparedModel,
    data: &Dataset,
    job: CellJob,
    batch_size: usize,
    clean: &CleanLogits,
    bar: &indicatif::ProgressBar,
) -> Result<(AttackCell, Vec<BatchResult>)> {
    let CellJob {
        kind,
        eps,
        params,
        seed,
        only_correct,
        keep,
        journal,
    } = job;
    let attack = params.build(kind, eps)?;
    let oracle = Oracle::new(&model.net);
    let n = data.test.len();
    let d = data.image_len();
    let shape = [0, data.channels, data.height, data.width];
    let batch_seed = derive_seed(seed, &[SEED_ATTACK, kind as u64, eps.to_bits()]);
    // A cell of one batch has nothing to resume from.
    let journal = journal.filter(|_| n > batch_size);
    let mut batches = Vec::new();
    let mut first = 0;
    while first < n {
        let end = (first + batch_size).min(n);
        if let Some(b) = journal.and_then(|j| j.load(first, end - first)) {
            bar.inc((end - first) as u64);
            batches.push(b);
            first = end;
            continue;
        }
        let start = Instant::now();
        let (g0, q0) = (oracle.gradient_count(), oracle.query_count());
        let batch = Batch::new(
            images_f32(data, &data.test, first..end),
            [end - first, shape[1], shape[2], shape[3]],
            data.test.labels[first..end].to_vec(),
            (first as u64..end as u64).collect(),
            batch_seed,
        )?;
        let k = clean.classes;
        let z = &clean.logits[first * k..end * k];
        let o = run_attack(
            attack.as_ref(),
            params.target,
            only_correct,
            &oracle,
            &batch,
            Some((z, k)),
        )
        .with_context(|| format!("{} under {kind} at eps {eps}", model.name))?;
        let (kept, adv): (Vec<usize>, Vec<f32>) = match keep {
            Keep::All => ((first..end).collect(), o.adv),
            Keep::Only(idx) => {
                let mut kept: Vec<usize> = idx
                    .iter()
                    .copied()
                    .filter(|i| (first..end).contains(i))
                    .collect();
                kept.sort_unstable();
                kept.dedup();
                let adv = kept
                    .iter()
                    .flat_map(|&i| o.adv[(i - first) * d..(i - first + 1) * d].iter().copied())
                    .collect();
                (kept, adv)
            }
        };
        let b = BatchResult {
            first,
            clean_pred: o.clean_pred,
            adv_pred: o.adv_pred,
            targets: o.targets,
            success: o.success,
            attacked: o.attacked,
            linf: o.linf,
            l2: o.l2,
            loss: o.loss,
            kept,
            adv,
            gradients: oracle.gradient_count() - g0,
            queries: oracle.query_count() - q0,
            seconds: start.elapsed().as_secs_f64(),
        };
        if let Some(j) = journal {
            j.store.save_batch(j.unit, first, &b)?;
            crate::util::fault_point("attack-batch");
        }
        bar.inc((end - first) as u64);
        batches.push(b);
        first = end;
    }
    let (mut correct, mut attacked, mut succ, mut linf, mut l2, mut loss) =
        (0usize, 0usize, 0usize, 0f64, 0f64, 0f64);
    for b in &batches {
        for i in 0..b.len() {
            let label = data.test.labels[b.first + i];
            correct += usize::from(b.adv_pred[i] == label);
            loss += f64::from(b.loss[i]);
            if b.attacked[i] {
                attacked += 1;
                succ += usize::from(b.success[i]);
                linf += f64::from(b.linf[i]);
                l2 += f64::from(b.l2[i]);
            }
        }
    }
    let a = attacked.max(1) as f64;
    let steps = params.steps_of(kind);
    Ok((
        AttackCell {
            attack: kind.into(),
            norm: kind.norm(),
            eps,
            steps,
            images: n,
            accuracy: correct as f64 / n.max(1) as f64,
            success_rate: succ as f64 / a,
            mean_linf: linf / a,
            mean_l2: l2 / a,
            mean_loss: loss / n.max(1) as f64,
            gradients: batches.iter().map(|b| b.gradients).sum(),
            queries: batches.iter().map(|b| b.queries).sum(),
            seconds: batches.iter().map(|b| b.seconds).sum(),
        },
        batches,
    ))
}

pub(super) fn records_of(
    model: &str,
    source: Option<&str>,
    attack: AttackKind,
    eps: f64,
    data: &Dataset,
    batches: &[BatchResult],
    out: &mut Vec<SampleRecord>,
) {
    for o in batches {
        for i in 0..o.len() {
            let index = o.first + i;
            out.push(SampleRecord {
                model: model.to_string(),
                attack: attack.into(),
                source: source.map(str::to_string),
                eps,
                index,
                label: data.test.labels[index],
                target: o.targets.as_ref().map(|t| t[i]),
                clean_pred: o.clean_pred[i],
                adv_pred: o.adv_pred[i],
                attacked: o.attacked[i],
                success: o.attacked[i] && o.success[i],
                linf: o.linf[i],
                l2: o.l2[i],
                loss: o.loss[i],
            });
        }
    }
}

/// Samples whose clean-image loss gradient is exactly zero.
pub(super) fn zero_gradients(
    model: &PreparedModel,
    data: &Dataset,
    batch_size: usize,
) -> Result<usize> {
    let oracle = Oracle::new(&model.net);
    let n = data.test.len();
    let d = data.image_len();
    let mut count = 0;
    let mut first = 0;
    while first < n {
        let end = (first + batch_size).min(n);
        let batch = Batch::new(
            images_f32(data, &data.test, first..end),
            [end - first, data.channels, data.height, data.width],
            data.test.labels[first..end].to_vec(),
            (first as u64..end as u64).collect(),
            0,
        )?;
        let g = oracle.loss_grad(&batch.x, &batch, dcrobust_attacks::LossKind::CrossEntropy)?;
        count += g
            .grad
            .chunks(d)
            .filter(|s| s.iter().all(|&v| v == 0.0))
            .count();
        first = end;
    }
    Ok(count)
}

/// Writes an image (`C·H·W` values in [0, 1]) as PNG.
pub(super) fn save_png(path: &Path, x: &[f32], c: usize, h: usize, w: usize) -> Result<()> {
    let bytes: Vec<u8> = x
        .iter()
        .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    crate::suite::save_png(path, &bytes, c, h, w)
}

/// Saves the examples of one cell (adversarial image PNGs) and describes them.
pub(super) fn cell_examples(
    out: &Path,
    model: &PreparedModel,
    kind: AttackKind,
    eps: f64,
    data: &Dataset,
    ex_idx: &[usize],
    batches: &[BatchResult],
) -> Result<Vec<ExampleImage>> {
    let (c, h, w) = (data.channels, data.height, data.width);
    let d = data.image_len();
    let class = |k: u32| {
        data.classes
            .get(k as usize)
            .cloned()
            .unwrap_or_else(|| k.to_string())
    };
    let mut examples = Vec::new();
    if ex_idx.is_empty() {
        return Ok(examples);
    }
    let dir = out.join("examples").join(&model.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for &index in ex_idx {
        let (o, adv) = batches
            .iter()
            .find_map(|b| Some((b, b.adv_image(index, d)?)))
            .with_context(|| format!("example image {index} was not kept by its cell"))?;
        let i = index - o.first;
        let rel = format!("examples/{}/{}-{index}.png", model.name, kind.name());
        save_png(&out.join(&rel), adv, c, h, w)?;
        examples.push(ExampleImage {
            model: model.name.clone(),
            attack: kind.into(),
            eps,
            index,
            label: class(data.test.labels[index]),
            clean_pred: class(o.clean_pred[i]),
            adv_pred: class(o.adv_pred[i]),
            clean_png: format!("examples/clean-{index}.png"),
            adv_png: rel,
        });
    }
    Ok(examples)
}
