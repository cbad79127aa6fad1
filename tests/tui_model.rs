//! The explorer on a model (`qlab tui MODEL.safetensors`): the model screen lists the 2-D
//! float tensors, fills in each variant's output SQNR as scan results arrive, sorts worst
//! first, filters by name, and opens a tensor as W in the ordinary screens.

mod common;

use common::*;

use qlab::scenario::{Scenario, Source};
use qlab::tui::app::{Action, App, Command, Screen};
use qlab::tui::keymap::{self, Context};
use qlab::tui::model::{self, Model};
use qlab::tui::render;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn vals(n: usize, seed: f32, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((i as f32 + 1.0) * seed).sin() * scale)
        .collect()
}

/// A model of four matrices (one with outliers, so its INT8 row is the worst) and a norm.
fn model_file(d: &Dir) -> std::path::PathBuf {
    let mut spiky = vals(16 * 64, 0.3, 0.02);
    spiky[5] = 3.0;
    d.bytes(
        "m.safetensors",
        &safetensors(&[
            (
                "layers.0.attn.weight",
                "F32",
                &[16, 64],
                f32_bytes(&vals(16 * 64, 0.7, 0.02)),
            ),
            ("layers.0.mlp.weight", "F32", &[16, 64], f32_bytes(&spiky)),
            (
                "layers.10.mlp.weight",
                "F32",
                &[8, 32],
                f32_bytes(&vals(8 * 32, 0.9, 0.02)),
            ),
            (
                "layers.2.mlp.weight",
                "F32",
                &[8, 32],
                f32_bytes(&vals(8 * 32, 0.4, 0.05)),
            ),
            ("norm.weight", "F32", &[64], f32_bytes(&vals(64, 0.1, 1.0))),
        ]),
    )
}

/// An app on the model, its scan carried out synchronously, as the scan thread would.
fn scanned(d: &Dir) -> App {
    let path = model_file(d);
    let scenario = Scenario::default();
    let m = Model::open(&path, &scenario).unwrap();
    let mut app = App::with_model(scenario, m);
    app.update(Action::Resize(80, 24));
    let Some(Command::Scan(job)) = app.scan() else {
        panic!("a model app scans");
    };
    for (row, s) in &job.scenarios {
        let result = model::scan_one(s);
        assert!(result.is_ok(), "{result:?}");
        app.update(Action::Scanned {
            generation: job.generation,
            row: *row,
            result,
        });
    }
    app
}

fn text(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| render::draw(f, app)).unwrap();
    let buf = term.backend().buffer().clone();
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

fn key(app: &mut App, code: KeyCode) -> Option<Command> {
    let a = keymap::action(
        app.context(),
        app.screen,
        KeyEvent::new(code, KeyModifiers::NONE),
    );
    app.update(a)
}

#[test]
fn the_model_screen_lists_the_matrices_in_layer_order_with_their_scan() {
    let d = Dir::new();
    let app = scanned(&d);
    assert_eq!(app.screen, Screen::Model);
    assert_eq!(app.screens()[0], Screen::Model);
    let t = text(&app, 80, 24);
    assert!(t.contains("1 Model"), "{t}");
    assert!(t.contains("4 tensors, 4 scanned"), "{t}");
    let order: Vec<usize> = [
        "layers.0.attn.weight",
        "layers.0.mlp.weight",
        "layers.2.mlp.weight",
        "layers.10.mlp.weight",
    ]
    .iter()
    .map(|n| t.find(n).unwrap_or_else(|| panic!("{n} missing:\n{t}")))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{t}");
    assert!(
        !t.contains("norm.weight"),
        "1-D tensors are not listed:\n{t}"
    );
    // Each row shows the variant values the scan reported (one decimal).
    let m = app.model.as_ref().unwrap();
    let Some(Ok(v)) = &m.rows[0].sqnr else {
        panic!("row 0 scanned");
    };
    let line = t
        .lines()
        .find(|l| l.contains("layers.0.attn.weight"))
        .unwrap();
    assert!(line.contains(&format!("{:.1}", v[0])), "{line}");
    // The same at 120 × 40, every variant's column.
    let wide = text(&app, 120, 40);
    let line = wide
        .lines()
        .find(|l| l.contains("layers.0.attn.weight"))
        .unwrap();
    for x in v {
        assert!(line.contains(&format!("{x:.1}")), "{line}");
    }
}

#[test]
fn rows_fill_in_as_results_arrive_and_stale_scans_are_dropped() {
    let d = Dir::new();
    let path = model_file(&d);
    let scenario = Scenario::default();
    let mut app = App::with_model(scenario.clone(), Model::open(&path, &scenario).unwrap());
    app.update(Action::Resize(80, 24));
    let Some(Command::Scan(job)) = app.scan() else {
        panic!()
    };
    let t = text(&app, 80, 24);
    assert!(t.contains("0 scanned") && t.contains('…'), "{t}");
    // A result of an older scan is ignored; the current one lands.
    app.update(Action::Scanned {
        generation: job.generation - 1,
        row: 0,
        result: Ok(vec![1.0; 4]),
    });
    assert_eq!(app.model.as_ref().unwrap().scanned(), 0);
    app.update(Action::Scanned {
        generation: job.generation,
        row: 0,
        result: Err("boom".into()),
    });
    assert!(text(&app, 80, 24).contains("boom"));
}

#[test]
fn sort_filter_and_enter_open_a_tensor_as_w() {
    let d = Dir::new();
    let mut app = scanned(&d);
    // Worst first: the spiky MLP weight's INT8 row is the lowest.
    assert!(key(&mut app, KeyCode::Char('s')).is_none());
    let m = app.model.as_ref().unwrap();
    assert!(m.worst_first);
    let first = m.selected().unwrap().name.clone();
    let worst = m
        .rows
        .iter()
        .min_by(|a, b| a.worst().unwrap().total_cmp(&b.worst().unwrap()))
        .unwrap()
        .name
        .clone();
    assert_eq!(first, worst);
    // `/` types a filter; Enter keeps it; Esc would clear it.
    key(&mut app, KeyCode::Char('/'));
    assert_eq!(app.context(), Context::Filter);
    for c in "10.".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.context(), Context::Main);
    let m = app.model.as_ref().unwrap();
    assert_eq!(m.visible().len(), 1);
    assert_eq!(m.selected().unwrap().name, "layers.10.mlp.weight");
    assert!(text(&app, 80, 24).contains("filter: /10."));
    // Enter opens it as W: the next computation reads that tensor, on the Overview.
    let Some(Command::Compute(job)) = key(&mut app, KeyCode::Enter) else {
        panic!("Enter on a row computes");
    };
    assert_eq!(app.screen, Screen::Overview);
    match &job.scenario.w.source {
        Source::File { path, tensor } => {
            assert_eq!(path, &d.path("m.safetensors"));
            assert_eq!(tensor.as_deref(), Some("layers.10.mlp.weight"));
        }
        other => panic!("{other:?}"),
    }
    let done = qlab::tui::compute(&job);
    assert!(done.result.is_ok(), "{:?}", done.result.err());
    app.update(Action::Finished(Box::new(done)));
    assert!(
        text(&app, 80, 24).contains("W 8×32: "),
        "{}",
        text(&app, 80, 24)
    );
    // Esc on a filter being typed clears it.
    key(&mut app, KeyCode::Char('1'));
    assert_eq!(app.screen, Screen::Model);
    key(&mut app, KeyCode::Char('/'));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.model.as_ref().unwrap().visible().len(), 4);
}

#[test]
fn with_a_model_the_footer_and_help_name_its_keys() {
    let d = Dir::new();
    let mut app = scanned(&d);
    let t = text(&app, 120, 40);
    let footer = t.lines().last().unwrap();
    for hint in ["open as W", "sort", "filter"] {
        assert!(footer.contains(hint), "{footer}");
    }
    app.update(Action::ToggleHelp);
    let t = text(&app, 120, 40);
    for b in keymap::BINDINGS {
        assert!(
            t.contains(b.help),
            "'{}' missing from the help:\n{t}",
            b.help
        );
    }
}
