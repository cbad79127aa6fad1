//! `qlab run`: one scenario, every variant side by side, as a table, JSON or CSV rows.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::core::error::{Error, Result};
use crate::core::files::{Content, Outputs};
use crate::core::scenario::Scenario;
use crate::core::{experiment, report};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Scenario file (TOML); the built-in default scenario when omitted
    pub scenario: Option<PathBuf>,
    /// Print the whole report as JSON instead of the table
    #[arg(long)]
    pub json: bool,
    /// Also write one CSV row per variant to this file
    #[arg(long, value_name = "OUT.csv")]
    pub csv: Option<PathBuf>,
}

pub(super) fn cmd(a: &RunArgs) -> Result<()> {
    let csv_to_stdout = a
        .csv
        .as_deref()
        .is_some_and(crate::core::files::output::is_stdout_path);
    if csv_to_stdout && a.json {
        return Err(Error::Invalid(
            "--csv - and --json would both write to standard output; give --csv a file".into(),
        ));
    }
    let scenario = match &a.scenario {
        Some(p) => Scenario::load(p)?,
        None => Scenario::default(),
    };
    let mut inputs = scenario.data_files();
    inputs.extend(a.scenario.clone());
    let mut outs = Outputs::new(&inputs);
    let csv = a
        .csv
        .as_ref()
        .map(|p| outs.add("--csv", p, Content::Text))
        .transpose()?;
    let report = experiment::run(&scenario).map_err(|e| match &a.scenario {
        Some(p) => e.in_file(p),
        None => e,
    })?;
    if let Some(slot) = csv {
        outs.put(slot, report::csv_bytes(&report::ReportRow::all(&report))?);
    }
    // The table (or the JSON) is part of the same commit: if standard output fails (a full
    // disk, a closed pipe), the CSV is not written either.
    if !csv_to_stdout {
        let text = if a.json {
            let json = serde_json::to_string_pretty(&report)
                .map_err(|e| Error::Invalid(format!("JSON: {e}")))?;
            format!("{json}\n")
        } else {
            crate::app::table::render(&report)
        };
        let slot = outs.add("standard output", Path::new("-"), Content::Text)?;
        outs.put(slot, text.into_bytes());
    }
    outs.commit()
}
