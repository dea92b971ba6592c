//! Transfer (black-box) attacks: crafted on a source model at the headline ε, evaluated on
//! every other model.

use super::*;

/// The source side of one transfer attack.
pub(super) struct TransferJob<'a> {
    /// The model the examples are crafted on.
    pub(super) source: &'a PreparedModel,
    /// Its clean logits.
    pub(super) source_clean: &'a CleanLogits,
    /// The attack, run at the headline ε.
    pub(super) kind: AttackKind,
}

/// One transfer attack crafted on the job's source at the headline ε and evaluated on each
/// target (with its clean predictions); returns the cells and the per-sample records.
pub(super) fn transfer(
    job: TransferJob,
    targets: &[(&PreparedModel, Vec<u32>)],
    data: &Dataset,
    cfg: &AdversarialConfig,
    seed: u64,
    bar: &indicatif::ProgressBar,
) -> Result<(Vec<TransferCell>, Vec<SampleRecord>)> {
    let TransferJob {
        source,
        source_clean,
        kind,
    } = job;
    let n = data.test.len();
    let eps = cfg.headline_linf;
    // Transfer examples are crafted on every sample and without early stopping: a point just
    // across the source's boundary transfers poorly.
    let params = AttackConfig {
        early_stop: false,
        ..cfg.attack.clone()
    };
    let mut cells = Vec::new();
    let mut records = Vec::new();
    let pb = bar;
    let crafting = CellJob {
        kind,
        eps,
        params: &params,
        seed: derive_seed(seed, &[SEED_TRANSFER]),
        only_correct: false,
        keep: Keep::All,
        journal: None,
    };
    let (src_cell, batches) = attack_cell(
        source,
        data,
        crafting,
        cfg.eval_batch_size,
        source_clean,
        pb,
    )?;
    for (target, clean_pred) in targets {
        let oracle = Oracle::new(&target.net);
        let mut correct = 0;
        for o in &batches {
            let (index, k) = (o.first, o.len());
            let batch = Batch::new(
                images_f32(data, &data.test, index..index + k),
                [k, data.channels, data.height, data.width],
                data.test.labels[index..index + k].to_vec(),
                (index as u64..(index + k) as u64).collect(),
                0,
            )?;
            let (pred, loss) = dcrobust_attacks::run::predict(&oracle, &o.adv, &batch)?;
            for i in 0..k {
                let label = batch.labels[i];
                correct += usize::from(pred[i] == label);
                let attacked = eps > 0.0 && clean_pred[index + i] == label;
                records.push(SampleRecord {
                    model: target.name.clone(),
                    attack: kind.into(),
                    source: Some(source.name.clone()),
                    eps,
                    index: index + i,
                    label,
                    target: None,
                    clean_pred: clean_pred[index + i],
                    adv_pred: pred[i],
                    attacked,
                    success: attacked && pred[i] != label,
                    linf: o.linf[i],
                    l2: o.l2[i],
                    loss: loss[i],
                });
            }
            pb.inc(k as u64);
        }
        cells.push(TransferCell {
            source: source.name.clone(),
            target: target.name.clone(),
            attack: kind.into(),
            eps,
            accuracy: correct as f64 / n.max(1) as f64,
            source_accuracy: src_cell.accuracy,
        });
    }
    Ok((cells, records))
}

/// Whether `name` is a source of transfer attacks: named in `--transfer-from`, or a baseline
/// model when the list says `baseline` (every model when the run has no baseline).
pub(super) fn is_transfer_source(
    cfg: &AdversarialConfig,
    models: &[PreparedModel],
    name: &str,
) -> bool {
    match &cfg.transfer_from {
        None => true,
        Some(from) => from.iter().any(|f| match f {
            TransferSource::Model(m) => m == name,
            TransferSource::Baselines => {
                models
                    .iter()
                    .find(|m| m.name == name)
                    .is_some_and(PreparedModel::is_baseline)
                    || !models.iter().any(PreparedModel::is_baseline)
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::TransferSource;

    /// Oracle: the option's own words. `baseline` reads as the run's baselines and every other
    /// item as a model name, and both are written back as given, so `suite.json` keeps the
    /// strings it always held.
    #[test]
    fn transfer_sources_keep_the_option_strings() {
        let json = r#"["baseline","cnn9-tanh-cosine"]"#;
        let from: Vec<TransferSource> = serde_json::from_str(json).unwrap();
        assert_eq!(
            from,
            [
                TransferSource::Baselines,
                TransferSource::Model("cnn9-tanh-cosine".into())
            ]
        );
        assert_eq!(serde_json::to_string(&from).unwrap(), json);
    }
}
