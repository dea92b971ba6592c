//! The convergence section: training curves per logging window, test curves per epoch, and
//! the last-epoch table.

use std::fmt::Write as _;

use super::guide;
use crate::charts::{line_chart, Colours, LineSpec, Series};
use crate::html::{esc, pct};
use crate::{EpochRecord, IterationRecord, TrainingHistory};

/// Training curves of every model, or a line saying there are none.
pub(super) fn convergence(p: &mut String, histories: &[TrainingHistory], colours: &Colours) {
    p.push_str("<h3>Convergence</h3>");
    if histories.iter().all(|h| h.epochs.is_empty()) {
        p.push_str("<p>No training history (models were loaded, or no epoch finished).</p>");
        return;
    }
    guide(
        p,
        "Training loss and accuracy as running means over the logging window (every few steps, \
         augmented images in train mode; per epoch where no steps were logged), and test loss and \
         accuracy at the end of each epoch (test split, inference mode), one colour per model; \
         curves still moving at the last epoch mean training stopped before convergence.",
    );
    p.push_str(&colours.legend(histories.iter().map(|h| h.model.as_str())));
    curves(p, histories, colours);
    last_epoch_table(p, histories);
}

/// The grid of training and test loss and accuracy charts, then the loss charts again on a log
/// scale, folded under the grid.
fn curves(p: &mut String, histories: &[TrainingHistory], colours: &Colours) {
    type Get = fn(&EpochRecord) -> f64;
    type GetIt = fn(&IterationRecord) -> f64;
    let train: [(&str, &str, Get, GetIt); 2] = [
        (
            "Training loss",
            "cross-entropy",
            |e| e.train_loss,
            |i| i.train_loss,
        ),
        (
            "Training accuracy",
            "accuracy %",
            |e| e.train_accuracy * 100.0,
            |i| i.train_accuracy * 100.0,
        ),
    ];
    let test: [(&str, &str, Get); 2] = [
        ("Test loss", "cross-entropy", |e| e.test_loss),
        ("Test accuracy", "accuracy %", |e| e.test_accuracy * 100.0),
    ];
    p.push_str("<div class=\"grid\">");
    // The loss charts again on a log scale, folded under the grid.
    let mut log_loss = String::new();
    for ((title, y_desc, get, get_it), (t_title, t_desc, t_get)) in train.into_iter().zip(test) {
        let series = train_series(histories, colours, get, get_it);
        p.push_str(&figure(title, y_desc, false, false, &series));
        if y_desc == "cross-entropy" {
            log_loss.push_str(&figure(
                title,
                "cross-entropy (log scale)",
                false,
                true,
                &series,
            ));
        }
        let series = test_series(histories, colours, t_get);
        p.push_str(&figure(t_title, t_desc, true, false, &series));
        if t_desc == "cross-entropy" {
            log_loss.push_str(&figure(
                t_title,
                "cross-entropy (log scale)",
                true,
                true,
                &series,
            ));
        }
    }
    p.push_str("</div>");
    let _ = write!(
        p,
        "<details><summary>The losses on a log scale</summary><div class=\"grid\">{log_loss}</div></details>"
    );
}

/// A line chart against the epoch, 460 × 300, in a `<figure>`.
fn figure(title: &str, y_desc: &str, integer_x: bool, log_y: bool, series: &[Series]) -> String {
    let svg = line_chart(
        &LineSpec {
            title,
            x_desc: "epoch",
            y_desc,
            integer_x,
            y_range: None,
            log_y,
            size: (460, 300),
        },
        series,
    );
    format!("<figure>{svg}</figure>")
}

/// One training curve per model: `get_it` of each logged window, at its fraction of an epoch,
/// or `get` of each epoch (with markers) where the model logged no windows.
fn train_series(
    histories: &[TrainingHistory],
    colours: &Colours,
    get: fn(&EpochRecord) -> f64,
    get_it: fn(&IterationRecord) -> f64,
) -> Vec<Series> {
    histories
        .iter()
        .map(|h| {
            let per_epoch = h.epochs.first().map_or(0, |e| e.iteration);
            if h.iterations.is_empty() || per_epoch == 0 {
                Series {
                    points: h.epochs.iter().map(|e| (e.epoch as f64, get(e))).collect(),
                    colour: colours.of(&h.model),
                    markers: true,
                }
            } else {
                Series {
                    points: h
                        .iterations
                        .iter()
                        .map(|i| (i.iteration as f64 / per_epoch as f64, get_it(i)))
                        .collect(),
                    colour: colours.of(&h.model),
                    markers: false,
                }
            }
        })
        .collect()
}

/// One test curve per model: `get` of each epoch, with markers.
fn test_series(
    histories: &[TrainingHistory],
    colours: &Colours,
    get: fn(&EpochRecord) -> f64,
) -> Vec<Series> {
    histories
        .iter()
        .map(|h| Series {
            points: h.epochs.iter().map(|e| (e.epoch as f64, get(e))).collect(),
            colour: colours.of(&h.model),
            markers: true,
        })
        .collect()
}

/// The last epoch of each model: its losses, accuracies, training time and throughput.
fn last_epoch_table(p: &mut String, histories: &[TrainingHistory]) {
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
