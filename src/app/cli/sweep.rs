//! `qlab sweep`, `qlab merge` and `qlab plot`: many configurations into one CSV, shards into
//! one file, a CSV into a chart.

use std::path::PathBuf;

use clap::Args;

use crate::core::error::{Error, Result};
use crate::core::files::{Content, Outputs};
use crate::core::{stdio, text};
use crate::note;

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Sweep file (TOML)
    pub spec: PathBuf,
    /// Output CSV (one row per configuration × variant)
    #[arg(long, value_name = "FILE.csv", required_unless_present = "dry_run")]
    pub out: Option<PathBuf>,
    /// Continue a partial output file, skipping the configurations it holds
    #[arg(long)]
    pub resume: bool,
    /// Run only part I of N (configurations whose index is I-1 modulo N)
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::app::sweep::Shard>,
    /// Print the number of configurations and the first rows of the plan, run nothing
    #[arg(long)]
    pub dry_run: bool,
    /// No progress output
    #[arg(long)]
    pub quiet: bool,
    /// Add a 'seconds' column (makes the file differ from run to run)
    #[arg(long)]
    pub timings: bool,
    /// Run sweeps of more than 10 million configurations
    #[arg(long)]
    pub yes: bool,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Sweep CSVs to combine (shards of one sweep)
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output CSV
    #[arg(long, value_name = "ALL.csv")]
    pub out: PathBuf,
    /// Write the merge even when configurations of the sweep are missing (without it, a
    /// missing configuration is an error and nothing is written)
    #[arg(long)]
    pub allow_missing: bool,
}

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// A sweep or run CSV
    pub csv: PathBuf,
    /// Column for the x axis (numbers give a line chart, anything else a bar chart)
    #[arg(long)]
    pub x: String,
    /// Column for the y axis: each point is the mean of the rows that share x and --by,
    /// drawn with its 95% confidence interval (Student's t; none for a single row)
    #[arg(long)]
    pub y: String,
    /// One series per value of this column. Without it, rows of several variants are split
    /// by variant (different formats are never averaged together) unless --x or --label is
    /// the variant
    #[arg(long)]
    pub by: Option<String>,
    /// A scatter instead: one point per value of this column (x and y averaged), each
    /// series' Pareto frontier (less x, more y) drawn and labelled, e.g. --label variant
    #[arg(long)]
    pub label: Option<String>,
    /// Keep only rows where COLUMN equals VALUE (repeatable), e.g. --where format=mxfp4
    #[arg(long = "where", value_name = "COLUMN=VALUE", value_parser = parse_filter)]
    pub filters: Vec<(String, String)>,
    /// Output SVG
    #[arg(long, value_name = "FIG.svg")]
    pub out: PathBuf,
    /// Also write the table the chart draws, one row per point: series, x, n, mean, std,
    /// ci95_low, ci95_high, in the CSV's units (written with --out, or neither is)
    #[arg(long, value_name = "OUT.csv")]
    pub summary: Option<PathBuf>,
}

pub(super) fn merge_cmd(a: &MergeArgs) -> Result<()> {
    let mut outs = Outputs::new(&a.inputs);
    let slot = outs.add("--out", &a.out, Content::Text)?;
    let (m, bytes) = crate::app::sweep::merge::merge_bytes(&a.inputs)?;
    let missing = (m.missing_count > 0).then(|| {
        let shown: Vec<String> = m.missing.iter().map(u64::to_string).collect();
        format!(
            "{} missing: {}{}",
            text::count(m.missing_count, "configuration"),
            shown.join(", "),
            if m.missing_count > m.missing.len() as u64 {
                ", …"
            } else {
                ""
            }
        )
    });
    if let Some(missing) = &missing
        && !a.allow_missing
    {
        return Err(Error::Invalid(format!(
            "{missing}; nothing written (merge every shard, or pass --allow-missing to write \
             the {} that are here)",
            text::count(m.configs, "configuration")
        )));
    }
    outs.put(slot, bytes);
    outs.commit()?;
    note!(
        "merged {} ({}) into {}",
        text::count(m.configs, "configuration"),
        text::count(m.rows as u64, "row"),
        shown_out(&a.out)
    );
    if let Some(missing) = missing {
        note!("qlab: {missing} (--allow-missing)");
    }
    Ok(())
}

pub(super) fn plot_cmd(a: &PlotArgs) -> Result<()> {
    let mut outs = Outputs::new(&[&a.csv]);
    let slot = outs.add("--out", &a.out, Content::Text)?;
    let summary = a
        .summary
        .as_ref()
        .map(|p| outs.add("--summary", p, Content::Text))
        .transpose()?;
    let chart = match &a.label {
        Some(l) => crate::app::plot::scatter(&a.csv, &a.x, &a.y, a.by.as_deref(), l, &a.filters)?,
        None => crate::app::plot::plot(&a.csv, &a.x, &a.y, a.by.as_deref(), &a.filters)?,
    };
    if chart.skipped > 0 {
        note!(
            "qlab: plot: {} of {} rows skipped: their x or y is not a finite number",
            chart.skipped,
            chart.rows
        );
    }
    outs.put(slot, chart.svg.into_bytes());
    if let Some(s) = summary {
        outs.put(s, chart.summary);
    }
    outs.commit()
}

fn parse_filter(s: &str) -> std::result::Result<(String, String), String> {
    s.split_once('=')
        .map(|(c, v)| (c.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected COLUMN=VALUE, got '{s}'"))
}

pub(super) fn sweep_cmd(a: &SweepArgs, threads: Option<usize>) -> Result<()> {
    use crate::app::sweep::{self, LARGE_SWEEP, Progress, Shard, Sweep};
    let spec = Sweep::load(&a.spec)?;
    let n = spec.len();
    if a.dry_run {
        let v = spec.variants();
        let mut lines = format!(
            "{}: {n} configuration{} × {v} variant{} = {} rows (sweep {})\n",
            text::printable(&spec.name),
            if n == 1 { "" } else { "s" },
            if v == 1 { "" } else { "s" },
            n.checked_mul(v as u64)
                .map_or("more than 2^64".to_string(), |r| r.to_string()),
            spec.id
        );
        for line in sweep::run::plan(&spec, 10)? {
            lines.push_str(&format!("{}\n", text::printable(&line)));
        }
        if n > 10 {
            lines.push_str(&format!("   … {} more\n", n - 10));
        }
        return stdio::print(&lines);
    }
    if n > LARGE_SWEEP && !a.yes {
        return Err(Error::Invalid(format!(
            "{}: the sweep has {n} configurations, more than {LARGE_SWEEP}; pass --yes to run it anyway",
            a.spec.display()
        )));
    }
    let out = a
        .out
        .as_ref()
        .expect("clap requires --out without --dry-run");
    let opts = sweep::Options {
        threads,
        resume: a.resume,
        shard: a.shard.unwrap_or(Shard::ALL),
        timings: a.timings,
        one_at_a_time: false,
        progress: if a.quiet {
            Progress::Quiet
        } else {
            Progress::Auto
        },
    };
    let ran = sweep::run(&spec, out, &opts)?;
    if !a.quiet {
        note!(
            "sweep {}: ran {} into {}",
            spec.id,
            text::count(ran, "configuration"),
            shown_out(out)
        );
    }
    Ok(())
}

/// An output path for a closing note: "standard output" for `-` and its aliases.
fn shown_out(p: &std::path::Path) -> String {
    if crate::core::files::output::is_stdout_path(p) {
        "standard output".to_string()
    } else {
        text::printable(&p.display().to_string()).into_owned()
    }
}
