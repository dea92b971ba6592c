//! Inline SVG charts, every one drawn with plotters' SVG backend into a `String`: line charts,
//! grouped bars, heatmaps, scatter plots and the clean-vs-robust trade-off.
//!
//! Text is laid out with plotters' built-in size estimate (no font files are read); the browser
//! draws it with its own sans-serif font. plotters escapes the text it writes; the HTML legends
//! escape names with [`esc`].

use std::fmt::Write as _;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::html::esc;
use crate::AdvTrainAttack;

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
    /// Draw y on a log scale: the chart plots log10(y) (points with y <= 0 are skipped) and
    /// labels the axis with y itself.
    pub log_y: bool,
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
    if spec.log_y {
        let logged: Vec<Series> = series
            .iter()
            .map(|s| Series {
                points: s
                    .points
                    .iter()
                    .filter(|p| p.1 > 0.0)
                    .map(|&(x, y)| (x, y.log10()))
                    .collect(),
                colour: s.colour,
                markers: s.markers,
            })
            .collect();
        let linear = LineSpec {
            log_y: false,
            y_range: spec
                .y_range
                .map(|(lo, hi)| (lo.max(1e-12).log10(), hi.log10())),
            ..*spec
        };
        return draw_lines_with(buf, &linear, &logged, &|y: &f64| {
            let v = 10f64.powf(*y);
            format!("{}", (v * 1000.0).round() / 1000.0)
        });
    }
    draw_lines_with(buf, spec, series, &|y: &f64| {
        format!("{}", (y * 100.0).round() / 100.0)
    })
}

fn draw_lines_with(
    buf: &mut String,
    spec: &LineSpec<'_>,
    series: &[Series],
    y_fmt: &dyn Fn(&f64) -> String,
) -> Result<(), String> {
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
            .y_label_formatter(y_fmt)
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

/// Draws into an SVG string with plotters: `draw` gets the whole drawing area (white) and
/// presents it; a drawing error becomes a `<p>` saying so.
fn plotters_svg(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Result<(), String>,
) -> String {
    let mut buf = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| e.to_string())
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(|e| e.to_string()))
    };
    match result {
        Ok(()) => buf,
        Err(e) => format!("<p class=\"err\">chart failed: {}</p>", esc(&e)),
    }
}

/// A text style of plotters size `size` (the SVG backend writes `size / 1.24` px), anchored at
/// `(h, v)`, in `colour`.
fn text_style(size: u32, h: HPos, v: VPos, colour: RGBColor) -> TextStyle<'static> {
    ("sans-serif", size)
        .into_font()
        .color(&colour)
        .pos(Pos::new(h, v))
}

/// A heatmap of accuracies: one row per `rows` entry, one column per `cols` entry, each cell
/// coloured on the shared scale `[lo, hi]` and labelled with its value in %; `None` cells are
/// grey. Includes a colour-scale legend. Drawn with plotters in pixel coordinates.
pub(crate) fn heatmap(
    title: &str,
    rows: &[String],
    cols: &[String],
    value: impl Fn(usize, usize) -> Option<f64>,
    (lo, hi): (f64, f64),
) -> String {
    let (label_w, cell_w, cell_h, top) = (130i32, 46i32, 17i32, 40i32);
    let width = label_w + cell_w * cols.len() as i32 + 20;
    let legend_y = top + cell_h * rows.len() as i32 + 14;
    let height = legend_y + 34;
    let e = |x: DrawingAreaErrorKind<_>| x.to_string();
    plotters_svg((width as u32, height as u32), |root| {
        root.draw(&Text::new(
            title.to_string(),
            (width / 2, 14),
            text_style(16, HPos::Center, VPos::Center, BLACK),
        ))
        .map_err(e)?;
        for (j, c) in cols.iter().enumerate() {
            root.draw(&Text::new(
                c.clone(),
                (label_w + cell_w * j as i32 + cell_w / 2, top - 8),
                text_style(12, HPos::Center, VPos::Center, BLACK),
            ))
            .map_err(e)?;
        }
        let span = (hi - lo).max(1e-9);
        for (i, r) in rows.iter().enumerate() {
            let y = top + cell_h * i as i32;
            root.draw(&Text::new(
                r.clone(),
                (label_w - 4, y + cell_h / 2),
                text_style(12, HPos::Right, VPos::Center, BLACK),
            ))
            .map_err(e)?;
            for j in 0..cols.len() {
                let x = label_w + cell_w * j as i32;
                let cell = [(x, y), (x + cell_w, y + cell_h)];
                match value(i, j).filter(|v| v.is_finite()) {
                    Some(v) => {
                        let t = (v - lo) / span;
                        let (cr, cg, cb) = ramp(t);
                        let ink = if t > 0.55 { BLACK } else { WHITE };
                        root.draw(&Rectangle::new(cell, RGBColor(cr, cg, cb).filled()))
                            .map_err(e)?;
                        root.draw(&Text::new(
                            format!("{:.1}", v * 100.0),
                            (x + cell_w / 2, y + cell_h / 2),
                            text_style(12, HPos::Center, VPos::Center, ink),
                        ))
                        .map_err(e)?;
                    }
                    None => {
                        root.draw(&Rectangle::new(cell, RGBColor(221, 221, 221).filled()))
                            .map_err(e)?;
                    }
                }
                root.draw(&Rectangle::new(cell, WHITE.stroke_width(1)))
                    .map_err(e)?;
            }
        }
        let steps = 40;
        let bar_w = (cell_w * cols.len() as i32).max(120) as f64 / steps as f64;
        for k in 0..steps {
            let (cr, cg, cb) = ramp(k as f64 / (steps - 1) as f64);
            let x0 = label_w + (bar_w * k as f64) as i32;
            let x1 = label_w + (bar_w * (k + 1) as f64).ceil() as i32;
            root.draw(&Rectangle::new(
                [(x0, legend_y), (x1, legend_y + 10)],
                RGBColor(cr, cg, cb).filled(),
            ))
            .map_err(e)?;
        }
        for (text, at, h) in [
            (
                "accuracy %".to_string(),
                (label_w - 4, legend_y + 5),
                HPos::Right,
            ),
            (
                format!("{:.1}", lo * 100.0),
                (label_w, legend_y + 20),
                HPos::Left,
            ),
            (
                format!("{:.1}", hi * 100.0),
                (label_w + (bar_w * steps as f64) as i32, legend_y + 20),
                HPos::Right,
            ),
        ] {
            root.draw(&Text::new(text, at, text_style(12, h, VPos::Center, BLACK)))
                .map_err(e)?;
        }
        Ok(())
    })
}

/// Grouped vertical bars: one group per `groups` entry, one bar per series `(name, palette
/// slot, values)` (values are shares in [0, 1], drawn in %), with a y axis in % and the value
/// above each bar. The series' names are in the page's HTML legend (colours are page-wide).
pub(crate) fn grouped_bars(
    title: &str,
    groups: &[String],
    series: &[(String, usize, Vec<Option<f64>>)],
) -> String {
    let per = series.len().max(1);
    // Each group gets room for its bars and for a label of about 10 characters.
    let width = (70 + groups.len() * (18 * per + 16).max(62)).max(260) as u32;
    let max = series
        .iter()
        .flat_map(|(_, _, v)| v.iter().flatten().copied())
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    // Top of the axis: the next multiple of 10% above the largest value.
    let y_max = ((max * 10.0).floor() + 1.0).min(10.0) * 10.0;
    let g = groups.len().max(1) as f64;
    plotters_svg((width, 280), |root| {
        let e = |x: &dyn std::fmt::Display| x.to_string();
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 13))
            .margin(6)
            .x_label_area_size(28)
            .y_label_area_size(40)
            .build_cartesian_2d(-0.5..g - 0.5, 0.0..y_max)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(groups.len() + 1)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    groups.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_labels(6)
            .y_label_formatter(&|y| format!("{y:.0}%"))
            .label_style(("sans-serif", 11))
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .axis_style(BLACK)
            .draw()
            .map_err(|x| e(&x))?;
        let bw = 0.8 / per as f64;
        for (k, (_, slot, vals)) in series.iter().enumerate() {
            let colour = palette(*slot);
            for (gi, v) in vals.iter().enumerate() {
                let Some(v) = v.filter(|v| v.is_finite()) else {
                    continue;
                };
                let x0 = gi as f64 - 0.4 + bw * k as f64;
                let (x1, top) = (x0 + bw * 0.9, v * 100.0);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x0, 0.0), (x1, top)],
                        colour.filled(),
                    )))
                    .map_err(|x| e(&x))?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!("{top:.1}"),
                        ((x0 + x1) / 2.0, top),
                        text_style(11, HPos::Center, VPos::Bottom, BLACK),
                    )))
                    .map_err(|x| e(&x))?;
            }
        }
        Ok(())
    })
}

/// A scatter plot of `(x[i], y[i])` coloured by `class[i]` (palette order), with a title and
/// both axes.
pub(crate) fn scatter(title: &str, x: &[f32], y: &[f32], class: &[u32]) -> String {
    let n = x.len().min(y.len()).min(class.len());
    let pts: Vec<(f64, f64, u32)> = (0..n)
        .filter(|&i| x[i].is_finite() && y[i].is_finite())
        .map(|i| (f64::from(x[i]), f64::from(y[i]), class[i]))
        .collect();
    let (x0, x1) = auto_range(pts.iter().map(|p| p.0), false);
    let (y0, y1) = auto_range(pts.iter().map(|p| p.1), false);
    plotters_svg((360, 340), |root| {
        let e = |x: &dyn std::fmt::Display| x.to_string();
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 13))
            .margin(6)
            .x_label_area_size(30)
            .y_label_area_size(46)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc("feature 1")
            .y_desc("feature 2")
            .x_labels(5)
            .y_labels(5)
            .label_style(("sans-serif", 11))
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .axis_style(BLACK)
            .draw()
            .map_err(|x| e(&x))?;
        chart
            .draw_series(pts.iter().map(|&(px, py, c)| {
                Circle::new((px, py), 2, palette(c as usize).mix(0.7).filled())
            }))
            .map_err(|x| e(&x))?;
        Ok(())
    })
}

/// How a point of [`trade_off_chart`] is drawn: the model's training.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Marker {
    /// Standard training.
    Circle,
    /// FGSM training.
    Triangle,
    /// FGSM-RS training.
    Diamond,
    /// PGD (or any other) adversarial training.
    Square,
}

impl Marker {
    /// The marker of a model trained as its recorded `adversarial_training` says (`fgsm 8/255
    /// ...`, `fgsm-rs ...`, `pgd-7 ...`; [`AdvTrainAttack::of_recorded`]), `None` for standard
    /// training.
    pub(crate) fn of_training(adversarial_training: Option<&str>) -> Marker {
        match adversarial_training.map(AdvTrainAttack::of_recorded) {
            None => Marker::Circle,
            Some(Some(AdvTrainAttack::Fgsm)) => Marker::Triangle,
            Some(Some(AdvTrainAttack::FgsmRs)) => Marker::Diamond,
            Some(Some(AdvTrainAttack::Pgd) | None) => Marker::Square,
        }
    }

    /// The marker's symbol in the HTML legend.
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Marker::Circle => "●",
            Marker::Triangle => "▲",
            Marker::Diamond => "◆",
            Marker::Square => "■",
        }
    }
}

/// One model in [`trade_off_chart`]: accuracies as fractions with their 95 % intervals.
pub(crate) struct TradeOffPoint {
    /// Clean accuracy.
    pub clean: f64,
    /// Clean accuracy's interval `(lo, hi)`.
    pub clean_ci: (f64, f64),
    /// Robust accuracy under the strongest attack.
    pub robust: f64,
    /// Robust accuracy's interval `(lo, hi)`.
    pub robust_ci: (f64, f64),
    /// Palette slot (the operator).
    pub colour: usize,
    /// Marker (the training).
    pub marker: Marker,
}

/// Robust against clean accuracy, in %: one marker per model, coloured by `colour` and shaped
/// by `marker`, with its two 95 % intervals as error bars, so a model that buys robustness with
/// clean accuracy sits up and to the left of one that does not.
pub(crate) fn trade_off_chart(title: &str, y_desc: &str, points: &[TradeOffPoint]) -> String {
    let pc = |v: f64| 100.0 * v;
    let (x0, x1) = auto_range(
        points
            .iter()
            .flat_map(|p| [pc(p.clean_ci.0), pc(p.clean_ci.1)]),
        false,
    );
    let (_, y1) = auto_range(points.iter().map(|p| pc(p.robust_ci.1)), true);
    plotters_svg((460, 360), |root| {
        let e = |x: &dyn std::fmt::Display| x.to_string();
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 13))
            .margin(8)
            .x_label_area_size(34)
            .y_label_area_size(46)
            .build_cartesian_2d(x0..x1, 0.0..y1)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc("clean accuracy (%)")
            .y_desc(y_desc)
            .x_labels(6)
            .y_labels(6)
            .label_style(("sans-serif", 11))
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .axis_style(BLACK)
            .draw()
            .map_err(|x| e(&x))?;
        for p in points {
            let (x, y) = (pc(p.clean), pc(p.robust));
            let colour = palette(p.colour);
            let bar = colour.mix(0.6).stroke_width(1);
            chart
                .draw_series([
                    PathElement::new(vec![(x, pc(p.robust_ci.0)), (x, pc(p.robust_ci.1))], bar),
                    PathElement::new(vec![(pc(p.clean_ci.0), y), (pc(p.clean_ci.1), y)], bar),
                ])
                .map_err(|x| e(&x))?;
            let fill = colour.filled();
            let drawn = match p.marker {
                Marker::Circle => chart.draw_series([Circle::new((x, y), 5, fill)]),
                Marker::Triangle => chart.draw_series([TriangleMarker::new((x, y), 6, fill)]),
                Marker::Diamond => chart.draw_series([EmptyElement::at((x, y))
                    + Polygon::new(vec![(0, -7), (6, 0), (0, 7), (-6, 0)], fill)]),
                Marker::Square => chart.draw_series([
                    EmptyElement::at((x, y)) + Rectangle::new([(-5, -5), (5, 5)], fill)
                ]),
            };
            drawn.map_err(|x| e(&x))?;
        }
        Ok(())
    })
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
                log_y: false,
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

    /// Oracle: the fixture by hand: two models, one standard (a circle) and one FGSM-RS-trained
    /// (a diamond, a 4-point polygon), each with a vertical and a horizontal error bar; the
    /// training labels map to their markers as documented.
    #[test]
    fn trade_off_chart_draws_one_marker_and_two_bars_per_model() {
        assert_eq!(Marker::of_training(None), Marker::Circle);
        assert_eq!(Marker::of_training(Some("fgsm 8/255")), Marker::Triangle);
        assert_eq!(Marker::of_training(Some("fgsm-rs 8/255")), Marker::Diamond);
        assert_eq!(Marker::of_training(Some("pgd-3 8/255")), Marker::Square);
        let point = |clean, robust, marker| TradeOffPoint {
            clean,
            clean_ci: (clean - 0.02, clean + 0.02),
            robust,
            robust_ci: (robust - 0.03, robust + 0.03),
            colour: 0,
            marker,
        };
        let svg = trade_off_chart(
            "robust vs clean",
            "PGD accuracy (%)",
            &[
                point(0.85, 0.05, Marker::Circle),
                point(0.75, 0.3, Marker::Diamond),
            ],
        );
        assert!(svg.starts_with("<svg"), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 1, "{svg}");
        assert_eq!(svg.matches("<polygon").count(), 1, "{svg}");
        // The error bars alone are drawn at opacity 0.6 (markers and mesh are opaque).
        assert_eq!(svg.matches("opacity=\"0.6\"").count(), 4, "{svg}");
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

    /// Oracle: log10 by hand: points at y = 0.1 and 10 plot at -1 and 1, so the axis carries the
    /// decades 0.1, 1 and 10 as labels (printed as y, not log10 y); y <= 0 is skipped, not an
    /// error.
    #[test]
    fn log_scale_labels_the_axis_in_the_data_units() {
        let svg = line_chart(
            &LineSpec {
                title: "loss",
                x_desc: "x",
                y_desc: "y",
                integer_x: true,
                y_range: None,
                log_y: true,
                size: (300, 200),
            },
            &[Series {
                points: vec![(1.0, 0.1), (2.0, 10.0), (3.0, 0.0)],
                colour: 0,
                markers: true,
            }],
        );
        assert!(svg.starts_with("<svg"), "{svg}");
        for label in ["0.1", "1", "10"] {
            assert!(
                svg.contains(&format!(">\n{label}\n</text>")),
                "no tick {label}"
            );
        }
        assert_eq!(svg.matches("<circle").count(), 2);
    }
}
