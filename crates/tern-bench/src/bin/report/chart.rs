//! PNG bar charts of the comparison (issue 6: "a Markdown table and PNG charts"), drawn
//! with plotters: one chart per metric, transports along the x axis, one bar per server.

use std::path::Path;

use plotters::prelude::*;

use crate::table::{Figures, Metric};

/// Fonts tried for the chart text (Debian's fonts-dejavu-core).
const FONTS: &[&str] = &["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf"];

const COLORS: &[RGBColor] = &[RGBColor(0x1f, 0x77, 0xb4), RGBColor(0xff, 0x7f, 0x0e), RGBColor(0x2c, 0xa0, 0x2c), RGBColor(0x94, 0x67, 0xbd), RGBColor(0x8c, 0x56, 0x4b)];

/// Register the font plotters' ab_glyph backend draws text with.
pub fn load_font() -> anyhow::Result<()> {
    let path = FONTS.iter().find(|p| Path::new(p).exists()).ok_or_else(|| anyhow::anyhow!("no DejaVuSans.ttf (apt install fonts-dejavu-core)"))?;
    let bytes: &'static [u8] = Box::leak(std::fs::read(path)?.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).map_err(|_| anyhow::anyhow!("{path}: not a usable font"))?;
    Ok(())
}

/// Draw `metric` as `<dir>/<metric key>.png`; returns the file written, if there was data.
pub fn draw(dir: &Path, metric: &Metric, figures: &Figures, servers: &[String]) -> anyhow::Result<Option<std::path::PathBuf>> {
    let Some(by_transport) = figures.get(metric.key) else { return Ok(None) };
    let transports: Vec<&String> = by_transport.keys().collect();
    let max = by_transport.values().flat_map(|s| s.values()).fold(0.0f64, |a, b| a.max(*b));
    let slot = servers.len() + 1;
    let file = dir.join(format!("{}.png", metric.key));
    let root = BitMapBackend::new(&file, (240 + 160 * transports.len() as u32, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let better = if metric.lower_is_better { "lower is better" } else { "higher is better" };
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{} ({better})", metric.title), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..(transports.len() * slot) as f64, 0.0..max * 1.15)?;
    let label = |x: &f64| {
        let (group, offset) = ((*x as usize) / slot, *x - ((*x as usize) / slot * slot) as f64);
        if (offset - (slot as f64 - 1.0) / 2.0).abs() < 0.5 { transports.get(group).map(|t| t.to_string()).unwrap_or_default() } else { String::new() }
    };
    chart.configure_mesh().disable_x_mesh().x_labels(transports.len() * slot * 2).x_label_formatter(&label).draw()?;
    for (i, server) in servers.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let bars = transports.iter().enumerate().filter_map(|(g, t)| {
            let v = *by_transport.get(*t)?.get(server)?;
            let x = (g * slot + i) as f64 + 0.5;
            Some(Rectangle::new([(x, 0.0), (x + 0.9, v)], color.filled()))
        });
        chart.draw_series(bars)?.label(server.as_str()).legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    root.present()?;
    drop(chart);
    drop(root);
    Ok(Some(file))
}
