//! Inline SVG charts: line charts drawn with plotters' SVG backend into a `String`, and a heatmap
//! and grouped bars written as SVG by hand.
//!
//! Text in plotters charts is laid out with plotters' built-in size estimate (no font files are
//! read); the browser draws it with its own sans-serif font. plotters escapes the text it writes;
//! the hand-written SVG escapes every string with [`esc`].

use std::fmt::Write as _;

use plotters::prelude::*;

use crate::html::esc;

/// Series colours (Tableau 10), in the order models are listed.
pub(crate) const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// Grid and legend-border grey, opaque (some SVG renderers ignore opacity).
const GRID: RGBColor = RGBColor(215, 215, 215);

fn palette(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

fn css_colour(i: usize) -> String {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    format!("rgb({r},{g},{b})")
}

/// One line of a line chart (its name goes in the [`html_legend`] with the same colour).
pub(crate) struct Series {
    /// (x, y) points, in drawing order; non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
    /// Palette slot (see [`Colours`]).
    pub colour: usize,
    /// Draw a marker at every point (per-epoch points); dense per-iteration lines go without.
    pub markers: bool,
}

/// Page-wide model colours: each model keeps one palette slot in every chart of a page, in the
/// order the models first appear (runs in order; in a run, trained models, then the adversarial
/// suite's, then the corruption suite's).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Colours {
    names: Vec<String>,
}

impl Colours {
    /// Gives `name` the next slot unless it has one.
    pub(crate) fn add(&mut self, name: &str) {
        if !self.names.iter().any(|n| n == name) {
            self.names.push(name.to_string());
        }
    }

    /// The slot of `name`; a name never added gets the slot after every added one.
    pub(crate) fn of(&self, name: &str) -> usize {
        self.names
            .iter()
            .position(|n| n == name)
            .unwrap_or(self.names.len())
    }

    /// The models in slot order.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// An [`html_legend`] of `names` in their page colours.
    pub(crate) fn legend<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> String {
        html_legend(names.into_iter().map(|n| (n, self.of(n))))
    }
}

/// How a line chart labels its axes.
pub(crate) struct LineSpec<'a> {
    /// Caption above the chart.
    pub title: &'a str,
    /// X axis description.
    pub x_desc: &'a str,
    /// Y axis description.
    pub y_desc: &'a str,
    /// Print x ticks as integers and leave fractional ticks blank.
    pub integer_x: bool,
    /// Y range; `None` picks one from the data.
    pub y_range: Option<(f64, f64)>,
    /// Size in pixels.
    pub size: (u32, u32),
}

/// A range covering `values` with 5% headroom, from zero if `from_zero`; never empty.
pub(crate) fn auto_range(values: impl IntoIterator<Item = f64>, from_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if from_zero {
        lo = lo.min(0.0);
    }
    // A single value gets room of half its size (at least 1) on each side, so that a chart
    // with one point has readable ticks.
    let pad = if hi - lo < 1e-9 {
        (hi.abs() * 0.5).max(1.0)
    } else {
        ((hi - lo) * 0.05).max(1e-3)
    };
    let lo = if from_zero && lo >= 0.0 {
        0.0
    } else {
        lo - pad
    };
    (lo, hi + pad)
}

/// A line chart with one line (and point markers) per series, coloured by series index, as an
/// `<svg>` string; on a drawing error, a `<p>` saying so. The legend is [`html_legend`], shared by
/// the charts of one grid (drawn inside, it would hide data).
pub(crate) fn line_chart(spec: &LineSpec<'_>, series: &[Series]) -> String {
    let mut buf = String::new();
    let result = draw_lines(&mut buf, spec, series);
    match result {
        Ok(()) => buf,
        Err(e) => format!("<p class=\"err\">chart failed: {}</p>", esc(&e)),
    }
}

fn draw_lines(buf: &mut String, spec: &LineSpec<'_>, series: &[Series]) -> Result<(), String> {
    let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let (mut x0, mut x1) = auto_range(
        series
            .iter()
            .flat_map(|s| s.points.iter().filter(finite).map(|p| p.0)),
        false,
    );
    if spec.integer_x {
        // The data's own x extent with a quarter step of room on each side.
        let (lo, hi) = series
            .iter()
            .flat_map(|s| s.points.iter().filter(finite).map(|p| p.0))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                (lo.min(x), hi.max(x))
            });
        if lo.is_finite() {
            (x0, x1) = (lo - 0.25, hi + 0.25);
        }
    }
    let (y0, y1) = spec.y_range.unwrap_or_else(|| {
        auto_range(
            series
                .iter()
                .flat_map(|s| s.points.iter().filter(finite).map(|p| p.1)),
            false,
        )
    });
    let integer_x = spec.integer_x;
    let x_fmt = move |x: &f64| {
        if !integer_x {
            format!("{}", (x * 1000.0).round() / 1000.0)
        } else if (x - x.round()).abs() < 1e-6 {
            format!("{}", x.round() as i64)
        } else {
            String::new()
        }
    };
    let e = |e: &dyn std::fmt::Display| e.to_string();
    {
        let root = SVGBackend::with_string(buf, spec.size).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(spec.title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(46)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc(spec.x_desc)
            .y_desc(spec.y_desc)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&|y| format!("{}", (y * 100.0).round() / 100.0))
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .axis_style(BLACK)
            .draw()
            .map_err(|x| e(&x))?;
        for s in series {
            let colour = palette(s.colour);
            let pts: Vec<(f64, f64)> = s.points.iter().filter(finite).copied().collect();
            let width = if s.markers { 2 } else { 1 };
            chart
                .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(width)))
                .map_err(|x| e(&x))?;
            if s.markers {
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                    .map_err(|x| e(&x))?;
            }
        }
        // Present explicitly so a write error is reported instead of dropped with the area.
        root.present().map_err(|x| e(&x))?;
    }
    Ok(())
}

/// A legend in HTML: one colour swatch (palette slot) and escaped name per entry.
pub(crate) fn html_legend<'a>(entries: impl IntoIterator<Item = (&'a str, usize)>) -> String {
    let mut s = String::from("<div class=\"legend\">");
    for (n, slot) in entries {
        let _ = write!(
            s,
            "<span><i style=\"background:{}\"></i>{}</span>",
            css_colour(slot),
            esc(n)
        );
    }
    s.push_str("</div>");
    s
}

/// Fill colour for a value in [0, 1]: a five-stop viridis-like ramp, dark (low) to yellow (high).
fn ramp(t: f64) -> (u8, u8, u8) {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let pos = t * (STOPS.len() - 1) as f64;
    let i = (pos.floor() as usize).min(STOPS.len() - 2);
    let f = pos - i as f64;
    let mix = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A heatmap of accuracies: one row per `rows` entry, one column per `cols` entry, each cell
/// coloured on the shared scale `[lo, hi]` and labelled with its value in %; `None` cells are
/// grey. Includes a colour-scale legend.
pub(crate) fn heatmap(
    title: &str,
    rows: &[String],
    cols: &[String],
    value: impl Fn(usize, usize) -> Option<f64>,
    (lo, hi): (f64, f64),
) -> String {
    let (label_w, cell_w, cell_h, top) = (130.0, 46.0, 17.0, 40.0);
    let width = label_w + cell_w * cols.len() as f64 + 20.0;
    let legend_y = top + cell_h * rows.len() as f64 + 14.0;
    let height = legend_y + 34.0;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"10\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"{}\" y=\"14\" text-anchor=\"middle\" font-size=\"13\">{}</text>",
        width / 2.0,
        esc(title)
    );
    for (j, c) in cols.iter().enumerate() {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            label_w + cell_w * (j as f64 + 0.5),
            top - 5.0,
            esc(c)
        );
    }
    let span = (hi - lo).max(1e-9);
    for (i, r) in rows.iter().enumerate() {
        let y = top + cell_h * i as f64;
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            label_w - 4.0,
            y + cell_h * 0.7,
            esc(r)
        );
        for j in 0..cols.len() {
            let x = label_w + cell_w * j as f64;
            match value(i, j).filter(|v| v.is_finite()) {
                Some(v) => {
                    let t = (v - lo) / span;
                    let (cr, cg, cb) = ramp(t);
                    let ink = if t > 0.55 { "black" } else { "white" };
                    let _ = write!(
                        s,
                        "<rect x=\"{x}\" y=\"{y}\" width=\"{cell_w}\" height=\"{cell_h}\" \
                         fill=\"rgb({cr},{cg},{cb})\" stroke=\"white\"/>\
                         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{ink}\">{:.1}</text>",
                        x + cell_w / 2.0,
                        y + cell_h * 0.7,
                        v * 100.0
                    );
                }
                None => {
                    let _ = write!(
                        s,
                        "<rect x=\"{x}\" y=\"{y}\" width=\"{cell_w}\" height=\"{cell_h}\" \
                         fill=\"#ddd\" stroke=\"white\"/>"
                    );
                }
            }
        }
    }
    let steps = 40;
    let bar_w = (cell_w * cols.len() as f64).max(120.0) / steps as f64;
    for k in 0..steps {
        let (cr, cg, cb) = ramp(k as f64 / (steps - 1) as f64);
        let _ = write!(
            s,
            "<rect x=\"{}\" y=\"{legend_y}\" width=\"{}\" height=\"10\" fill=\"rgb({cr},{cg},{cb})\"/>",
            label_w + bar_w * k as f64,
            bar_w + 0.5
        );
    }
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">accuracy %</text>\
         <text x=\"{label_w}\" y=\"{}\" text-anchor=\"start\">{:.1}</text>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.1}</text></svg>",
        label_w - 4.0,
        legend_y + 9.0,
        legend_y + 24.0,
        lo * 100.0,
        label_w + bar_w * steps as f64,
        legend_y + 24.0,
        hi * 100.0
    );
    s
}

/// Grouped vertical bars: one group per `groups` entry, one bar per series `(name, palette
/// slot, values)` (values are accuracies in [0, 1], drawn in %), with a y axis, the value above
/// each bar and a legend.
pub(crate) fn grouped_bars(
    title: &str,
    groups: &[String],
    series: &[(String, usize, Vec<Option<f64>>)],
) -> String {
    let (left, top, plot_h, bottom) = (44.0, 30.0, 180.0, 40.0);
    let per = series.len().max(1) as f64;
    let bar_w = 18.0;
    let group_w = bar_w * per + 16.0;
    let width = left + group_w * groups.len() as f64 + 10.0;
    let legend_h = 16.0 * series.len() as f64;
    let height = top + plot_h + bottom + legend_h;
    let max = series
        .iter()
        .flat_map(|(_, _, v)| v.iter().flatten().copied())
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    // Top of the axis: the next multiple of 10% above the largest value.
    let y_max = ((max * 10.0).floor() + 1.0).min(10.0) / 10.0;
    let y = |v: f64| top + plot_h * (1.0 - v / y_max);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"10\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"{}\" y=\"16\" text-anchor=\"middle\" font-size=\"13\">{}</text>",
        width / 2.0,
        esc(title)
    );
    for k in 0..=5 {
        let v = y_max * k as f64 / 5.0;
        let yy = y(v);
        let _ = write!(
            s,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{yy}\" y2=\"{yy}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.0}%</text>",
            width - 10.0,
            left - 4.0,
            yy + 3.0,
            v * 100.0
        );
    }
    for (g, name) in groups.iter().enumerate() {
        let gx = left + group_w * g as f64 + 8.0;
        for (k, (_, slot, vals)) in series.iter().enumerate() {
            if let Some(v) = vals.get(g).copied().flatten().filter(|v| v.is_finite()) {
                let x = gx + bar_w * k as f64;
                let _ = write!(
                    s,
                    "<rect x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>\
                     <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"8\">{:.1}</text>",
                    y(v),
                    bar_w - 2.0,
                    (plot_h * v / y_max).max(0.0),
                    css_colour(*slot),
                    x + bar_w / 2.0 - 1.0,
                    y(v) - 2.0,
                    v * 100.0
                );
            }
        }
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            gx + bar_w * per / 2.0,
            top + plot_h + 14.0,
            esc(name)
        );
    }
    let _ = write!(
        s,
        "<line x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{}\" stroke=\"black\"/>",
        top + plot_h
    );
    for (k, (name, slot, _)) in series.iter().enumerate() {
        let ly = top + plot_h + bottom + 16.0 * k as f64;
        let _ = write!(
            s,
            "<rect x=\"{left}\" y=\"{}\" width=\"12\" height=\"10\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\">{}</text>",
            ly - 9.0,
            css_colour(*slot),
            left + 16.0,
            ly,
            esc(name)
        );
    }
    s.push_str("</svg>");
    s
}

/// A scatter plot of `(x[i], y[i])` coloured by `class[i]` (palette order), as hand-written SVG
/// with a title and the data range on both axes.
pub(crate) fn scatter(title: &str, x: &[f32], y: &[f32], class: &[u32]) -> String {
    let (w, h, m) = (360.0, 320.0, 30.0);
    let n = x.len().min(y.len()).min(class.len());
    let pts: Vec<(f64, f64, u32)> = (0..n)
        .filter(|&i| x[i].is_finite() && y[i].is_finite())
        .map(|i| (f64::from(x[i]), f64::from(y[i]), class[i]))
        .collect();
    let (x0, x1) = auto_range(pts.iter().map(|p| p.0), false);
    let (y0, y1) = auto_range(pts.iter().map(|p| p.1), false);
    let sx = |v: f64| m + (v - x0) / (x1 - x0) * (w - 2.0 * m);
    let sy = |v: f64| h - m - (v - y0) / (y1 - y0) * (h - 2.0 * m);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\
         <rect x=\"{m}\" y=\"{m}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"rgb(215,215,215)\"/>\
         <text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"13\">{}</text>",
        w - 2.0 * m,
        h - 2.0 * m,
        w / 2.0,
        esc(title)
    );
    for (px, py, c) in &pts {
        let _ = write!(
            s,
            "<circle class=\"pt\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"1.8\" fill=\"{}\" fill-opacity=\"0.7\"/>",
            sx(*px),
            sy(*py),
            css_colour(*c as usize)
        );
    }
    let _ = write!(
        s,
        "<text x=\"{m}\" y=\"{}\" font-size=\"10\">x: {:.3} to {:.3}</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">y: {:.3} to {:.3}</text></svg>",
        h - 10.0,
        x0,
        x1,
        w - m,
        h - 10.0,
        y0,
        y1
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: plotters-svg escapes the text it writes (a title built from an attack name), and
    /// the HTML legend escapes names, so a hostile name never appears as markup.
    #[test]
    fn line_chart_and_legend_escape_text() {
        let legend = html_legend([("<script>alert(1)</script>", 0)]);
        assert!(legend.contains("&lt;script&gt;") && !legend.contains("<script"));
        let svg = line_chart(
            &LineSpec {
                title: "<script>alert(1)</script>",
                x_desc: "x",
                y_desc: "y",
                integer_x: true,
                y_range: None,
                size: (300, 200),
            },
            &[Series {
                points: vec![(1.0, 0.5), (2.0, 0.25)],
                colour: 0,
                markers: true,
            }],
        );
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"));
        assert!(!svg.contains("<script"));
    }

    /// Oracle: the ramp's end stops by construction, and the range helper's documented padding.
    #[test]
    fn ramp_and_range_ends() {
        assert_eq!(ramp(0.0), (68, 1, 84));
        assert_eq!(ramp(1.0), (253, 231, 37));
        assert_eq!(auto_range([0.2, 0.4], true), (0.0, 0.4 + 0.4 * 0.05));
        assert_eq!(auto_range(std::iter::empty(), false), (0.0, 1.0));
        // One value: half its size of room on each side.
        assert_eq!(auto_range([8.0], false), (4.0, 12.0));
    }

    /// Oracle: slots by hand: first appearance order, repeats keep their slot, an unknown name
    /// gets the next free slot; a legend paints each name in its slot's colour.
    #[test]
    fn colours_keep_one_slot_per_model() {
        let mut c = Colours::default();
        for n in ["cnn9-baseline", "cnn9-tanh-cosine", "cnn9-baseline"] {
            c.add(n);
        }
        assert_eq!(c.names(), ["cnn9-baseline", "cnn9-tanh-cosine"]);
        assert_eq!(
            (c.of("cnn9-tanh-cosine"), c.of("cnn9-baseline"), c.of("x")),
            (1, 0, 2)
        );
        let legend = c.legend(["cnn9-tanh-cosine"]);
        assert!(
            legend.contains(&format!("background:{}", css_colour(1))),
            "{legend}"
        );
    }
}
