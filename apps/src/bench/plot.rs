//! `--plot FILE.svg`: a horizontal bar per row of ours, its ratio to the kernel's row of the
//! same workload (log scale, > 1 is better than the kernel whichever way the unit points), with
//! a line at 1.0. Drawn with `plotters`' SVG backend only.

use plotters::prelude::*;

use super::report::{Row, kernel_ref, ratio};

/// Writes the plot of `rows` to `path`.
pub fn write(rows: &[Row], path: &str, title: &str) -> Result<(), String> {
    let bars: Vec<(String, f64)> = rows
        .iter()
        .filter(|r| r.run_mode != "kernel")
        .filter_map(|r| {
            let k = kernel_ref(rows, r)?;
            let x = ratio(rows, r)?;
            Some((
                format!("{} {} {} (vs {})", r.workload, r.link, r.run_mode, k.link),
                x,
            ))
        })
        .collect();
    if bars.is_empty() {
        return Err("nothing to plot: no row has a kernel row to compare with".into());
    }
    let lo = bars.iter().map(|b| b.1).fold(1.0f64, f64::min).max(1e-3) / 2.0;
    let hi = bars.iter().map(|b| b.1).fold(1.0f64, f64::max) * 2.0;
    let n = bars.len();
    let height = 120 + 22 * n as u32;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| format!("{path}: {e}");
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(10)
        .build_cartesian_2d((lo..hi).log_scale(), 0f64..n as f64)
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_desc("ratio to the Linux kernel (> 1: faster than the kernel)")
        .draw()
        .map_err(e)?;
    for (i, (label, x)) in bars.iter().enumerate() {
        let y = (n - 1 - i) as f64;
        let color = if *x >= 1.0 {
            GREEN.mix(0.6)
        } else {
            RED.mix(0.5)
        };
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(lo, y + 0.15), (*x, y + 0.85)],
                color.filled(),
            )))
            .map_err(e)?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!("{label}: {x:.2}x"),
                (lo * 1.05, y + 0.7),
                ("sans-serif", 13),
            )))
            .map_err(e)?;
    }
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(1.0, 0.0), (1.0, n as f64)],
            BLACK,
        )))
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}
