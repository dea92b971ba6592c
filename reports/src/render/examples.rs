//! The example sections: adversarial images with their magnified perturbations, and corrupted
//! images, each with the models' predictions.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::guide;
use crate::html::{attack_name, eps as fmt_eps, esc};
use crate::images::{magnified_perturbation, png_data_uri};
use crate::{AdversarialSummary, AttackId, CorruptionSummary, Norm};

/// An example PNG as an `<img>`, or a note naming the missing file.
fn img(p: &mut String, images: &BTreeMap<String, Vec<u8>>, path: &str, alt: &str) {
    match images.get(path).and_then(|b| png_data_uri(b)) {
        Some(uri) => {
            let _ = write!(p, "<img class=\"px\" src=\"{uri}\" alt=\"{}\">", esc(alt));
        }
        None => {
            let _ = write!(p, "<span class=\"missing\">missing: {}</span>", esc(path));
        }
    }
}

/// A predicted class, red when it is not `label`.
fn pred(p: &mut String, label: &str, predicted: &str) {
    let cls = if label == predicted {
        ""
    } else {
        " class=\"wrong\""
    };
    let _ = write!(p, "<div{cls}>{}</div>", esc(predicted));
}

/// Per model: clean images, then each attack's adversarial image, magnified perturbation and
/// prediction.
pub(super) fn adversarial_examples(
    p: &mut String,
    s: &AdversarialSummary,
    images: &BTreeMap<String, Vec<u8>>,
) {
    if s.examples.is_empty() {
        return;
    }
    p.push_str("<h3>Adversarial examples</h3>");
    guide(
        p,
        "Per model: the clean images (chosen among those every model classifies correctly, \
         where the run has enough) with their true and predicted class, then for each attack at \
         the headline budget the adversarial image, its perturbation adv − clean magnified \
         around grey (grey: unchanged; lighter or darker: a channel raised or lowered; ±ε is full \
         contrast, for L2 attacks the image's largest change), and the prediction (red when \
         wrong); a uniformly grey perturbation means the clean image was misclassified, so it \
         was not attacked.",
    );
    let mut models: Vec<&str> = Vec::new();
    for e in &s.examples {
        if !models.contains(&e.model.as_str()) {
            models.push(&e.model);
        }
    }
    for (k, model) in models.iter().enumerate() {
        let ex: Vec<_> = s.examples.iter().filter(|e| e.model == *model).collect();
        let mut indices: Vec<usize> = ex.iter().map(|e| e.index).collect();
        indices.sort_unstable();
        indices.dedup();
        let mut attacks: Vec<AttackId> = Vec::new();
        for e in &ex {
            if !attacks.contains(&e.attack) {
                attacks.push(e.attack);
            }
        }
        let m = s.models.iter().find(|m| m.model == *model);
        let _ = write!(
            p,
            "<details{}><summary>{}</summary><table class=\"ex\"><tr><th class=\"l\">image</th>",
            if k == 0 { " open" } else { "" },
            esc(model)
        );
        for i in &indices {
            let _ = write!(p, "<th>#{i}</th>");
        }
        p.push_str("</tr><tr><th class=\"l\">clean<br>true / predicted</th>");
        for i in &indices {
            p.push_str("<td>");
            if let Some(e) = ex.iter().find(|e| e.index == *i) {
                img(p, images, &e.clean_png, "clean");
                let _ = write!(p, "<div>{}</div>", esc(&e.label));
                pred(p, &e.label, &e.clean_pred);
            }
            p.push_str("</td>");
        }
        p.push_str("</tr>");
        for &a in &attacks {
            let first = ex.iter().find(|e| e.attack == a);
            let e_a = first.map(|e| e.eps).unwrap_or(0.0);
            let norm = m
                .and_then(|m| m.cells.iter().find(|c| c.attack == a))
                .map_or(Norm::Linf, |c| c.norm);
            let _ = write!(
                p,
                "<tr><th class=\"l\">{} ε={}<br>adv. / perturbation</th>",
                esc(&attack_name(a)),
                esc(&fmt_eps(e_a, norm))
            );
            for i in &indices {
                p.push_str("<td>");
                if let Some(e) = ex.iter().find(|e| e.attack == a && e.index == *i) {
                    img(p, images, &e.adv_png, "adversarial");
                    let scale = (norm == Norm::Linf).then_some(e.eps);
                    let diff = images
                        .get(&e.clean_png)
                        .zip(images.get(&e.adv_png))
                        .and_then(|(c, a)| magnified_perturbation(c, a, scale))
                        .and_then(|png| png_data_uri(&png));
                    match diff {
                        Some(uri) => {
                            let _ =
                                write!(p, "<img class=\"px\" src=\"{uri}\" alt=\"perturbation\">");
                        }
                        None => p.push_str("<span class=\"missing\">no perturbation</span>"),
                    }
                    pred(p, &e.label, &e.adv_pred);
                }
                p.push_str("</td>");
            }
            p.push_str("</tr>");
        }
        p.push_str("</table></details>");
    }
}

/// Per test image: the clean image and every corruption and severity, with every model's
/// prediction.
pub(super) fn corruption_examples(
    p: &mut String,
    s: &CorruptionSummary,
    images: &BTreeMap<String, Vec<u8>>,
) {
    if s.examples.is_empty() {
        return;
    }
    p.push_str("<h3>Corrupted examples</h3>");
    guide(
        p,
        "Per test image: the clean image, then each corruption at severities 1 to 5, each with \
         every model's prediction (red when wrong).",
    );
    let mut indices: Vec<usize> = s.examples.iter().map(|e| e.index).collect();
    indices.sort_unstable();
    indices.dedup();
    let mut corruptions: Vec<&str> = Vec::new();
    let mut max_sev = 0u8;
    for e in &s.examples {
        if e.corruption != "clean" && !corruptions.contains(&e.corruption.as_str()) {
            corruptions.push(&e.corruption);
        }
        max_sev = max_sev.max(e.severity);
    }
    let cell = |p: &mut String, e: &crate::CorruptionExample| {
        img(p, images, &e.png, &e.corruption);
        for (model, predicted) in &e.predictions {
            let cls = if *predicted == e.label {
                ""
            } else {
                " class=\"wrong\""
            };
            let _ = write!(p, "<div{cls}>{}: {}</div>", esc(model), esc(predicted));
        }
    };
    for (k, i) in indices.iter().enumerate() {
        let ex: Vec<_> = s.examples.iter().filter(|e| e.index == *i).collect();
        let label = ex.first().map(|e| e.label.as_str()).unwrap_or("");
        let _ = write!(
            p,
            "<details{}><summary>image #{i} (true class: {})</summary><table class=\"ex\">",
            if k == 0 { " open" } else { "" },
            esc(label)
        );
        if let Some(c) = ex.iter().find(|e| e.corruption == "clean") {
            p.push_str("<tr><th class=\"l\">clean</th><td>");
            cell(p, c);
            p.push_str("</td></tr>");
        }
        p.push_str("<tr><th class=\"l\">corruption</th>");
        for sev in 1..=max_sev {
            let _ = write!(p, "<th>severity {sev}</th>");
        }
        p.push_str("</tr>");
        for c in &corruptions {
            let _ = write!(p, "<tr><th class=\"l\">{}</th>", esc(c));
            for sev in 1..=max_sev {
                p.push_str("<td>");
                if let Some(e) = ex.iter().find(|e| e.corruption == *c && e.severity == sev) {
                    cell(p, e);
                }
                p.push_str("</td>");
            }
            p.push_str("</tr>");
        }
        p.push_str("</table></details>");
    }
}
