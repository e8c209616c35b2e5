//! SVG plots for the benchmark report, drawn with `plotters`' SVG backend only.
//!
//! The SVG backend writes text as `<text>` elements and leaves glyph rendering to the viewer, so
//! no font files are needed to build or run this; plotters' built-in size estimate places the
//! labels.

use plotters::prelude::*;

type DynError = Box<dyn std::error::Error>;

/// One line of a chart.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    /// Legend text.
    pub(crate) name: String,
    /// Points, in drawing order.
    pub(crate) points: Vec<(f64, f64)>,
    /// Draw points as markers too.
    pub(crate) markers: bool,
}

/// A line chart with axis titles and a legend.
#[derive(Debug, Clone)]
pub(crate) struct LineChart {
    /// Caption above the plot.
    pub(crate) title: String,
    /// X axis title.
    pub(crate) x_desc: String,
    /// Y axis title.
    pub(crate) y_desc: String,
    /// The lines.
    pub(crate) series: Vec<Series>,
    /// Draw the x axis on a logarithmic scale (values must be positive; others are left out).
    pub(crate) log_x: bool,
}

const COLORS: [RGBColor; 9] = [
    RGBColor(31, 119, 180),
    RGBColor(127, 127, 127),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

fn color(i: usize) -> RGBColor {
    COLORS.get(i % COLORS.len()).copied().unwrap_or(BLACK)
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo.is_finite() && hi.is_finite() && hi > lo {
        (lo, hi)
    } else if lo.is_finite() {
        (lo, lo + 1.0)
    } else {
        (0.0, 1.0)
    }
}

/// Tick labels without needless decimals: whole numbers on wide axes, two decimals on narrow ones.
fn tick_format(span: f64) -> impl Fn(&f64) -> String {
    move |v: &f64| {
        if span >= 20.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.2}")
        }
    }
}

impl LineChart {
    /// Renders the chart as an SVG document.
    pub(crate) fn to_svg(&self) -> Result<String, DynError> {
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, (800, 480)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            // A logarithmic axis is drawn as log10 of the values on a linear axis, labelled with
            // the values themselves.
            let to_x = |x: f64| if self.log_x { x.log10() } else { x };
            let series: Vec<Vec<(f64, f64)>> = self
                .series
                .iter()
                .map(|s| {
                    s.points
                        .iter()
                        .filter(|p| !self.log_x || p.0 > 0.0)
                        .map(|&(x, y)| (to_x(x), y))
                        .collect()
                })
                .collect();
            let (x0, x1) = range(series.iter().flat_map(|s| s.iter().map(|p| p.0)));
            let (_, y1) = range(
                self.series
                    .iter()
                    .flat_map(|s| s.points.iter().map(|p| p.1)),
            );
            let y1 = y1 * 1.08;
            let mut chart = ChartBuilder::on(&root)
                .caption(&self.title, ("sans-serif", 20))
                .margin(16)
                .x_label_area_size(44)
                .y_label_area_size(72)
                .build_cartesian_2d(x0..x1, 0.0..y1)
                .map_err(|e| e.to_string())?;
            let linear_fmt = tick_format(x1 - x0);
            let log_x = self.log_x;
            let x_fmt = move |v: &f64| {
                if log_x {
                    let value = 10f64.powf(*v);
                    if value >= 10.0 {
                        format!("{value:.0}")
                    } else {
                        format!("{value:.1}")
                    }
                } else {
                    linear_fmt(v)
                }
            };
            let y_fmt = tick_format(y1);
            chart
                .configure_mesh()
                .x_label_formatter(&x_fmt)
                .y_label_formatter(&y_fmt)
                .x_desc(&self.x_desc)
                .y_desc(&self.y_desc)
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(|e| e.to_string())?;
            for (i, (s, points)) in self.series.iter().zip(&series).enumerate() {
                let c = color(i);
                chart
                    .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))
                    .map_err(|e| e.to_string())?
                    .label(&s.name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                    });
                if s.markers {
                    chart
                        .draw_series(points.iter().map(|&p| Circle::new(p, 4, c.filled())))
                        .map_err(|e| e.to_string())?;
                }
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK)
                .draw()
                .map_err(|e| e.to_string())?;
            root.present().map_err(|e| e.to_string())?;
        }
        Ok(out)
    }
}

/// Empirical cumulative distribution of `sorted_ms` (already sorted), as plot points.
#[allow(
    clippy::cast_precision_loss,
    reason = "sample counts are far below 2^52"
)]
pub(crate) fn cdf(sorted_ms: &[f64]) -> Vec<(f64, f64)> {
    let n = sorted_ms.len() as f64;
    sorted_ms
        .iter()
        .enumerate()
        .map(|(i, &v)| (v, (i + 1) as f64 / n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_lines_axes_and_legend_without_fonts() {
        let chart = LineChart {
            title: "Throughput".into(),
            x_desc: "concurrency".into(),
            y_desc: "requests/s".into(),
            series: vec![
                Series {
                    name: "measured".into(),
                    points: vec![(25.0, 240.0), (50.0, 470.0), (100.0, 900.0)],
                    markers: true,
                },
                Series {
                    name: "ideal".into(),
                    points: vec![(25.0, 250.0), (100.0, 1000.0)],
                    markers: false,
                },
            ],
            log_x: false,
        };
        let svg = chart.to_svg().unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..60.min(svg.len())]);
        for text in [
            "Throughput",
            "concurrency",
            "requests/s",
            "measured",
            "ideal",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
        assert!(svg.contains("<polyline"));
        assert!(svg.contains("<circle"));
    }

    #[test]
    fn empty_series_still_render() {
        let chart = LineChart {
            title: "Empty".into(),
            x_desc: "x".into(),
            y_desc: "y".into(),
            series: vec![],
            log_x: false,
        };
        assert!(chart.to_svg().unwrap().contains("Empty"));
    }

    #[test]
    fn a_log_axis_labels_values_not_logarithms() {
        let chart = LineChart {
            title: "Latency".into(),
            x_desc: "ms".into(),
            y_desc: "fraction".into(),
            series: vec![Series {
                name: "all".into(),
                points: vec![(0.0, 0.1), (1.0, 0.2), (10.0, 0.5), (1000.0, 1.0)],
                markers: false,
            }],
            log_x: true,
        };
        let svg = chart.to_svg().unwrap();
        assert!(
            svg.contains(">1000<") || svg.contains(">1000 <") || svg.contains("1000"),
            "{svg}"
        );
        assert!(svg.contains("<polyline"));
    }

    #[test]
    fn cdf_ends_at_one() {
        let points = cdf(&[1.0, 2.0, 4.0, 8.0]);
        assert_eq!(points.first(), Some(&(1.0, 0.25)));
        assert_eq!(points.last(), Some(&(8.0, 1.0)));
    }
}
