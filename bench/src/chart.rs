//! Bar charts as SVG (plotters' SVG backend: no fonts or system libraries needed).
//! Horizontal bars, one per subject, each labelled with its name and value, on a linear axis
//! that starts at zero, so bar lengths compare honestly.

use std::path::Path;

use plotters::prelude::*;

use crate::result::Chart;

#[derive(Debug, thiserror::Error)]
#[error("drawing {path}: {message}")]
pub struct ChartError {
    path: String,
    message: String,
}

const BAR_HEIGHT: u32 = 34;
const WIDTH: u32 = 900;

/// Draws `chart` into the SVG file `path`.
pub fn draw(chart: &Chart, path: &Path) -> Result<(), ChartError> {
    let fail = |e: &dyn std::fmt::Display| ChartError { path: path.display().to_string(), message: e.to_string() };
    let bars = chart.bars.len().max(1);
    let height = 90 + BAR_HEIGHT * bars as u32;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let max = chart.bars.iter().map(|b| b.value).fold(0.0f64, f64::max).max(f64::MIN_POSITIVE);
    let better = if chart.higher_is_better { "higher is better" } else { "lower is better" };
    let mut plot = ChartBuilder::on(&root)
        .caption(format!("{} ({}, {better})", chart.title, chart.unit), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(28)
        .build_cartesian_2d(0.0..max * 1.25, 0.0..bars as f64)
        .map_err(|e| fail(&e))?;
    plot.configure_mesh().disable_y_mesh().disable_y_axis().x_labels(6).x_label_formatter(&|v| short(*v)).draw().map_err(|e| fail(&e))?;
    let label_style = ("sans-serif", 13).into_font().color(&BLACK);
    for (i, bar) in chart.bars.iter().enumerate() {
        // Top bar first: row i occupies y in [bars-i-1, bars-i).
        let y = (bars - i - 1) as f64;
        let colour = if bar.label.starts_with("oncelink") { RGBColor(110, 170, 225) } else { RGBColor(160, 160, 160) };
        plot.draw_series(std::iter::once(Rectangle::new([(0.0, y + 0.12), (bar.value, y + 0.88)], colour.filled())))
            .map_err(|e| fail(&e))?;
        plot.draw_series(std::iter::once(Text::new(
            format!("{}  {}", bar.label, short(bar.value)),
            (max * 0.01, y + 0.62),
            label_style.clone(),
        )))
        .map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}

/// A compact axis / label number: 1234567 → "1.23M", 0.5 → "0.50".
pub fn short(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else if magnitude >= 1e4 {
        format!("{:.1}k", value / 1e3)
    } else if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}
