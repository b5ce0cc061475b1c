//! Line charts on log-log axes, as hand-written SVG: a few panels side by
//! side, one line per series, a shared legend below. SVG is text, so a
//! chart is a string built with `write!`; no plotting crate needed.
//!
//! ```
//! use examples::measure::plot::{svg, Panel, Series};
//! let series = vec![Series { label: "epoll".into(), points: vec![(1.0, Some(10.0)), (100.0, Some(1000.0))] }];
//! let chart = svg("demo", &[Panel { title: "msgs/s".into(), x_label: "N".into(), y_label: "msgs/s".into(), series }]);
//! assert!(chart.starts_with("<svg") && chart.contains("epoll") && chart.contains("<polyline"));
//! ```

use std::fmt::Write as _;

/// One line of a panel.
#[derive(Clone, Debug)]
pub struct Series {
    /// Its name in the legend.
    pub label: String,
    /// `(x, y)` points in order of x; a `None` (or non-positive) y has no
    /// place on a log axis and breaks the line there.
    pub points: Vec<(f64, Option<f64>)>,
}

/// One chart.
#[derive(Clone, Debug)]
pub struct Panel {
    /// Above the chart.
    pub title: String,
    /// Under the x axis.
    pub x_label: String,
    /// Beside the y axis.
    pub y_label: String,
    /// Its lines; the legend names them by the first panel's labels, so
    /// every panel should list the same series in the same order.
    pub series: Vec<Series>,
}

const PANEL_WIDTH: f64 = 480.0;
const PANEL_HEIGHT: f64 = 360.0;
/// Room around a panel's plot area: left (y tick labels and y label),
/// right, top (panel title), bottom (x tick labels and x label).
const MARGIN: (f64, f64, f64, f64) = (78.0, 24.0, 56.0, 52.0);
const TITLE_HEIGHT: f64 = 30.0;
const LEGEND_ROW: f64 = 22.0;
const LEGEND_ITEM_WIDTH: f64 = 200.0;
const COLORS: [&str; 10] =
    ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

/// The panels side by side under `title`, with one legend for all.
pub fn svg(title: &str, panels: &[Panel]) -> String {
    let labels: Vec<&str> =
        panels.first().map(|p| p.series.iter().map(|s| s.label.as_str()).collect()).unwrap_or_default();
    let width = PANEL_WIDTH * panels.len().max(1) as f64;
    let per_row = ((width / LEGEND_ITEM_WIDTH).floor() as usize).max(1);
    let legend_rows = labels.len().div_ceil(per_row);
    let height = TITLE_HEIGHT + PANEL_HEIGHT + LEGEND_ROW * legend_rows as f64 + 10.0;

    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="20" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"#,
        width / 2.0,
        escape(title)
    );
    for (i, panel) in panels.iter().enumerate() {
        draw_panel(&mut out, panel, PANEL_WIDTH * i as f64, TITLE_HEIGHT);
    }
    for (i, label) in labels.iter().enumerate() {
        let x = 20.0 + LEGEND_ITEM_WIDTH * (i % per_row) as f64;
        let y = TITLE_HEIGHT + PANEL_HEIGHT + LEGEND_ROW * (i / per_row) as f64 + 12.0;
        let color = COLORS[i % COLORS.len()];
        let _ = writeln!(
            out,
            r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{color}" stroke-width="2.5"/><circle cx="{}" cy="{y}" r="3" fill="{color}"/><text x="{}" y="{}">{}</text>"#,
            x + 24.0,
            x + 12.0,
            x + 30.0,
            y + 4.0,
            escape(label)
        );
    }
    out.push_str("</svg>\n");
    out
}

/// A log10 axis over whole decades, mapped onto `from..to` pixels.
struct LogAxis {
    lo: i32,
    hi: i32,
    from: f64,
    to: f64,
}

impl LogAxis {
    /// The decades around every positive value (1 to 10 if there is none).
    fn fit(values: impl Iterator<Item = f64>, from: f64, to: f64) -> LogAxis {
        let (mut lo, mut hi) = (i32::MAX, i32::MIN);
        for v in values.filter(|v| v.is_finite() && *v > 0.0) {
            lo = lo.min(v.log10().floor() as i32);
            hi = hi.max(v.log10().ceil() as i32);
        }
        if lo > hi {
            (lo, hi) = (0, 1);
        }
        LogAxis { lo, hi: hi.max(lo + 1), from, to }
    }

    fn pixel(&self, v: f64) -> f64 {
        let t = (v.log10() - f64::from(self.lo)) / f64::from(self.hi - self.lo);
        self.from + t * (self.to - self.from)
    }

    fn decades(&self) -> impl Iterator<Item = (f64, String)> + '_ {
        (self.lo..=self.hi).map(move |e| (self.pixel(10f64.powi(e)), decade_label(e)))
    }
}

/// 10^e as people write it on an axis: 0.01, 1, 100, 10k, 1M.
fn decade_label(e: i32) -> String {
    match e {
        e if e < 0 => format!("{}", 10f64.powi(e)),
        0..=2 => format!("{}", 10u64.pow(e as u32)),
        3..=5 => format!("{}k", 10u64.pow(e as u32 - 3)),
        6..=8 => format!("{}M", 10u64.pow(e as u32 - 6)),
        e => format!("1e{e}"),
    }
}

fn draw_panel(out: &mut String, panel: &Panel, left: f64, top: f64) {
    let (ml, mr, mt, mb) = MARGIN;
    let (x0, x1) = (left + ml, left + PANEL_WIDTH - mr);
    let (y0, y1) = (top + PANEL_HEIGHT - mb, top + mt);
    let points = || panel.series.iter().flat_map(|s| s.points.iter());
    let x_axis = LogAxis::fit(points().map(|p| p.0), x0, x1);
    let y_axis = LogAxis::fit(points().filter_map(|p| p.1), y0, y1);

    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle" font-size="13" font-weight="bold">{}</text>"#,
        (x0 + x1) / 2.0,
        top + 30.0,
        escape(&panel.title)
    );
    // Grid lines and tick labels at every decade.
    for (x, label) in x_axis.decades() {
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{y1}" x2="{x:.1}" y2="{y0}" stroke="#ddd"/><text x="{x:.1}" y="{}" text-anchor="middle">{label}</text>"##,
            y0 + 16.0
        );
    }
    for (y, label) in y_axis.decades() {
        let _ = writeln!(
            out,
            r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{label}</text>"##,
            x0 - 6.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        out,
        r#"<rect x="{x0}" y="{y1}" width="{}" height="{}" fill="none" stroke="black"/>"#,
        x1 - x0,
        y0 - y1
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        (x0 + x1) / 2.0,
        y0 + 38.0,
        escape(&panel.x_label)
    );
    let (yx, yy) = (left + 16.0, (y0 + y1) / 2.0);
    let _ = writeln!(
        out,
        r#"<text x="{yx}" y="{yy}" text-anchor="middle" transform="rotate(-90 {yx} {yy})">{}</text>"#,
        escape(&panel.y_label)
    );

    for (i, series) in panel.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        // Runs of consecutive plottable points become one polyline each.
        for run in series.points.split(|(_, y)| !y.is_some_and(|y| y > 0.0)) {
            let coords: Vec<(f64, f64)> =
                run.iter().filter_map(|&(x, y)| Some((x_axis.pixel(x), y_axis.pixel(y?)))).collect();
            if coords.len() > 1 {
                let points: Vec<String> = coords.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                let _ = writeln!(
                    out,
                    r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
                    points.join(" ")
                );
            }
            for (x, y) in &coords {
                let _ = writeln!(out, r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{color}"/>"#);
            }
        }
    }
}

/// `text` with the characters XML reserves escaped.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decades_cover_the_values_and_read_like_an_axis() {
        let axis = LogAxis::fit([3.0, 2500.0].into_iter(), 0.0, 100.0);
        assert_eq!((axis.lo, axis.hi), (0, 4));
        assert_eq!(axis.pixel(1.0), 0.0);
        assert_eq!(axis.pixel(10_000.0), 100.0);
        let labels: Vec<String> = axis.decades().map(|(_, l)| l).collect();
        assert_eq!(labels, ["1", "10", "100", "1k", "10k"]);
        assert_eq!(decade_label(6), "1M");
        assert_eq!(decade_label(-1), "0.1");
        let empty = LogAxis::fit(std::iter::empty(), 0.0, 1.0);
        assert_eq!((empty.lo, empty.hi), (0, 1));
    }

    #[test]
    fn a_missing_point_breaks_the_line() {
        let series =
            vec![Series { label: "a<b".into(), points: vec![(1.0, Some(1.0)), (10.0, None), (100.0, Some(5.0))] }];
        let chart =
            svg("t", &[Panel { title: "p".into(), x_label: "x".into(), y_label: "y".into(), series: series.clone() }]);
        assert!(!chart.contains("<polyline"), "two single points, no line:\n{chart}");
        assert_eq!(chart.matches("<circle").count(), 2 + 1, "two points and the legend's marker");
        assert!(chart.contains("a&lt;b") && !chart.contains("a<b"));
        let joined = Series { label: "c".into(), points: vec![(1.0, Some(1.0)), (10.0, Some(2.0))] };
        let chart =
            svg("t", &[Panel { title: "p".into(), x_label: "x".into(), y_label: "y".into(), series: vec![joined] }]);
        assert_eq!(chart.matches("<polyline").count(), 1);
    }
}
