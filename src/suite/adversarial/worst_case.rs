//! The worst case over a run's white-box attacks, per image: at a norm and ε, an image counts as
//! robust only if every attack run there left it correctly classified. This is AutoAttack's
//! ensemble rule applied to whatever attacks the run chose, and the robust accuracy to quote
//! when several attacks ran: it is at most the lowest single-attack accuracy, and lower when the
//! attacks break different images.

use dcrobust_attacks::{AttackKind, Norm};
use dcrobust_reports::{AttackCell, AttackId, SampleRecord};
use std::collections::BTreeMap;

/// One image's outcome under the worst case: the record of the first attack (in run order)
/// that misclassified it, or else the record with the highest loss.
fn pick<'a>(current: Option<&'a SampleRecord>, r: &'a SampleRecord) -> &'a SampleRecord {
    match current {
        None => r,
        Some(c) if c.adv_pred != c.label => c,
        Some(_) if r.adv_pred != r.label => r,
        Some(c) if r.loss > c.loss => r,
        Some(c) => c,
    }
}

/// The worst-case cells of `model`: one per norm and ε (ε = 0 included) at which at least two
/// attacks other than FGSM ran (FGSM joins them where it ran too), from the white-box `cells`
/// and their per-sample `records` (records of other models and transfer records are ignored).
/// Accuracy: the share of the images every one of those attacks left correct; success rate,
/// mean L∞ and L2 over the attacked images, and mean loss over all images, of each image's
/// picked record (see [`pick`]); gradients, queries and seconds: the sums over the attacks.
pub(super) fn worst_case_cells(
    model: &str,
    cells: &[AttackCell],
    records: &[SampleRecord],
) -> Vec<AttackCell> {
    // (norm, ε) → the cells run there, in run order.
    let mut groups: Vec<((Norm, f64), Vec<&AttackCell>)> = Vec::new();
    for c in cells.iter().filter(|c| c.attack != AttackId::WorstCase) {
        match groups
            .iter_mut()
            .find(|((n, e), _)| *n == c.norm && *e == c.eps)
        {
            Some((_, v)) => v.push(c),
            None => groups.push(((c.norm, c.eps), vec![c])),
        }
    }
    let mut out = Vec::new();
    for ((norm, eps), group) in groups {
        if group
            .iter()
            .filter(|c| c.attack != AttackKind::Fgsm)
            .count()
            < 2
        {
            continue;
        }
        let mut picked: BTreeMap<usize, &SampleRecord> = BTreeMap::new();
        for c in &group {
            for r in records.iter().filter(|r| {
                r.model == model && r.source.is_none() && r.attack == c.attack && r.eps == eps
            }) {
                let p = pick(picked.get(&r.index).copied(), r);
                picked.insert(r.index, p);
            }
        }
        let n = picked.len();
        if n == 0 {
            continue;
        }
        let (mut correct, mut attacked, mut succ) = (0usize, 0usize, 0usize);
        let (mut linf, mut l2, mut loss) = (0f64, 0f64, 0f64);
        for r in picked.values() {
            correct += usize::from(r.adv_pred == r.label);
            loss += f64::from(r.loss);
            if r.attacked {
                attacked += 1;
                succ += usize::from(r.success);
                linf += f64::from(r.linf);
                l2 += f64::from(r.l2);
            }
        }
        let a = attacked.max(1) as f64;
        out.push(AttackCell {
            attack: AttackId::WorstCase,
            norm,
            eps,
            steps: None,
            images: n,
            accuracy: correct as f64 / n as f64,
            success_rate: succ as f64 / a,
            mean_linf: linf / a,
            mean_l2: l2 / a,
            mean_loss: loss / n as f64,
            gradients: group.iter().map(|c| c.gradients).sum(),
            queries: group.iter().map(|c| c.queries).sum(),
            seconds: group.iter().map(|c| c.seconds).sum(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(attack: &str, eps: f64) -> AttackCell {
        AttackCell {
            gradients: 10,
            queries: 3,
            ..super::super::test_cell(attack, eps, 0.0)
        }
    }

    fn rec(attack: &str, eps: f64, index: usize, adv_pred: u32, loss: f32) -> SampleRecord {
        SampleRecord {
            model: "m".into(),
            attack: attack.parse().unwrap(),
            source: None,
            eps,
            index,
            label: 1,
            target: None,
            clean_pred: if index == 3 { 0 } else { 1 },
            adv_pred,
            attacked: index != 3,
            success: adv_pred != 1 && index != 3,
            linf: if adv_pred != 1 {
                eps as f32
            } else {
                0.5 * eps as f32
            },
            l2: 1.0,
            loss,
        }
    }

    /// Oracle: counted by hand. Four images, label 1; image 3 is misclassified before any
    /// attack (not attacked). PGD breaks image 0, APGD-CE breaks image 1, neither breaks image
    /// 2: only image 2 survives both, 1 of 4, though each attack alone leaves 2 of 4. FGSM
    /// alone at 4/255 makes no worst case (it needs two attacks besides FGSM).
    #[test]
    fn an_image_survives_only_if_every_attack_leaves_it() {
        let e = 8.0 / 255.0;
        let cells = [
            cell("fgsm", e),
            cell("pgd", e),
            cell("apgd-ce", e),
            cell("fgsm", 4.0 / 255.0),
            cell("pgd", 4.0 / 255.0),
        ];
        let records = [
            rec("fgsm", e, 0, 1, 0.1),
            rec("fgsm", e, 1, 1, 0.2),
            rec("fgsm", e, 2, 1, 0.3),
            rec("fgsm", e, 3, 0, 2.0),
            rec("pgd", e, 0, 5, 3.0),
            rec("pgd", e, 1, 1, 0.9),
            rec("pgd", e, 2, 1, 0.4),
            rec("pgd", e, 3, 0, 2.0),
            rec("apgd-ce", e, 0, 1, 0.5),
            rec("apgd-ce", e, 1, 7, 2.5),
            rec("apgd-ce", e, 2, 1, 0.8),
            rec("apgd-ce", e, 3, 0, 2.0),
            // Another model's record, which must be ignored.
            SampleRecord {
                model: "other".into(),
                ..rec("pgd", e, 2, 9, 9.0)
            },
        ];
        let out = worst_case_cells("m", &cells, &records);
        assert_eq!(out.len(), 1, "{out:?}");
        let w = &out[0];
        assert_eq!((w.attack, w.eps, w.images), (AttackId::WorstCase, e, 4));
        assert_eq!(w.accuracy, 0.25);
        // Attacked: images 0, 1, 2; broken: 0 (PGD) and 1 (APGD-CE).
        assert!((w.success_rate - 2.0 / 3.0).abs() < 1e-12);
        // Picked losses: image 0 → PGD's 3.0, 1 → APGD-CE's 2.5, 2 → the highest, 0.8;
        // image 3 → FGSM's 2.0 (already wrong, first record).
        assert!((w.mean_loss - (3.0 + 2.5 + 0.8 + 2.0) / 4.0).abs() < 1e-6);
        // Picked L∞: ε for the two broken images, ε/2 for image 2.
        assert!((w.mean_linf - (2.5 * e) / 3.0).abs() < 1e-6);
        assert_eq!((w.gradients, w.queries), (30, 9));
    }
}
