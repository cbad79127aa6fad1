//! The scatter with each series' Pareto frontier.

use super::*;

/// One point of a scatter: a label's mean x and mean y within its series.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub label: String,
    pub x: f64,
    pub y: f64,
}

/// A scatter's series: a name and its points.
pub type Scatter = Vec<(String, Vec<Point>)>;

/// A scatter's series with the statistics of each point's y.
pub(super) type StatScatter = Vec<(String, Vec<(Point, Stats)>)>;

/// The points of a scatter, per series: rows grouped by `by` and `label`, x and y averaged;
/// with the rows that passed the filters and the rows skipped.
pub fn points(
    path: &Path,
    x: &str,
    y: &str,
    by: Option<&str>,
    label: &str,
    filters: &[(String, String)],
) -> Result<(Scatter, usize, usize)> {
    let (s, rows, skipped, _) = scatter_table(&Table::read(path)?, x, y, by, label, filters)?;
    let plain = s
        .into_iter()
        .map(|(name, pts)| (name, pts.into_iter().map(|(p, _)| p).collect()))
        .collect();
    Ok((plain, rows, skipped))
}

/// [`points`] with each y's statistics, and [`Grouped::repeats`].
pub(super) fn scatter_table(
    t: &Table<'_>,
    x: &str,
    y: &str,
    by: Option<&str>,
    label: &str,
    filters: &[(String, String)],
) -> Result<(StatScatter, usize, usize, Option<usize>)> {
    // Grouped twice with the label as x: once averaging the x column, once y.
    let gx = group_table(t, label, x, by, filters)?;
    let gy = group_table(t, label, y, by, filters)?;
    // Without `by`, each grouping has one series, named after its own column.
    let key = |s: &StatSeries| {
        if by.is_some() {
            s.name.clone()
        } else {
            String::new()
        }
    };
    let xs: HashMap<(String, &str), f64> = gx
        .series
        .iter()
        .flat_map(|s| {
            s.points
                .iter()
                .map(move |(l, st)| ((key(s), l.as_str()), st.mean))
        })
        .collect();
    let out = gy
        .series
        .iter()
        .map(|s| {
            let pts = s
                .points
                .iter()
                .filter_map(|(l, st)| {
                    let x = *xs.get(&(key(s), l.as_str()))?;
                    let p = Point {
                        label: l.clone(),
                        x,
                        y: st.mean,
                    };
                    Some((p, *st))
                })
                .collect();
            (s.name.clone(), pts)
        })
        .collect();
    Ok((out, gy.rows, gx.skipped.max(gy.skipped), gy.repeats))
}

/// The points of `pts` no other point beats: none has x as small or smaller and y larger.
/// In x order: the Pareto frontier of "fewer bits, more SQNR".
pub fn frontier(pts: &[Point]) -> Vec<Point> {
    let mut sorted: Vec<&Point> = pts.iter().collect();
    sorted.sort_by(|a, b| a.x.total_cmp(&b.x).then(b.y.total_cmp(&a.y)));
    let mut best = f64::NEG_INFINITY;
    let mut out = Vec::new();
    for p in sorted {
        if p.y > best {
            best = p.y;
            out.push(p.clone());
        }
    }
    out
}

/// A scatter of labelled points per series (x and y already in drawn units), each series'
/// Pareto frontier drawn as a line and its points labelled, y's confidence intervals as
/// error bars.
pub(super) fn draw_scatter(series: &StatScatter, t: &Texts) -> Result<String> {
    let all = series.iter().flat_map(|s| &s.1);
    let (mut x0, mut x1) = (f64::INFINITY, f64::NEG_INFINITY);
    for (p, _) in all.clone() {
        x0 = x0.min(p.x);
        x1 = x1.max(p.x);
    }
    let (y0, y1) = y_extent(all.map(|(_, st)| st), 1.0);
    if !x0.is_finite() {
        return Err(Error::Invalid("plot: no point to draw".into()));
    }
    let pad = |a: f64, b: f64, f: f64| {
        let d = if b > a {
            (b - a) * f
        } else {
            a.abs().max(1.0) * 0.1
        };
        (a - d, b + d)
    };
    let (x0, x1) = pad(x0, x1, 0.06);
    let (y0, y1) = pad(y0, y1, 0.08);
    let (x_step, y_step) = ((x1 - x0) / 10.0, (y1 - y0) / 10.0);
    let names: Vec<String> = series.iter().map(|s| s.0.clone()).collect();
    let mut out = String::new();
    {
        let (root, plot, legend) = areas(&mut out, SCATTER_HEIGHT, t, &names)?;
        let mut chart = ChartBuilder::on(&plot)
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(76)
            .build_cartesian_2d(
                Ticked::new(x0, x1, linear_ticks(x0, x1, 11)),
                Ticked::new(y0, y1, linear_ticks(y0, y1, 11)),
            )
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc(svg_text(&t.x))
            .y_desc(svg_text(&t.y))
            .axis_desc_style(("sans-serif", px(AXIS_TITLE_PX)))
            .label_style(("sans-serif", px(TICK_PX)))
            .bold_line_style(BLACK.mix(0.12))
            .x_label_formatter(&|v: &f64| tick_label(*v, x_step))
            .y_label_formatter(&|v: &f64| tick_label(*v, y_step))
            .draw()
            .map_err(draw_err)?;
        let inside = chart.plotting_area().get_pixel_range();
        // Label boxes drawn so far: (left, bottom, width) in pixels.
        let mut taken: Vec<(i32, i32, i32)> = Vec::new();
        for (i, (_, pts)) in series.iter().enumerate() {
            let look = Look::of(i);
            let plain: Vec<Point> = pts.iter().map(|(p, _)| p.clone()).collect();
            let front = frontier(&plain);
            let line: Vec<(f64, f64)> = front.iter().map(|p| (p.x, p.y)).collect();
            styled_line(&mut chart, line, &look)?;
            for (p, st) in pts {
                if let Some((lo, hi)) = st.ci95() {
                    let (l, h) = (
                        chart.backend_coord(&(p.x, lo)),
                        chart.backend_coord(&(p.x, hi)),
                    );
                    error_bar(&root, l.0, (l.1, h.1), look.color)?;
                }
            }
            for (p, _) in pts {
                marker(
                    &root,
                    look.shape,
                    chart.backend_coord(&(p.x, p.y)),
                    look.color,
                )?;
            }
            let label_style = ("sans-serif", px(POINT_LABEL_PX))
                .into_font()
                .color(&look.color)
                .pos(Pos::new(HPos::Left, VPos::Bottom));
            for p in &front {
                let at = chart.backend_coord(&(p.x, p.y));
                let label = text::short(&p.label, 24);
                let w = text_width(label.chars().count(), POINT_LABEL_PX) as i32;
                // Above right, below right, above left, below left: the first inside the
                // plotting area that overlaps no label drawn before (and none, rather than
                // an unreadable pile or a label over the legend).
                let spot = [(6, -4), (6, 16), (-6 - w, -4), (-6 - w, 16)]
                    .into_iter()
                    .map(|(dx, dy)| (at.0 + dx, at.1 + dy))
                    .find(|&(x, y)| {
                        x >= inside.0.start
                            && x + w <= inside.0.end
                            && y - 12 >= inside.1.start
                            && y <= inside.1.end
                            && taken.iter().all(|&(tx, ty, tw)| {
                                x + w <= tx || tx + tw <= x || y <= ty - 12 || ty <= y - 12
                            })
                    });
                if let Some((x, y)) = spot {
                    taken.push((x, y, w));
                    root.draw(&Text::new(label, (x, y), label_style.clone()))
                        .map_err(draw_err)?;
                }
            }
        }
        if let (Some((margin, geometry)), Some(title)) = (&legend, &t.legend) {
            draw_legend(margin, geometry, title.as_deref(), &names, false)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(out)
}
