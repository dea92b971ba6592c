//! One attack at one ε on one model: the cell, its per-sample outcomes and records, and its
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
}

/// Evaluates one attack at one ε on every image; returns the cell and the per-sample outcomes.
pub(super) fn attack_cell(
    model: &PreparedModel,
    data: &Dataset,
    job: CellJob,
    batch_size: usize,
    clean: &CleanLogits,
    bar: &indicatif::ProgressBar,
) -> Result<(AttackCell, Vec<AttackOutcome>)> {
    let CellJob {
        kind,
        eps,
        params,
        seed,
        only_correct,
    } = job;
    let attack = params.build(kind, eps)?;
    let oracle = Oracle::new(&model.net);
    let n = data.test.len();
    let shape = [0, data.channels, data.height, data.width];
    let batch_seed = derive_seed(seed, &[SEED_ATTACK, kind as u64, eps.to_bits()]);
    let start = Instant::now();
    let mut outcomes = Vec::new();
    let mut first = 0;
    while first < n {
        let end = (first + batch_size).min(n);
        let batch = Batch::new(
            images_f32(data, &data.test, first..end),
            [end - first, shape[1], shape[2], shape[3]],
            data.test.labels[first..end].to_vec(),
            (first as u64..end as u64).collect(),
            batch_seed,
        )?;
        let k = clean.classes;
        let z = &clean.logits[first * k..end * k];
        let out = run_attack(
            attack.as_ref(),
            params.target,
            only_correct,
            &oracle,
            &batch,
            Some((z, k)),
        )
        .with_context(|| format!("{} under {kind} at eps {eps}", model.name))?;
        bar.inc((end - first) as u64);
        outcomes.push(out);
        first = end;
    }
    let seconds = start.elapsed().as_secs_f64();
    let (mut correct, mut attacked, mut succ, mut linf, mut l2, mut loss) =
        (0usize, 0usize, 0usize, 0f64, 0f64, 0f64);
    let mut offset = 0;
    for o in &outcomes {
        for i in 0..o.adv_pred.len() {
            let label = data.test.labels[offset + i];
            correct += usize::from(o.adv_pred[i] == label);
            loss += f64::from(o.loss[i]);
            if o.attacked[i] {
                attacked += 1;
                succ += usize::from(o.success[i]);
                linf += f64::from(o.linf[i]);
                l2 += f64::from(o.l2[i]);
            }
        }
        offset += o.adv_pred.len();
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
            gradients: oracle.gradient_count(),
            queries: oracle.query_count(),
            seconds,
        },
        outcomes,
    ))
}

pub(super) fn records_of(
    model: &str,
    source: Option<&str>,
    attack: AttackKind,
    eps: f64,
    data: &Dataset,
    outcomes: &[AttackOutcome],
    out: &mut Vec<SampleRecord>,
) {
    let mut index = 0;
    for o in outcomes {
        for i in 0..o.adv_pred.len() {
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
            index += 1;
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
    outcomes: &[AttackOutcome],
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
        // The batch holding image `index`, and its place there.
        let (mut o, mut i) = (&outcomes[0], index);
        for b in outcomes {
            o = b;
            if i < b.adv_pred.len() {
                break;
            }
            i -= b.adv_pred.len();
        }
        let rel = format!("examples/{}/{}-{index}.png", model.name, kind.name());
        save_png(&out.join(&rel), &o.adv[i * d..(i + 1) * d], c, h, w)?;
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
