//! Charts as PNG files for benchmark figures (plotters): lines over a sweep, bars per
//! engine. Text in DejaVu Sans (Debian's fonts-dejavu-core, which setup.sh installs).

use std::path::Path;

use anyhow::{Context, anyhow};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

/// Where the charts' font comes from (Debian's fonts-dejavu-core).
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Registers the font once.
fn font() -> anyhow::Result<()> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let bytes =
            std::fs::read(FONT).map_err(|e| format!("{FONT}: {e} (install fonts-dejavu-core)"))?;
        register_font(
            "sans-serif",
            FontStyle::Normal,
            Box::leak(bytes.into_boxed_slice()),
        )
        .map_err(|_| format!("{FONT}: not a usable font"))
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

/// A chart of `series` (name, points) over x from `x` to and y from 0 to the largest y.
pub fn lines(
    path: &Path,
    title: &str,
    (x_label, y_label): (&str, &str),
    x: std::ops::Range<f64>,
    series: &[(&str, Vec<(f64, f64)>)],
) -> anyhow::Result<()> {
    font()?;
    let top = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(_, y)| y))
        .fold(0.0f64, f64::max)
        * 1.15;
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x, 0.0..top.max(1e-9))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style(("sans-serif", 15))
        .draw()?;
    let colours = [
        RGBColor(0x1f, 0x77, 0xb4),
        RGBColor(0xd6, 0x27, 0x28),
        RGBColor(0x2c, 0xa0, 0x2c),
    ];
    for (i, (name, points)) in series.iter().enumerate() {
        let c = colours[i % colours.len()];
        chart
            .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A bar chart of `bars` (label, value), one colour each, the value written on each bar.
pub fn bars(path: &Path, title: &str, y_label: &str, bars: &[(&str, f64)]) -> anyhow::Result<()> {
    font()?;
    let top = bars.iter().map(|&(_, v)| v).fold(0.0f64, f64::max) * 1.2;
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let n = bars.len();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (0..n.saturating_sub(1)).into_segmented(),
            0.0..top.max(1e-9),
        )?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc(y_label)
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => bars.get(*i).map_or(String::new(), |b| b.0.to_string()),
            _ => String::new(),
        })
        .label_style(("sans-serif", 15))
        .draw()?;
    let colours = [
        RGBColor(0x1f, 0x77, 0xb4),
        RGBColor(0xd6, 0x27, 0x28),
        RGBColor(0x2c, 0xa0, 0x2c),
        RGBColor(0xff, 0x7f, 0x0e),
        RGBColor(0x94, 0x67, 0xbd),
    ];
    for (i, &(_, v)) in bars.iter().enumerate() {
        let c = colours[i % colours.len()];
        chart.draw_series(std::iter::once(Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), v),
            ],
            c.filled(),
        )))?;
        let label = TextStyle::from(("sans-serif", 15).into_font())
            .pos(Pos::new(HPos::Center, VPos::Bottom));
        chart.draw_series(std::iter::once(Text::new(
            format!("{v:.1}"),
            (SegmentValue::CenterOf(i), v + top * 0.01),
            label,
        )))?;
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
