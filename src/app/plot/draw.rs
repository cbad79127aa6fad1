//! Drawing a line or bar chart: markers, error bars, the legend in its margin.

use super::*;

pub(super) fn draw_err<E: std::fmt::Debug>(e: E) -> Error {
    Error::Invalid(format!("plot: {e:?}"))
}

/// A chart of the two ticked axes every plot draws on.
pub(super) type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Ticked, Ticked>>;

/// A series' line, solid or in its look's dash pattern (the seventh series on are dashed, so
/// colours repeat without two series looking alike).
pub(super) fn styled_line(
    chart: &mut Chart<'_, '_>,
    line: Vec<(f64, f64)>,
    look: &Look,
) -> Result<()> {
    let style = look.color.stroke_width(2);
    match look.dash {
        0 => chart.draw_series(LineSeries::new(line, style)).map(|_| ()),
        1 => chart
            .draw_series(DashedLineSeries::new(line, 8, 5, style))
            .map(|_| ()),
        _ => chart
            .draw_series(DashedLineSeries::new(line, 2, 4, style))
            .map(|_| ()),
    }
    .map_err(draw_err)
}

/// Text from the CSV or the command line as it goes into the SVG: control characters (which
/// XML forbids even escaped) shown as escapes, and cut to a length a chart can show.
/// Plotters escapes `<`, `&` and quotes itself.
pub(super) fn svg_text(s: &str) -> String {
    text::short(s, 80)
}

/// A category's label: its text, or "(empty)".
pub(super) fn category(s: &str, max: usize) -> String {
    if s.is_empty() {
        "(empty)".to_string()
    } else {
        text::short(s, max)
    }
}

/// The words around a chart.
pub(super) struct Texts {
    pub(super) title: String,
    pub(super) subtitle: String,
    pub(super) x: String,
    pub(super) y: String,
    /// The x column, whose name may ask for a base-2 axis.
    pub(super) x_column: String,
    /// Whether to draw a legend, and its title.
    pub(super) legend: Option<Option<String>>,
    /// From the CSV's y values to the drawn ones (100 for fractions drawn as %).
    pub(super) y_factor: f64,
}

/// How series `i` is drawn: a colour, a marker shape and a dash pattern (solid for the first
/// seven, then dashed, then dotted), so that two series never look alike.
#[derive(Clone, Copy, Debug)]
pub(super) struct Look {
    pub(super) color: RGBColor,
    pub(super) shape: usize,
    pub(super) dash: usize,
}

impl Look {
    pub(super) fn of(i: usize) -> Look {
        Look {
            color: PALETTE[i % PALETTE.len()],
            shape: i % 5,
            dash: (i / PALETTE.len()) % 3,
        }
    }
}

/// A filled marker of one of five shapes centred on a pixel.
pub(super) fn marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    shape: usize,
    (x, y): (i32, i32),
    color: RGBColor,
) -> Result<()> {
    let style = color.filled();
    let r = 4;
    match shape % 5 {
        0 => area.draw(&Circle::new((x, y), r, style)),
        1 => area.draw(&Rectangle::new([(x - r, y - r), (x + r, y + r)], style)),
        2 => area.draw(&Polygon::new(
            vec![(x, y - r - 1), (x + r + 1, y + r), (x - r - 1, y + r)],
            style,
        )),
        3 => area.draw(&Polygon::new(
            vec![
                (x, y - r - 1),
                (x + r + 1, y),
                (x, y + r + 1),
                (x - r - 1, y),
            ],
            style,
        )),
        _ => area.draw(&Polygon::new(
            vec![(x - r - 1, y - r), (x + r + 1, y - r), (x, y + r + 1)],
            style,
        )),
    }
    .map_err(draw_err)
}

/// A vertical error bar with caps, in pixels.
pub(super) fn error_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    x: i32,
    (lo, hi): (i32, i32),
    color: RGBColor,
) -> Result<()> {
    if lo == hi {
        return Ok(());
    }
    let c = 4;
    area.draw(&PathElement::new(
        vec![
            (x - c, lo),
            (x + c, lo),
            (x, lo),
            (x, hi),
            (x - c, hi),
            (x + c, hi),
        ],
        color.stroke_width(1),
    ))
    .map_err(draw_err)
}

/// The legend's geometry: entries per column, columns, one column's width, the whole width.
pub(super) struct LegendBox {
    pub(super) per_column: usize,
    pub(super) columns: usize,
    pub(super) column_width: u32,
    pub(super) width: u32,
}

pub(super) const LEGEND_ROW: i32 = 20;
pub(super) const LEGEND_TOP: i32 = 22;
pub(super) const LEGEND_NAME: usize = 28;
pub(super) const LEGEND_COLUMNS: usize = 3;

impl LegendBox {
    pub(super) fn of(names: &[String], title: Option<&str>, height: u32) -> LegendBox {
        let chars = names
            .iter()
            .map(|n| text::short(n, LEGEND_NAME).chars().count())
            .max()
            .unwrap_or(0);
        // The sample line and marker take 38 pixels before the name.
        let column_width = (48 + text_width(chars, LEGEND_PX)).clamp(80, 260);
        let per_column = ((height as i32 - LEGEND_TOP - 40 - 16) / LEGEND_ROW).max(1) as usize;
        let columns = names.len().div_ceil(per_column).clamp(1, LEGEND_COLUMNS);
        let title_width = title.map_or(0, |t| {
            16 + text_width(text::short(t, 40).chars().count(), LEGEND_TITLE_PX + 1.0)
        });
        let width = (column_width * columns as u32).max(title_width.min(300)) + 12;
        LegendBox {
            per_column,
            columns,
            column_width,
            width,
        }
    }
}

/// The legend in its own margin: a title, then one entry per series (a sample line and
/// marker, or a swatch for bars), in columns; what does not fit is counted.
pub(super) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    geometry: &LegendBox,
    title: Option<&str>,
    names: &[String],
    bars: bool,
) -> Result<()> {
    let mut y = LEGEND_TOP;
    if let Some(t) = title {
        area.draw(&Text::new(
            text::short(t, 40),
            (6, y),
            ("sans-serif", px(LEGEND_TITLE_PX))
                .into_font()
                .style(FontStyle::Bold)
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(draw_err)?;
        y += LEGEND_ROW + 4;
    }
    let room = geometry.per_column * geometry.columns;
    let shown = if names.len() > room {
        room - 1
    } else {
        names.len()
    };
    let name_style = ("sans-serif", px(LEGEND_PX))
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, name) in names.iter().take(shown).enumerate() {
        let (col, row) = (i / geometry.per_column, i % geometry.per_column);
        let x = 6 + (col as u32 * geometry.column_width) as i32;
        let yy = y + row as i32 * LEGEND_ROW;
        let look = Look::of(i);
        if bars {
            area.draw(&Rectangle::new(
                [(x + 4, yy - 6), (x + 26, yy + 6)],
                look.color.filled(),
            ))
            .map_err(draw_err)?;
        } else {
            let style = look.color.stroke_width(2);
            let (on, off) = match look.dash {
                0 => (30, 0),
                1 => (7, 4),
                _ => (2, 3),
            };
            let mut s = x;
            while s < x + 30 {
                let e = (s + on).min(x + 30);
                area.draw(&PathElement::new(vec![(s, yy), (e, yy)], style))
                    .map_err(draw_err)?;
                s = e + off.max(1);
            }
            marker(area, look.shape, (x + 15, yy), look.color)?;
        }
        area.draw(&Text::new(
            text::short(name, LEGEND_NAME),
            (x + 38, yy),
            name_style.clone(),
        ))
        .map_err(draw_err)?;
    }
    if shown < names.len() {
        let (col, row) = (shown / geometry.per_column, shown % geometry.per_column);
        area.draw(&Text::new(
            format!("… and {} more", names.len() - shown),
            (
                6 + (col as u32 * geometry.column_width) as i32,
                y + row as i32 * LEGEND_ROW,
            ),
            name_style.clone(),
        ))
        .map_err(draw_err)?;
    }
    Ok(())
}

/// The root of a chart: white, its title and subtitle drawn, and the rest split into the
/// plotting area and (when there is a legend) the legend's margin.
pub(super) type Areas<'a> = (
    DrawingArea<SVGBackend<'a>, Shift>,
    DrawingArea<SVGBackend<'a>, Shift>,
    Option<(DrawingArea<SVGBackend<'a>, Shift>, LegendBox)>,
);

pub(super) fn areas<'a>(
    out: &'a mut String,
    height: u32,
    t: &Texts,
    names: &[String],
) -> Result<Areas<'a>> {
    let root = SVGBackend::with_string(out, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let mut body = root
        .titled(&text::short(&t.title, 100), ("sans-serif", px(TITLE_PX)))
        .map_err(draw_err)?;
    if !t.subtitle.is_empty() {
        body = body
            .titled(
                &text::short(&t.subtitle, 150),
                ("sans-serif", px(SUBTITLE_PX)).into_font().color(&GREY),
            )
            .map_err(draw_err)?;
    }
    let legend = match &t.legend {
        Some(title) => {
            let geometry = LegendBox::of(names, title.as_deref(), body.dim_in_pixel().1);
            let (plot, margin) = body.split_horizontally(WIDTH.saturating_sub(geometry.width));
            body = plot;
            Some((margin, geometry))
        }
        None => None,
    };
    Ok((root, body, legend))
}

/// At most this many non-numeric x values (a block size of "tensor") are drawn apart, at the
/// right of a numeric axis; more make the chart a bar chart.
pub(super) const APART: usize = 3;

/// Draws the series as SVG text: lines when every x is a number, grouped bars otherwise. The
/// titles are used as given; the series carry no spread, so no error bars are drawn.
pub fn svg(series: &[Series], x: &str, y: &str, title: &str) -> Result<String> {
    let stats: Vec<StatSeries> = series
        .iter()
        .map(|s| StatSeries {
            name: s.name.clone(),
            points: s
                .points
                .iter()
                .map(|(x, mean, n)| {
                    let stats = Stats {
                        n: *n,
                        mean: *mean,
                        std: f64::NAN,
                        half_ci: f64::NAN,
                    };
                    (x.clone(), stats)
                })
                .collect(),
        })
        .collect();
    draw(
        &stats,
        &Texts {
            title: title.to_string(),
            subtitle: String::new(),
            x: x.to_string(),
            y: y.to_string(),
            x_column: String::new(),
            legend: Some(None),
            y_factor: 1.0,
        },
    )
}

/// The lowest and highest of the drawn values and confidence bounds.
pub(super) fn y_extent<'s>(points: impl Iterator<Item = &'s Stats>, factor: f64) -> (f64, f64) {
    let (lo, hi) = points
        .flat_map(|s| {
            let (a, b) = s.ci95().unwrap_or((s.mean, s.mean));
            [s.mean * factor, a * factor, b * factor]
        })
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) }
}

/// The x axis of a line or bar chart: where each category is drawn, the range, the ticks.
pub(super) struct XAxis {
    /// Axis position of each category (first-seen order).
    pub(super) at: Vec<f64>,
    /// Whether each category is drawn on the numeric line (not apart, not a bar).
    pub(super) on_line: Vec<bool>,
    pub(super) range: (f64, f64),
    pub(super) ticks: Vec<(f64, String)>,
    pub(super) title: String,
    /// Where a line separates the values drawn apart.
    pub(super) separator: Option<f64>,
    pub(super) bars: bool,
}

impl XAxis {
    pub(super) fn new(cats: &[&str], t: &Texts, plot_width: u32) -> XAxis {
        let values: Vec<Option<f64>> = cats
            .iter()
            .map(|c| c.parse::<f64>().ok().filter(|v| v.is_finite()))
            .collect();
        let numbers: Vec<f64> = values.iter().flatten().copied().collect();
        let apart = values.len() - numbers.len();
        if apart > 0 && (numbers.len() < 2 || apart > APART) {
            return XAxis::categories(cats, t, plot_width);
        }
        let map = XMap::choose(&t.x_column, &numbers);
        let (lo, hi) = numbers
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        let (a, b) = (map.apply(lo), map.apply(hi));
        let linear = matches!(map, XMap::Linear(_));
        let (x0, end) = if a == b {
            (a - 1.0, b + 1.0)
        } else {
            let pad = (b - a) * if linear { 0.03 } else { 0.05 };
            (a - pad, b + pad)
        };
        let gap = if map == XMap::Log2 || a == b {
            1.0
        } else {
            (b - a) * 0.15
        };
        let mut k = 0;
        let at: Vec<f64> = values
            .iter()
            .map(|v| match v {
                Some(v) => map.apply(*v),
                None => {
                    k += 1;
                    b + gap * f64::from(k)
                }
            })
            .collect();
        let mut ticks = match map {
            XMap::Log2 => log2_ticks(x0, end),
            XMap::Log10 => log10_ticks(x0, end),
            XMap::Linear(_) => {
                let step = (end - x0) / 10.0;
                linear_ticks(x0, end, 10)
                    .into_iter()
                    .map(|v| (v, tick_label(v, step)))
                    .collect()
            }
        };
        for (c, (v, p)) in cats.iter().zip(values.iter().zip(&at)) {
            if v.is_none() {
                ticks.push((*p, category(c, 16)));
            }
        }
        let title = match map {
            XMap::Linear(s) => scaled_title(&t.x, s),
            XMap::Log10 | XMap::Log2 => with_note(&t.x, "log scale"),
        };
        let x1 = if apart > 0 {
            b + gap * (apart as f64 + 0.5)
        } else {
            end
        };
        XAxis {
            at,
            on_line: values.iter().map(Option::is_some).collect(),
            range: (x0, x1),
            ticks,
            title,
            separator: (apart > 0).then_some(b + gap * 0.5),
            bars: false,
        }
    }

    /// Categories: one group of bars each, every label that fits shown.
    pub(super) fn categories(cats: &[&str], t: &Texts, plot_width: u32) -> XAxis {
        let widest = cats
            .iter()
            .map(|c| category(c, 24).chars().count())
            .max()
            .unwrap_or(1);
        let fit = (plot_width / (text_width(widest, TICK_PX) + 12)).max(1) as usize;
        let every = cats.len().div_ceil(fit).max(1);
        XAxis {
            at: (0..cats.len()).map(|i| i as f64).collect(),
            on_line: vec![false; cats.len()],
            range: (-0.5, cats.len() as f64 - 0.5),
            ticks: cats
                .iter()
                .enumerate()
                .filter(|(i, _)| i % every == 0)
                .map(|(i, c)| (i as f64, category(c, 24)))
                .collect(),
            title: svg_text(&t.x),
            separator: None,
            bars: true,
        }
    }
}

/// A line or bar chart of the series, with error bars where points have a confidence
/// interval.
pub(super) fn draw(series: &[StatSeries], t: &Texts) -> Result<String> {
    let mut cats: Vec<&str> = Vec::new();
    let mut cat_at: HashMap<&str, usize> = HashMap::new();
    for s in series {
        for (x, _) in &s.points {
            cat_at.entry(x).or_insert_with(|| {
                cats.push(x);
                cats.len() - 1
            });
        }
    }
    let names: Vec<String> = series.iter().map(|s| s.name.clone()).collect();
    let f = t.y_factor;
    let (y_lo, y_hi) = y_extent(series.iter().flat_map(|s| s.points.iter().map(|p| &p.1)), f);
    let y_scale = AxisScale::of(y_lo, y_hi);
    let (y0, y1) = (y_scale.apply(y_lo), y_scale.apply(y_hi));
    // A constant (or a single point) gets a range around it, not one of zero width.
    let pad = if y1 > y0 {
        (y1 - y0) * 0.08
    } else if y0 != 0.0 {
        y0.abs() * 0.1
    } else {
        1.0
    };
    let mut out = String::new();
    {
        let (root, plot, legend) = areas(&mut out, HEIGHT, t, &names)?;
        let plot_width = plot.dim_in_pixel().0.saturating_sub(110);
        let axis = XAxis::new(&cats, t, plot_width);
        let bars_from_zero = y0 >= 0.0 && axis.bars && y_scale.offset == 0.0;
        let (y0, y1) = (if bars_from_zero { 0.0 } else { y0 - pad }, y1 + pad);
        let (x0, x1) = axis.range;
        let y_step = (y1 - y0) / 10.0;
        let mut chart = ChartBuilder::on(&plot)
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(76)
            .build_cartesian_2d(
                Ticked::new(x0, x1, axis.ticks.iter().map(|t| t.0).collect()),
                Ticked::new(y0, y1, linear_ticks(y0, y1, 11)),
            )
            .map_err(draw_err)?;
        let x_label = |v: &f64| {
            axis.ticks
                .iter()
                .find(|t| t.0 == *v)
                .map(|t| t.1.clone())
                .unwrap_or_default()
        };
        let y_label = |v: &f64| tick_label(*v, y_step);
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(axis.title.clone())
            .y_desc(scaled_title(&svg_text(&t.y), y_scale))
            .axis_desc_style(("sans-serif", px(AXIS_TITLE_PX)))
            .label_style(("sans-serif", px(TICK_PX)))
            .bold_line_style(BLACK.mix(0.12))
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label);
        if axis.bars {
            mesh.disable_x_mesh();
        }
        mesh.draw().map_err(draw_err)?;
        if let Some(sx) = axis.separator {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(sx, y0), (sx, y1)],
                    4,
                    4,
                    GREY.mix(0.6).stroke_width(1),
                ))
                .map_err(draw_err)?;
        }
        let y_of = |v: f64| y_scale.apply(v * f);
        let n = series.len().max(1) as f64;
        for (i, s) in series.iter().enumerate() {
            let look = Look::of(i);
            let points = s.points.iter().filter_map(|(x, st)| {
                let c = *cat_at.get(x.as_str())?;
                Some((c, st))
            });
            if axis.bars {
                let w = 0.8 / n;
                let base = if y0 <= 0.0 && y1 >= 0.0 {
                    0.0
                } else if y1 < 0.0 {
                    y1
                } else {
                    y0
                };
                for (c, st) in points {
                    let left = axis.at[c] - 0.4 + w * i as f64;
                    let right = left + w * 0.9;
                    let v = y_of(st.mean);
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(left, base.min(v)), (right, base.max(v))],
                            look.color.filled(),
                        )))
                        .map_err(draw_err)?;
                    // A zero-height bar still shows: 0 is not "no data".
                    if (v - base).abs() <= (y1 - y0) * 0.004 {
                        chart
                            .draw_series(std::iter::once(PathElement::new(
                                vec![(left, v), (right, v)],
                                look.color.stroke_width(3),
                            )))
                            .map_err(draw_err)?;
                    }
                    if let Some((lo, hi)) = st.ci95() {
                        let mid = (left + right) / 2.0;
                        let (l, h) = (
                            chart.backend_coord(&(mid, y_of(lo))),
                            chart.backend_coord(&(mid, y_of(hi))),
                        );
                        error_bar(&root, l.0, (l.1, h.1), RGBColor(0x33, 0x33, 0x33))?;
                    }
                }
            } else {
                let mut line: Vec<(f64, f64)> = points
                    .clone()
                    .filter(|(c, _)| axis.on_line[*c])
                    .map(|(c, st)| (axis.at[c], y_of(st.mean)))
                    .collect();
                line.sort_by(|a, b| a.0.total_cmp(&b.0));
                styled_line(&mut chart, line, &look)?;
                // Error bars side by side where series share an x.
                let dodge = ((i as f64 - (n - 1.0) / 2.0) * (12.0 / n).min(3.0)).round() as i32;
                for (c, st) in points.clone() {
                    if let Some((lo, hi)) = st.ci95() {
                        let (l, h) = (
                            chart.backend_coord(&(axis.at[c], y_of(lo))),
                            chart.backend_coord(&(axis.at[c], y_of(hi))),
                        );
                        error_bar(&root, l.0 + dodge, (l.1, h.1), look.color)?;
                    }
                }
                for (c, st) in points {
                    let at = chart.backend_coord(&(axis.at[c], y_of(st.mean)));
                    marker(&root, look.shape, at, look.color)?;
                }
            }
        }
        if let (Some((margin, geometry)), Some(title)) = (&legend, &t.legend) {
            draw_legend(margin, geometry, title.as_deref(), &names, axis.bars)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(out)
}
