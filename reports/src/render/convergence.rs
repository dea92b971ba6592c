//! The convergence section: loss and accuracy curves per epoch, and the last-epoch table.

use std::fmt::Write as _;

use super::guide;
use crate::charts::{html_legend, line_chart, LineSpec, Series};
use crate::html::{esc, pct};
use crate::TrainingHistory;

/// Training curves of every model, or a line saying there are none.
pub(super) fn convergence(p: &mut String, histories: &[TrainingHistory]) {
    p.push_str("<h3>Convergence</h3>");
    if histories.iter().all(|h| h.epochs.is_empty()) {
        p.push_str("<p>No training history (models were loaded, or no epoch finished).</p>");
        return;
    }
    guide(
        p,
        "Loss and accuracy at the end of each epoch, one line per model: train metrics use \
         augmented images in train mode, test metrics the test split in inference mode; curves \
         still moving at the last epoch mean training stopped before convergence.",
    );
    type Get = fn(&crate::EpochRecord) -> f64;
    let metrics: [(&str, &str, Get, bool); 4] = [
        ("Train loss", "cross-entropy", |e| e.train_loss, false),
        ("Test loss", "cross-entropy", |e| e.test_loss, false),
        (
            "Train accuracy",
            "accuracy %",
            |e| e.train_accuracy * 100.0,
            true,
        ),
        (
            "Test accuracy",
            "accuracy %",
            |e| e.test_accuracy * 100.0,
            true,
        ),
    ];
    p.push_str(&html_legend(histories.iter().map(|h| h.model.as_str())));
    p.push_str("<div class=\"grid\">");
    for (title, y_desc, get, _) in metrics {
        let series: Vec<Series> = histories
            .iter()
            .map(|h| Series {
                points: h.epochs.iter().map(|e| (e.epoch as f64, get(e))).collect(),
            })
            .collect();
        let svg = line_chart(
            &LineSpec {
                title,
                x_desc: "epoch",
                y_desc,
                integer_x: true,
                y_range: None,
                size: (460, 300),
            },
            &series,
        );
        let _ = write!(p, "<figure>{svg}</figure>");
    }
    p.push_str("</div>");
    p.push_str(
        "<table><tr><th class=\"l\">model</th><th>epochs</th><th>train loss</th>\
         <th>test loss</th><th>train acc.</th><th>test acc.</th><th>train time (s)</th>\
         <th>images/s</th></tr>",
    );
    for h in histories {
        if let Some(e) = h.last() {
            let _ = write!(
                p,
                "<tr><td class=\"l\">{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td>\
                 <td>{}</td><td>{:.1}</td><td>{:.0}</td></tr>",
                esc(&h.model),
                e.epoch,
                e.train_loss,
                e.test_loss,
                pct(e.train_accuracy),
                pct(e.test_accuracy),
                e.wall_time_s,
                e.images_per_s
            );
        }
    }
    p.push_str("</table>");
    guide(p, "The last epoch of each model; train time sums training across resumes, evaluation excluded.");
}
