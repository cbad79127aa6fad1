//! Integration tests of `qlab plot` through the binary: confidence intervals against numbers
//! worked out by hand, the `--summary` table, the default split by variant, axis ticks and
//! titles, the legend, the "no row has" message, and the two outputs written together or not
//! at all. Every CSV here is written by hand, a few rows long.

mod common;
#[allow(unused_imports)]
use common::*;

use std::fs;
use std::path::Path;
use std::process::Output;

/// `qlab plot CSV ARGS... --out OUT`.
fn plot(csv: &Path, out: &Path, args: &[&str]) -> Output {
    qlab()
        .arg("plot")
        .arg(csv)
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run qlab plot")
}

/// Asserts a successful run that printed nothing.
fn assert_quiet_success(o: &Output) {
    assert!(o.status.success(), "{}", stderr(o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "");
}

/// Asserts a failed run whose stderr is exactly `qlab: error: {message}`.
fn assert_error(o: &Output, message: &str) {
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(o));
    assert_eq!(stderr(o), format!("qlab: error: {message}\n"));
}

/// The text of every `<text>` element of an SVG, in order.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_string())
        })
        .collect()
}

/// A summary CSV as its header and rows of fields.
fn table(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let split = |l: &str| l.split(',').map(str::to_string).collect::<Vec<_>>();
    let header = split(lines.next().unwrap());
    (header, lines.map(split).collect())
}

fn close(got: &str, want: f64) {
    let v: f64 = got
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {got:?}"));
    assert!(
        (v - want).abs() <= 1e-12 * want.abs().max(1.0),
        "{v} vs {want}"
    );
}

#[test]
fn each_point_is_the_mean_with_a_students_t_interval() {
    let d = Dir::new();
    // x = 1: three repeats of 1, 2, 3. x = 2: one row.
    let csv = d.write("r.csv", "repeat,x,y\n0,1,1\n1,1,2\n2,1,3\n0,2,10\n");
    let (out, sum) = (d.path("r.svg"), d.path("r.summary.csv"));
    let o = plot(
        &csv,
        &out,
        &["--x", "x", "--y", "y", "--summary", sum.to_str().unwrap()],
    );
    assert_quiet_success(&o);
    let (header, rows) = table(&sum);
    assert_eq!(
        header,
        ["series", "x", "n", "mean", "std", "ci95_low", "ci95_high"]
    );
    assert_eq!(rows.len(), 2);
    // By hand: mean 2; s² = ((1-2)² + 0 + (3-2)²) / 2 = 1; t(0.975, 2) = 4.302652729749464
    // (tables give 4.3027); half-width = 4.302652729749464 / √3 = 2.484137...
    let half = 4.302652729749464 / 3f64.sqrt();
    assert!((half - 2.4841377).abs() < 1e-6);
    assert_eq!(rows[0][..3], ["y", "1", "3"]);
    close(&rows[0][3], 2.0);
    close(&rows[0][4], 1.0);
    close(&rows[0][5], 2.0 - half);
    close(&rows[0][6], 2.0 + half);
    // One row: a mean, no spread, no interval.
    assert_eq!(rows[1], ["y", "2", "1", "10", "", "", ""]);
    let svg = fs::read_to_string(&out).unwrap();
    // Not one row from each of the same repeats everywhere: counted as rows.
    assert!(
        svg.contains("mean of 1–3 rows per point ± 95% CI"),
        "{:?}",
        svg_texts(&svg)
    );
}

#[test]
fn the_subtitle_counts_repeats_and_there_is_no_old_wording() {
    let d = Dir::new();
    let mut rows = String::from("repeat,block,y\n");
    for r in 0..5 {
        for b in [8, 16] {
            rows.push_str(&format!("{r},{b},{}\n", 10 + r + b));
        }
    }
    let csv = d.write("r.csv", rows);
    let out = d.path("r.svg");
    assert_quiet_success(&plot(&csv, &out, &["--x", "block", "--y", "y"]));
    let svg = fs::read_to_string(&out).unwrap();
    assert!(svg.contains("mean over 5 repeats ± 95% CI"));
    assert!(!svg.contains("mean of the other rows"));
}

#[test]
fn several_variants_are_split_by_variant_unless_told_otherwise() {
    let d = Dir::new();
    let csv = d.write(
        "v.csv",
        "variant,x.dist,out_sqnr_db\n\
         int8,normal,40\nmxfp4,normal,15\nint8,laplace,35\nmxfp4,laplace,14\n",
    );
    let (out, sum) = (d.path("v.svg"), d.path("v.csv.summary"));
    let s = sum.to_str().unwrap();
    let series = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--summary", s]);
        assert_quiet_success(&plot(&csv, &out, &all));
        let (_, rows) = table(&sum);
        rows.into_iter()
            .map(|r| format!("{} {} {}", r[0], r[1], r[2]))
            .collect::<Vec<_>>()
    };
    // No --by: one series per variant, never INT8 and MXFP4 averaged together.
    assert_eq!(
        series(&["--x", "x.dist", "--y", "out_sqnr_db"]),
        [
            "int8 normal 1",
            "int8 laplace 1",
            "mxfp4 normal 1",
            "mxfp4 laplace 1"
        ]
    );
    let texts = svg_texts(&fs::read_to_string(&out).unwrap());
    assert!(
        texts.iter().any(|t| t == "variant"),
        "legend title: {texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t == "output SQNR vs x distribution, by variant")
    );
    // One variant left: nothing to split.
    assert_eq!(
        series(&[
            "--x",
            "x.dist",
            "--y",
            "out_sqnr_db",
            "--where",
            "variant=int8"
        ]),
        ["out_sqnr_db normal 1", "out_sqnr_db laplace 1"]
    );
    // The variant on the x axis: each point is one variant already.
    assert_eq!(
        series(&["--x", "variant", "--y", "out_sqnr_db"]),
        ["out_sqnr_db int8 2", "out_sqnr_db mxfp4 2"]
    );
    // An explicit --by is obeyed.
    assert_eq!(
        series(&["--x", "variant", "--y", "out_sqnr_db", "--by", "x.dist"]),
        [
            "normal int8 1",
            "normal mxfp4 1",
            "laplace int8 1",
            "laplace mxfp4 1"
        ]
    );
    // The scatter splits too, unless the label is the variant.
    assert_quiet_success(&plot(
        &csv,
        &out,
        &[
            "--x",
            "out_sqnr_db",
            "--y",
            "out_sqnr_db",
            "--label",
            "x.dist",
            "--summary",
            s,
        ],
    ));
    let (header, rows) = table(&sum);
    assert_eq!(
        header,
        [
            "series",
            "label",
            "x_mean",
            "n",
            "y_mean",
            "y_std",
            "y_ci95_low",
            "y_ci95_high"
        ]
    );
    let names: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["int8", "int8", "mxfp4", "mxfp4"]);
}

#[test]
fn axes_are_titled_by_name_and_unit_and_ticked_readably() {
    let d = Dir::new();
    // A block-size axis: powers of two; the per-tensor scale drawn apart at the right.
    let mut rows = String::from("variant.block_size,x_clipped,x.outlier_channels.factor\n");
    for (i, b) in ["8", "16", "32", "64", "tensor"].iter().enumerate() {
        rows.push_str(&format!("{b},0.{i},{}\n", [1, 3, 10, 300, 1000][i]));
    }
    let csv = d.write("b.csv", rows);
    let out = d.path("b.svg");
    assert_quiet_success(&plot(
        &csv,
        &out,
        &["--x", "variant.block_size", "--y", "x_clipped"],
    ));
    let svg = fs::read_to_string(&out).unwrap();
    let texts = svg_texts(&svg);
    for t in [
        "8",
        "16",
        "32",
        "64",
        "tensor",
        "block size (elements, log scale)",
        "x clipped (%)",
    ] {
        assert!(texts.iter().any(|x| x == t), "no {t:?} in {texts:?}");
    }
    // Fractions are drawn as percentages: 0.4 is 40 %, so the y ticks reach 40.
    assert!(texts.iter().any(|x| x == "40"), "{texts:?}");
    assert!(svg.contains("<polyline"), "a line chart, not bars");
    // Non-power-of-two ticks on a log2 axis would be "11.3" or "22.6".
    assert!(!texts.iter().any(|t| t.contains(".3") || t.contains(".6")));

    // A log10 axis: 1, 2 and 5 per decade, never 3.162.
    let out = d.path("f.svg");
    assert_quiet_success(&plot(
        &csv,
        &out,
        &["--x", "x.outlier_channels.factor", "--y", "x_clipped"],
    ));
    let texts = svg_texts(&fs::read_to_string(&out).unwrap());
    for t in ["1", "2", "5", "10", "20", "50", "100", "200", "500", "1000"] {
        assert!(texts.iter().any(|x| x == t), "no tick {t} in {texts:?}");
    }
    assert!(!texts.iter().any(|t| t.contains("3.16")), "{texts:?}");
    assert!(
        texts
            .iter()
            .any(|t| t == "x outlier-channel factor (log scale)"),
        "{texts:?}"
    );
}

#[test]
fn the_legend_has_a_title_and_stays_out_of_the_data() {
    let d = Dir::new();
    let mut rows = String::from("x.dist,k,out_sqnr_db\n");
    for (dist, base) in [("normal", 30.0), ("student_t", 20.0), ("laplace", 25.0)] {
        for k in 1..=20 {
            rows.push_str(&format!("{dist},{k},{}\n", base + f64::from(k)));
        }
    }
    let csv = d.write("l.csv", rows);
    let out = d.path("l.svg");
    assert_quiet_success(&plot(
        &csv,
        &out,
        &["--x", "k", "--y", "out_sqnr_db", "--by", "x.dist"],
    ));
    let svg = fs::read_to_string(&out).unwrap();
    let texts = svg_texts(&svg);
    assert!(texts.iter().any(|t| t == "x distribution"), "{texts:?}");
    // The legend title's left edge is right of every point of the data lines.
    let at = svg.find(">\nx distribution\n<").unwrap();
    let open = svg[..at].rfind("<text").unwrap();
    let tag = &svg[open..at];
    let x_attr = &tag[tag.find(" x=\"").unwrap() + 4..];
    let legend_x: f64 = x_attr[..x_attr.find('"').unwrap()].parse().unwrap();
    let mut lines = 0;
    for part in svg.split("stroke-width=\"2\" points=\"").skip(1).take(3) {
        lines += 1;
        for p in part[..part.find('"').unwrap()].split_whitespace() {
            let x: f64 = p.split(',').next().unwrap().parse().unwrap();
            assert!(
                x < legend_x,
                "a data point at x = {x}, the legend at {legend_x}"
            );
        }
    }
    assert_eq!(lines, 3, "three data lines");
    // Okabe and Ito's colours, not plotters' palette.
    for c in ["#0072B2", "#D55E00", "#009E73"] {
        assert!(svg.contains(c), "{c}");
    }
    assert!(!svg.contains("#F0E442"), "no yellow on white");
}

#[test]
fn a_zero_bar_is_drawn() {
    let d = Dir::new();
    let csv = d.write("z.csv", "rule,y\nfloor,0.25\nceil,0\n");
    let out = d.path("z.svg");
    assert_quiet_success(&plot(&csv, &out, &["--x", "rule", "--y", "y"]));
    let svg = fs::read_to_string(&out).unwrap();
    assert!(
        svg.contains("stroke-width=\"3\""),
        "a line marks the zero-height bar"
    );
}

#[test]
fn a_where_that_matches_nothing_lists_the_values_there_are() {
    let d = Dir::new();
    let csv = d.write(
        "w.csv",
        "format,x.dist,y\nmxfp4,normal,1\nmxfp4,student_t,2\nint8,laplace,3\n",
    );
    let out = d.path("w.svg");
    assert_error(
        &plot(
            &csv,
            &out,
            &["--x", "x.dist", "--y", "y", "--where", "x.dist=studentt"],
        ),
        &format!(
            "{}: has no rows to plot after --where: no row has x.dist = 'studentt'; did you \
             mean 'student_t'? x.dist holds: normal, student_t, laplace",
            csv.display()
        ),
    );
    // After an earlier filter: the values among the rows it kept.
    assert_error(
        &plot(
            &csv,
            &out,
            &[
                "--x",
                "x.dist",
                "--y",
                "y",
                "--where",
                "format=mxfp4",
                "--where",
                "x.dist=laplace",
            ],
        ),
        &format!(
            "{}: has no rows to plot after --where: no row has x.dist = 'laplace' among the \
             rows with format=mxfp4; x.dist holds: normal, student_t",
            csv.display()
        ),
    );
    // Many values: the first twelve, and how many more.
    let mut rows = String::from("c,y\n");
    for i in 0..15 {
        rows.push_str(&format!("v{i},1\n"));
    }
    let many = d.write("many.csv", rows);
    let o = plot(
        &many,
        &out,
        &["--x", "c", "--y", "y", "--where", "c=zzzzzz"],
    );
    assert_error(
        &o,
        &format!(
            "{}: has no rows to plot after --where: no row has c = 'zzzzzz'; c holds: v0, v1, \
             v2, v3, v4, v5, v6, v7, v8, v9, v10, v11 and 3 more",
            many.display()
        ),
    );
    assert!(!out.exists());
}

#[test]
fn the_svg_and_the_summary_are_written_together_or_not_at_all() {
    let d = Dir::new();
    let csv = d.write("t.csv", "x,y\n1,1\n1,3\n2,2\n");
    let (out, sum) = (d.path("t.svg"), d.path("t.summary.csv"));
    // A --summary that cannot be written: no SVG either.
    let nowhere = d.path("no/such/dir/s.csv");
    let o = plot(
        &csv,
        &out,
        &[
            "--x",
            "x",
            "--y",
            "y",
            "--summary",
            nowhere.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.starts_with("qlab: error: ") && e.lines().count() == 1,
        "{e}"
    );
    assert!(!out.exists() && !nowhere.exists());
    // The summary may not be the input, nor the SVG.
    for bad in [&csv, &out] {
        let o = plot(
            &csv,
            &out,
            &["--x", "x", "--y", "y", "--summary", bad.to_str().unwrap()],
        );
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(!out.exists());
    }
    assert_eq!(fs::read_to_string(&csv).unwrap(), "x,y\n1,1\n1,3\n2,2\n");
    // A bad column: one line, nothing written.
    let o = plot(
        &csv,
        &out,
        &[
            "--x",
            "nope",
            "--y",
            "y",
            "--summary",
            sum.to_str().unwrap(),
        ],
    );
    assert_error(
        &o,
        &format!("{}: no column 'nope'; columns: x, y", csv.display()),
    );
    assert!(!out.exists() && !sum.exists());
    // Both, when all is well.
    assert_quiet_success(&plot(
        &csv,
        &out,
        &["--x", "x", "--y", "y", "--summary", sum.to_str().unwrap()],
    ));
    assert!(fs::read_to_string(&out).unwrap().starts_with("<svg"));
    let (_, rows) = table(&sum);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][..4], ["y", "1", "2", "2"]);
}

#[test]
fn plot_reads_standard_input_once_even_for_a_scatter() {
    let d = Dir::new();
    let out = d.path("s.svg");
    let o = qlab()
        .args([
            "plot", "-", "--x", "bits", "--y", "db", "--label", "v", "--out",
        ])
        .arg(&out)
        .write_stdin("v,bits,db\na,4,10\nb,8,20\na,4,12\n")
        .output()
        .unwrap();
    assert_quiet_success(&o);
    let texts = svg_texts(&fs::read_to_string(&out).unwrap());
    assert!(
        texts.iter().any(|t| t == "db vs bits, one point per v"),
        "{texts:?}"
    );
}
