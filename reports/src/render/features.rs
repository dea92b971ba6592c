//! The 2-D features section: one scatter plot per `feat2d` model.

use super::guide;
use crate::charts::{html_legend, scatter};
use crate::Features2d;

/// 2-D feature scatter plots, one per `feat2d` model (the paper's Fig. 1 and 4).
pub(super) fn features_section(p: &mut String, features: &[Features2d]) {
    if features.is_empty() {
        return;
    }
    p.push_str("<h3>2-D features (paper Fig. 1 and 4)</h3>");
    guide(
        p,
        "Each point is a test image placed by the model's two penultimate features and coloured by \
         its true class: decoupled operators with bounded magnitudes should show class clusters \
         along angular directions, the baseline clusters spread radially.",
    );
    if let Some(f) = features.first() {
        p.push_str(&html_legend(
            f.classes.iter().enumerate().map(|(i, c)| (c.as_str(), i)),
        ));
    }
    p.push_str("<div class=\"grid\">");
    for f in features {
        p.push_str(&scatter(&f.model, &f.x, &f.y, &f.labels));
    }
    p.push_str("</div>");
}
