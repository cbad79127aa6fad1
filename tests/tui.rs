//! Integration tests of the explorer without a terminal: every action through `App::update`
//! (computations run synchronously), the keymap and the hints and help generated from it,
//! insta snapshots of every screen and overlay at 100 × 32, smoke renders of every shipped
//! scenario, and a property test over random action sequences.
//!
//! Snapshots: `INSTA_UPDATE=always cargo test --release --test tui` writes them to
//! tests/snapshots/; review the diff before committing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;
use qlab::data::distribution::{Distribution, Role};
use qlab::format::{BlockSize, Rounding, ScaleRule};
use qlab::scenario::{Scenario, Source};
use qlab::tui::app::{
    Action, App, Command, Done, Job, Operand, Overlay, Param, PickItem, PickSource, Screen, Target,
};
use qlab::tui::keymap::{self, BINDINGS, Context, Key};
use qlab::tui::render;
use qlab::walkthrough::Mode;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The size every snapshot is taken at.
const W: u16 = 100;
const H: u16 = 32;

/// What every result claims to have taken, so that the header is stable.
const ELAPSED: Duration = Duration::from_millis(5);

/// Small and deterministic: W has two outlier K-channels (so the block scales differ), x is
/// heavy-tailed. Variants: 0 INT8, 1 MXFP4 b32 floor, 2 MXFP4 b16 rceil.
const SMALL: &str = r#"
name = "tui-test"
description = "a small deterministic scenario for the explorer's tests"
seed = 7
m = 16
k = 96
n = 8

[w]
dist = "normal"
std = 0.02
outlier_channels = { count = 2, factor = 20.0 }

[x]
dist = "student_t"
nu = 3.0

[[variants]]
label = "int8"
format = "int8"

[[variants]]
label = "mxfp4 b32"
format = "mxfp4"
block_size = 32

[[variants]]
label = "mxfp4 b16 rceil"
format = "mxfp4"
block_size = 16
scale_rule = "rceil"
"#;

const INT8: usize = 0;
const MX32: usize = 1;
const MX16: usize = 2;

/// INT8 refuses NaN, so the whole computation fails.
const NAN_DATA: &str = r#"
name = "nan-data"
description = "a NaN in W"

[w]
values = [[0.5, nan], [-0.25, 1.0]]

[x]
values = [1.0, 2.0]

[[variants]]
format = "int8"

[[variants]]
format = "mxfp4"
"#;

const SEED: &str = "scenarios/seed-walkthrough.toml";

fn parse(text: &str) -> Scenario {
    Scenario::from_toml(text, Path::new("t.toml"), PathBuf::new())
        .unwrap_or_else(|e| panic!("scenario should parse: {e}\n{text}"))
}

/// Runs a job like the worker does, with a fixed elapsed time.
fn finish(job: &Job) -> Done {
    let mut done = qlab::tui::compute(job);
    if let Ok(c) = done.result.as_mut() {
        c.elapsed = ELAPSED;
    }
    done
}

/// Carries out a compute request synchronously and feeds the result back.
fn settle(app: &mut App, cmd: Option<Command>) {
    match cmd {
        None => {}
        Some(Command::Compute(job)) => {
            let follow = app.update(Action::Finished(Box::new(finish(&job))));
            assert!(follow.is_none(), "Finished asked for {follow:?}");
        }
        Some(other) => panic!("settle carries out Compute only, got {other:?}"),
    }
}

/// An app on `scenario` with its first result in, sized for the snapshots.
fn ready_with(scenario: Scenario) -> App {
    let mut app = App::new(scenario);
    assert!(app.update(Action::Resize(W, H)).is_none());
    let first = app.start();
    settle(&mut app, Some(first));
    assert!(app.pending.is_none());
    assert!(
        app.error.is_none(),
        "first computation failed: {:?}",
        app.error
    );
    assert!(app.computed.is_some());
    app
}

fn ready() -> App {
    ready_with(parse(SMALL))
}

fn seed_app() -> App {
    ready_with(Scenario::load(Path::new(SEED)).expect("the seed scenario loads"))
}

fn select_variant(app: &mut App, i: usize) {
    while app.variant != i {
        assert!(app.update(Action::NextVariant).is_none());
    }
}

fn terminal(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("a test terminal");
    term.draw(|f| render::draw(f, app)).expect("draw");
    term
}

/// The backend's Display form: what the snapshots hold.
fn render(app: &App, w: u16, h: u16) -> String {
    terminal(app, w, h).backend().to_string()
}

/// The screen as plain rows of symbols.
fn rows(app: &App, w: u16, h: u16) -> Vec<String> {
    let term = terminal(app, w, h);
    let buf = term.backend().buffer();
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect())
        .collect()
}

fn screen_text(app: &App, w: u16, h: u16) -> String {
    rows(app, w, h).join("\n")
}

/// Moves the editor's cursor to `p`.
fn goto_param(app: &mut App, p: Param) {
    assert_eq!(app.overlay, Overlay::Params);
    let target = app
        .params()
        .iter()
        .position(|&q| q == p)
        .unwrap_or_else(|| panic!("{p:?} is not offered for variant {}", app.variant));
    while app.param < target {
        assert!(app.update(Action::Down).is_none());
    }
    while app.param > target {
        assert!(app.update(Action::Up).is_none());
    }
    assert_eq!(app.params()[app.param], p);
}

/// Changes `p` by one step (right: up) and returns what `update` asked for.
fn change(app: &mut App, p: Param, right: bool) -> Option<Command> {
    goto_param(app, p);
    app.update(if right { Action::Right } else { Action::Left })
}

/// Applies `action`, expects a request for the next generation with the app's scenario,
/// carries it out and returns the job.
fn recomputes(app: &mut App, action: Action) -> Job {
    let before = app.generation;
    let cmd = app.update(action);
    let Some(Command::Compute(job)) = cmd else {
        panic!("expected a compute request, got {cmd:?}");
    };
    assert_eq!(job.generation, before + 1);
    assert_eq!(app.generation, before + 1);
    assert_eq!(app.pending.as_ref().map(|p| p.0), Some(before + 1));
    assert_eq!(job.scenario, app.scenario);
    let job = *job;
    settle(app, Some(Command::Compute(Box::new(job.clone()))));
    assert!(app.pending.is_none());
    assert_eq!(
        app.computed.as_ref().map(|c| c.generation),
        Some(job.generation)
    );
    job
}

/// Changes `p` and expects a recompute.
fn change_recomputes(app: &mut App, p: Param, right: bool) -> Job {
    goto_param(app, p);
    recomputes(app, if right { Action::Right } else { Action::Left })
}

// The format settings in the editor: knobs of the registry.
const X_SCHEME: Param = Param::Knob("scheme", Some(Role::X));
const W_GRANULARITY: Param = Param::Knob("granularity", Some(Role::W));
const ROUNDING: Param = Param::Knob("rounding", None);
const BLOCK_SIZE: Param = Param::Knob("block_size", None);
const SCALE_RULE: Param = Param::Knob("scale_rule", None);
const ACCUMULATOR: Param = Param::Knob("accumulator", None);

fn mx_block(app: &App, i: usize) -> BlockSize {
    let v = &app.scenario.variants[i];
    assert_eq!(v.w_format.name(), "mxfp4", "variant {i}");
    qlab::family::mxfp4::config(&v.w).unwrap().block
}

fn int8_rounding(app: &App, i: usize) -> Rounding {
    let v = &app.scenario.variants[i];
    assert_eq!(v.w_format.name(), "int8", "variant {i}");
    let (w, x) = (
        qlab::family::int8::config(&v.w).unwrap(),
        qlab::family::int8::config(&v.x).unwrap(),
    );
    assert_eq!(w.rounding, x.rounding, "W and x share the rounding");
    w.rounding
}

fn dist(app: &App, t: Target) -> Distribution {
    let spec = match t {
        Target::W => &app.scenario.w,
        Target::X => &app.scenario.x,
    };
    match &spec.source {
        Source::Random(d) => d.clone(),
        other => panic!("{} is not random: {other:?}", t.name()),
    }
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ch(c: char) -> KeyEvent {
    key(KeyCode::Char(c))
}

/// Opens the picker as the event loop does: `OpenScenario` asks for the listing, which the
/// I/O thread delivers as `Listed`.
fn open_picker(app: &mut App) {
    assert_eq!(app.update(Action::OpenScenario), Some(Command::List));
    assert!(
        app.update(Action::Listed(qlab::tui::app::scenario_files()))
            .is_none()
    );
}

/// The scenario files a user finds under ./scenarios (tests run in the crate root).
fn shipped_scenarios() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("scenarios")
        .expect("tests run in the crate root, next to scenarios/")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    assert!(!v.is_empty());
    v
}

// ---------------------------------------------------------------------------------------------
// update: navigation
// ---------------------------------------------------------------------------------------------

#[test]
fn show_screen_selects_each_screen_and_resets_the_scroll() {
    let mut app = ready();
    for (i, s) in Screen::ALL.iter().enumerate() {
        app.scroll = 7;
        assert!(app.update(Action::ShowScreen(i)).is_none());
        assert_eq!(app.screen, *s);
        assert_eq!(app.scroll, 0);
        assert_eq!(s.index(), i);
    }
    // Out of range: nothing changes.
    app.scroll = 3;
    assert!(app.update(Action::ShowScreen(5)).is_none());
    assert_eq!(app.screen, Screen::Walkthrough);
    assert_eq!(app.scroll, 3);
}

#[test]
fn next_and_previous_screen_wrap_around() {
    let mut app = ready();
    assert_eq!(app.screen, Screen::Overview);
    let mut seen = Vec::new();
    for _ in 0..Screen::ALL.len() {
        app.update(Action::NextScreen);
        seen.push(app.screen);
    }
    assert_eq!(
        seen,
        [
            Screen::Grid,
            Screen::Scales,
            Screen::Errors,
            Screen::Walkthrough,
            Screen::Overview
        ]
    );
    app.update(Action::PrevScreen);
    assert_eq!(app.screen, Screen::Walkthrough);
    app.update(Action::PrevScreen);
    assert_eq!(app.screen, Screen::Errors);
    app.scroll = 9;
    app.update(Action::NextScreen);
    assert_eq!(app.scroll, 0, "a new screen starts at the top");
}

#[test]
fn help_toggles_and_close_closes_every_overlay() {
    let mut app = ready();
    assert_eq!(app.context(), Context::Main);
    app.update(Action::ToggleHelp);
    assert_eq!(app.overlay, Overlay::Help);
    assert_eq!(app.context(), Context::Help);
    app.update(Action::ToggleHelp);
    assert_eq!(app.overlay, Overlay::None);

    app.update(Action::ToggleHelp);
    app.update(Action::Close);
    assert_eq!(app.overlay, Overlay::None);

    app.update(Action::OpenParams);
    assert_eq!(app.context(), Context::Params);
    app.update(Action::Close);
    assert_eq!(app.overlay, Overlay::None);

    app.update(Action::OpenScenario);
    assert_eq!(app.context(), Context::Open);
    app.update(Action::Close);
    assert_eq!(app.overlay, Overlay::None);

    // Close with nothing open is harmless.
    assert!(app.update(Action::Close).is_none());
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn quit_sets_quit() {
    let mut app = ready();
    assert!(!app.quit);
    assert!(app.update(Action::Quit).is_none());
    assert!(app.quit);
}

#[test]
fn resize_and_tick_are_stored() {
    let mut app = App::new(parse(SMALL));
    assert_eq!(app.size, (0, 0));
    app.update(Action::Resize(123, 45));
    assert_eq!(app.size, (123, 45));
    let t = app.tick;
    app.update(Action::Tick);
    app.update(Action::Tick);
    assert_eq!(app.tick, t + 2);
    assert!(app.update(Action::None).is_none());
}

#[test]
fn variants_wrap_and_reset_the_block_cursor() {
    let mut app = ready();
    assert_eq!(app.variant, 0);
    app.update(Action::PrevVariant);
    assert_eq!(app.variant, 2, "previous from the first wraps to the last");
    app.update(Action::NextVariant);
    assert_eq!(app.variant, 0, "next from the last wraps to the first");
    app.update(Action::NextVariant);
    assert_eq!(app.variant, MX32);

    app.update(Action::ShowScreen(2));
    app.update(Action::Down);
    app.update(Action::Right);
    assert_eq!(app.scales.block, (1, 1));
    app.update(Action::NextVariant);
    assert_eq!(app.scales.block, (0, 0));
}

#[test]
fn toggle_hidden_hides_the_current_variant_only() {
    let mut app = ready();
    select_variant(&mut app, MX32);
    assert!(app.update(Action::ToggleHidden).is_none());
    assert_eq!(app.hidden, [false, true, false]);
    let text = screen_text(&app, W, H);
    assert!(text.contains("mxfp4 b32 (hidden)"), "{text}");
    assert_eq!(
        text.matches("mxfp4 b32").count(),
        1,
        "hidden from the table:\n{text}"
    );
    app.update(Action::ToggleHidden);
    assert_eq!(app.hidden, [false; 3]);
    assert!(screen_text(&app, W, H).matches("mxfp4 b32").count() > 1);
}

#[test]
fn toggles_flip_their_flags() {
    let mut app = ready();
    assert!(!app.errors.log_bins);
    app.update(Action::ToggleLogBins);
    assert!(app.errors.log_bins);
    app.update(Action::ToggleLogBins);
    assert!(!app.errors.log_bins);

    // m means something on the worked example only; elsewhere it says so.
    assert_eq!(app.walk.mode, Mode::Document);
    app.update(Action::ToggleWalkMode);
    assert_eq!(app.walk.mode, Mode::Document);
    assert!(
        app.status
            .as_deref()
            .is_some_and(|s| s.contains("worked example only"))
    );
    let mut app = seed_app();
    app.update(Action::ToggleWalkMode);
    assert_eq!(app.walk.mode, Mode::Spec);
    app.update(Action::ToggleWalkMode);
    assert_eq!(app.walk.mode, Mode::Document);
}

#[test]
fn toggle_operand_switches_w_and_x_and_resets_the_block_cursor() {
    let mut app = ready();
    select_variant(&mut app, MX32);
    app.update(Action::ShowScreen(2));
    assert_eq!(app.scales.operand, Operand::W);
    assert_eq!(
        app.block_grid(),
        Some((16, 3)),
        "W: 16 rows of 96 / 32 blocks"
    );
    app.update(Action::Down);
    app.update(Action::Down);
    app.update(Action::Right);
    assert_eq!(app.scales.block, (2, 1));
    app.update(Action::ToggleOperand);
    assert_eq!(app.scales.operand, Operand::X);
    assert_eq!(app.scales.block, (0, 0));
    assert_eq!(
        app.block_grid(),
        Some((8, 3)),
        "xᵀ: 8 rows of 96 / 32 blocks"
    );
    app.update(Action::ToggleOperand);
    assert_eq!(app.scales.operand, Operand::W);
}

#[test]
fn arrows_on_the_scales_screen_move_the_block_cursor_and_clamp() {
    let mut app = ready();
    select_variant(&mut app, MX32);
    app.update(Action::ShowScreen(2));
    let (rows, cols) = app.block_grid().expect("an MXFP4 grid");
    app.update(Action::Up);
    app.update(Action::Left);
    assert_eq!(app.scales.block, (0, 0), "clamped at the top left");
    for _ in 0..cols + 3 {
        app.update(Action::Right);
    }
    assert_eq!(app.scales.block, (0, cols - 1), "clamped at the right edge");
    app.update(Action::Left);
    assert_eq!(app.scales.block, (0, cols - 2));
    app.update(Action::PageDown);
    assert_eq!(
        app.scales.block,
        (rows - 1, cols - 2),
        "16 rows: a page reaches the last"
    );
    app.update(Action::Down);
    assert_eq!(
        app.scales.block,
        (rows - 1, cols - 2),
        "clamped at the bottom"
    );
    app.update(Action::Up);
    assert_eq!(app.scales.block, (rows - 2, cols - 2));
    app.update(Action::PageUp);
    assert_eq!(app.scales.block, (0, cols - 2));
    assert_eq!(app.scroll, 0, "on the scales screen arrows do not scroll");

    // x has 8 rows.
    app.update(Action::ToggleOperand);
    for _ in 0..20 {
        app.update(Action::Down);
    }
    assert_eq!(app.scales.block, (7, 0));

    // An INT8 variant has one f32 scale per row (the tensor's, repeated): one column, so
    // Right stays put and Down moves along the rows.
    select_variant(&mut app, INT8);
    assert_eq!(app.block_grid(), Some((8, 1)));
    app.update(Action::Right);
    assert_eq!(app.scales.block.1, 0);
}

#[test]
fn arrows_elsewhere_scroll() {
    let mut app = ready();
    app.update(Action::ShowScreen(4));
    app.update(Action::Up);
    assert_eq!(app.scroll, 0);
    app.update(Action::Down);
    app.update(Action::Down);
    assert_eq!(app.scroll, 2);
    app.update(Action::PageDown);
    assert_eq!(app.scroll, 18);
    app.update(Action::PageUp);
    app.update(Action::PageUp);
    assert_eq!(app.scroll, 0);
    app.update(Action::Right);
    assert_eq!(app.scroll, 0, "left/right do not scroll");
    assert_eq!(app.scales.block, (0, 0));
}

#[test]
fn click_tab_selects_the_tab_under_the_column() {
    for width in [W, 120] {
        let mut app = ready();
        app.update(Action::Resize(width, H));
        for s in Screen::ALL {
            let x = (0..width)
                .find(|&x| render::tab_at(x, width, &Screen::ALL) == Some(s))
                .unwrap_or_else(|| panic!("no column selects {s:?} at width {width}"));
            app.update(Action::ShowScreen(if s == Screen::Overview {
                1
            } else {
                0
            }));
            app.scroll = 5;
            // What the event loop sends for a click at column x.
            let click =
                render::tab_at(x, width, &Screen::ALL).map(|s| Action::ShowScreen(s.index()));
            assert!(app.update(click.expect("a tab")).is_none());
            assert_eq!(app.screen, s, "click at column {x}, width {width}");
            assert_eq!(app.scroll, 0);
        }
        // Beyond the tabs (the variant label), a click selects nothing.
        assert_eq!(render::tab_at(width - 1, width, &Screen::ALL), None);
    }
}

#[test]
fn tab_at_agrees_with_the_rendered_tab_bar() {
    for (width, height) in [(80, 24), (W, H), (120, 40)] {
        let mut app = ready();
        app.update(Action::Resize(width, height));
        let row: Vec<char> = rows(&app, width, height)[usize::from(render::TAB_ROW)]
            .chars()
            .collect();
        for (i, s) in Screen::ALL.iter().enumerate() {
            let cols: Vec<usize> = (0..width)
                .filter(|&x| render::tab_at(x, width, &Screen::ALL) == Some(*s))
                .map(usize::from)
                .collect();
            let (a, b) = (cols[0], *cols.last().unwrap());
            assert_eq!(cols.len(), b - a + 1, "a tab covers contiguous columns");
            let label: String = row[a..=b].iter().collect();
            let short = match s {
                Screen::Grid => "Codes",
                Screen::Scales => "Scales",
                Screen::Walkthrough => "Walk",
                _ => s.title(),
            };
            let title = if width >= 110 { s.title() } else { short };
            assert_eq!(label, format!(" {} {title} ", i + 1), "width {width}");
            if i + 1 < Screen::ALL.len() {
                assert_eq!(
                    row[b + 1],
                    '│',
                    "a divider follows tab {i} at width {width}"
                );
                assert_eq!(render::tab_at((b + 1) as u16, width, &Screen::ALL), None);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// update: computations
// ---------------------------------------------------------------------------------------------

#[test]
fn start_requests_the_first_computation() {
    let mut app = App::new(parse(SMALL));
    assert!(app.computed.is_none());
    let Command::Compute(job) = app.start() else {
        panic!("start computes");
    };
    assert_eq!(job.generation, 1);
    assert_eq!(job.scenario, app.scenario);
    let (gen_, summary) = app.pending.clone().expect("pending");
    assert_eq!(gen_, 1);
    assert_eq!(summary, "tui-test · 16×96×8 · seed 7");
    settle(&mut app, Some(Command::Compute(job)));
    let c = app.computed.as_ref().expect("a result");
    assert_eq!(c.generation, 1);
    assert_eq!(c.elapsed, ELAPSED);
    assert_eq!(
        (
            c.report.scenario.m,
            c.report.scenario.k,
            c.report.scenario.n
        ),
        (16, 96, 8)
    );
    assert_eq!(c.report.variants.len(), 3);
    assert_eq!(c.hotspots.len(), 3);
    assert!(app.pending.is_none());
}

#[test]
fn stale_results_are_discarded_and_the_newest_is_kept() {
    let mut app = App::new(parse(SMALL));
    let Command::Compute(first) = app.start() else {
        panic!("start computes");
    };
    let Some(Command::Compute(second)) = app.update(Action::Reroll) else {
        panic!("reroll computes");
    };
    assert_eq!((first.generation, second.generation), (1, 2));

    // The older result arrives first: discarded, still waiting for the newer.
    assert!(
        app.update(Action::Finished(Box::new(finish(&first))))
            .is_none()
    );
    assert!(app.computed.is_none());
    assert_eq!(app.pending.as_ref().map(|p| p.0), Some(2));

    assert!(
        app.update(Action::Finished(Box::new(finish(&second))))
            .is_none()
    );
    let c = app.computed.clone().expect("the newest result");
    assert_eq!(c.generation, 2);
    assert_eq!(c.report.scenario.seed, second.scenario.seed);
    assert!(app.pending.is_none());

    // A late stale result does not replace the newest one.
    app.update(Action::Finished(Box::new(finish(&first))));
    assert_eq!(app.computed.as_ref().map(|c| c.generation), Some(2));

    // Nor does a stale failure set an error.
    let stale_err = Done {
        generation: 1,
        result: Err("stale".into()),
    };
    app.update(Action::Finished(Box::new(stale_err)));
    assert!(app.error.is_none());
}

#[test]
fn a_panicking_computation_becomes_an_error_and_the_session_goes_on() {
    let mut app = App::new(parse(SMALL));
    let Command::Compute(job) = app.start() else {
        panic!("start computes");
    };
    let done = qlab::tui::compute_caught(&job, |_| panic!("injected failure"));
    assert_eq!(done.generation, job.generation);
    app.update(Action::Finished(Box::new(done)));
    let err = app.error.clone().expect("the panic is shown");
    assert_eq!(
        err,
        "internal error (a bug in qlab; please report it): injected failure"
    );
    assert!(app.pending.is_none());
    let text = screen_text(&app, W, H);
    assert!(text.contains("internal error"), "{text}");
    // The next computation runs normally.
    let Some(Command::Compute(next)) = app.update(Action::Reroll) else {
        panic!("reroll computes");
    };
    let done = qlab::tui::compute_caught(&next, qlab::tui::compute);
    app.update(Action::Finished(Box::new(done)));
    assert!(app.error.is_none());
    assert!(app.computed.is_some());
}

#[test]
fn a_failed_computation_sets_the_error_and_keeps_the_last_result() {
    let mut app = ready();
    app.update(Action::OpenParams);
    // W's two outlier channels run along K: shrink K to 12, then ask for 16 channels.
    for _ in 0..3 {
        change_recomputes(&mut app, Param::K, false);
    }
    assert_eq!(app.scenario.k, Some(12));
    assert!(app.error.is_none());
    let good = app.computed.clone().expect("a result");
    for _ in 0..2 {
        change_recomputes(&mut app, Param::OutlierCount(Target::W), true);
    }
    assert_eq!(
        app.param_value(Param::OutlierCount(Target::W)),
        "8 channels"
    );
    assert!(app.error.is_none());
    let good8 = app.computed.clone().expect("a result");
    assert!(!std::sync::Arc::ptr_eq(&good, &good8));

    goto_param(&mut app, Param::OutlierCount(Target::W));
    let cmd = app.update(Action::Right);
    assert!(matches!(cmd, Some(Command::Compute(_))));
    settle(&mut app, cmd);
    let err = app.error.clone().expect("16 channels exceed K = 12");
    assert!(err.contains("outlier_channels.count = 16"), "{err}");
    assert!(app.pending.is_none());
    let kept = app.computed.clone().expect("the last good result stays");
    assert!(std::sync::Arc::ptr_eq(&good8, &kept));
    assert!(kept.generation < app.generation);
    let text = screen_text(&app, W, H);
    assert!(text.contains(&format!("error: {err}")), "{text}");
    app.update(Action::Close);
    let text = screen_text(&app, W, H);
    assert!(
        text.contains("metrics"),
        "the last result stays on screen:\n{text}"
    );

    // Fixing it clears the error.
    app.update(Action::OpenParams);
    change_recomputes(&mut app, Param::OutlierCount(Target::W), false);
    assert!(app.error.is_none());
}

#[test]
fn reroll_changes_the_seed_and_recomputes() {
    let mut app = ready();
    let seed = app.scenario.seed;
    let job = recomputes(&mut app, Action::Reroll);
    assert_ne!(app.scenario.seed, seed);
    // 63 bits, so that the seed can be written into a scenario file (TOML integers are i64).
    assert!(
        i64::try_from(app.scenario.seed).is_ok(),
        "{}",
        app.scenario.seed
    );
    // A pure function of the previous seed.
    let mut again = ready();
    again.update(Action::Reroll);
    assert_eq!(again.scenario.seed, app.scenario.seed);
    assert_eq!(job.scenario.seed, app.scenario.seed);
    assert_eq!(
        app.computed.as_ref().unwrap().report.scenario.seed,
        app.scenario.seed
    );
}

#[test]
fn export_needs_a_result() {
    let mut app = App::new(parse(SMALL));
    assert!(app.update(Action::Export).is_none());
    assert_eq!(app.status.as_deref(), Some("nothing to export yet"));
    let first = app.start();
    settle(&mut app, Some(first));
    assert_eq!(app.update(Action::Export), Some(Command::Export));
}

#[test]
fn exported_sets_the_status() {
    let mut app = ready();
    app.update(Action::Exported(Ok(vec![
        PathBuf::from("a.csv"),
        PathBuf::from("b.json"),
    ])));
    assert_eq!(app.status.as_deref(), Some("exported a.csv and b.json"));
    app.update(Action::Exported(Err("disk full".into())));
    assert_eq!(app.status.as_deref(), Some("export failed: disk full"));
    let text = screen_text(&app, W, H);
    assert!(text.contains("export failed: disk full"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// update: the parameter editor
// ---------------------------------------------------------------------------------------------

#[test]
fn the_editor_cursor_moves_and_clamps() {
    let mut app = ready();
    app.update(Action::OpenParams);
    assert_eq!(app.overlay, Overlay::Params);
    assert_eq!(app.param, 0);
    app.update(Action::Up);
    assert_eq!(app.param, 0);
    app.update(Action::Down);
    app.update(Action::Down);
    assert_eq!(app.param, 2);
    app.update(Action::Up);
    assert_eq!(app.param, 1);
    let n = app.params().len();
    for _ in 0..n + 5 {
        app.update(Action::Down);
    }
    assert_eq!(app.param, n - 1);
    assert_eq!(app.params()[n - 1], Param::Shown);
    // Up/Down in the editor never move the block cursor or the scroll.
    assert_eq!((app.scales.block, app.scroll), ((0, 0), 0));
}

#[test]
fn the_editor_lists_the_current_variants_parameters() {
    let mut app = ready();
    // 5 per operand plus one row per parameter of its distribution (W normal: mean, std; x
    // Student-t: nu, scale), M, K, N, seed, and the W and x formats.
    let common = 16 + 4;
    assert_eq!(app.variant, INT8);
    let p = app.params();
    // scheme and granularity and group size per operand, rounding.
    assert_eq!(p.len(), common + 7 + 1);
    assert!(p.contains(&Param::Format(Role::W)) && p.contains(&Param::Format(Role::X)));
    assert!(p.contains(&ROUNDING) && !p.contains(&BLOCK_SIZE));
    app.update(Action::NextVariant);
    let p = app.params();
    assert_eq!(p.len(), common + 6 + 1);
    assert!(p.contains(&BLOCK_SIZE) && !p.contains(&ROUNDING));
    assert_eq!(p.last(), Some(&Param::Shown));

    // The cursor on INT8's last parameter is clamped when the list gets shorter.
    select_variant(&mut app, INT8);
    app.update(Action::OpenParams);
    goto_param(&mut app, Param::Shown);
    app.update(Action::NextVariant);
    assert_eq!(app.params()[app.param], Param::Shown);
    assert!(app.param < app.params().len());
}

#[test]
fn distribution_cycles_and_keeps_the_magnitude() {
    let mut app = ready();
    app.update(Action::OpenParams);
    assert_eq!(
        dist(&app, Target::W),
        Distribution::Normal {
            mean: 0.0,
            std: 0.02
        }
    );
    change_recomputes(&mut app, Param::Dist(Target::W), true);
    assert_eq!(
        dist(&app, Target::W),
        Distribution::Uniform {
            low: -0.02,
            high: 0.02
        }
    );
    assert_eq!(app.param_value(Param::Dist(Target::W)), "uniform");
    change_recomputes(&mut app, Param::Dist(Target::W), false);
    assert_eq!(dist(&app, Target::W).name(), "normal");
    change_recomputes(&mut app, Param::Dist(Target::W), false);
    assert_eq!(
        dist(&app, Target::W),
        Distribution::Constant { value: 0.02 },
        "left from the first wraps to the last"
    );
    change_recomputes(&mut app, Param::Dist(Target::W), true);
    assert_eq!(
        dist(&app, Target::W).name(),
        "normal",
        "and right wraps back"
    );

    // The whole cycle, on x.
    let mut names = Vec::new();
    for _ in 0..7 {
        change_recomputes(&mut app, Param::Dist(Target::X), true);
        names.push(dist(&app, Target::X).name());
    }
    assert_eq!(
        names,
        [
            "lognormal",
            "bimodal",
            "constant",
            "normal",
            "uniform",
            "laplace",
            "student_t"
        ]
    );
}

#[test]
fn spread_sparsity_and_outliers_step() {
    let mut app = ready();
    app.update(Action::OpenParams);
    change_recomputes(&mut app, Param::Spread(Target::W), true);
    assert_eq!(
        dist(&app, Target::W),
        Distribution::Normal {
            mean: 0.0,
            std: 0.04
        }
    );
    change_recomputes(&mut app, Param::Sparsity(Target::X), true);
    assert_eq!(app.scenario.x.modifiers.sparsity, 0.1);
    assert_eq!(app.param_value(Param::Sparsity(Target::X)), "10% zeros");
    change_recomputes(&mut app, Param::Sparsity(Target::X), false);
    change_recomputes(&mut app, Param::Sparsity(Target::X), false);
    assert_eq!(app.scenario.x.modifiers.sparsity, 0.0, "clamped at 0");

    // No outlier channels on x: the factor cannot change.
    assert_eq!(app.param_value(Param::OutlierCount(Target::X)), "none");
    assert!(change(&mut app, Param::OutlierFactor(Target::X), true).is_none());
    change_recomputes(&mut app, Param::OutlierCount(Target::X), true);
    assert_eq!(
        app.param_value(Param::OutlierCount(Target::X)),
        "1 channels"
    );
    assert_eq!(app.param_value(Param::OutlierFactor(Target::X)), "×50");
    change_recomputes(&mut app, Param::OutlierFactor(Target::X), true);
    assert_eq!(app.param_value(Param::OutlierFactor(Target::X)), "×100");
    change_recomputes(&mut app, Param::OutlierCount(Target::X), false);
    assert!(app.scenario.x.modifiers.outlier_channels.is_none());
}

#[test]
fn m_doubles_and_halves() {
    let mut app = ready();
    app.update(Action::OpenParams);
    assert_eq!(app.param_value(Param::M), "16");
    change_recomputes(&mut app, Param::M, true);
    assert_eq!(app.scenario.m, Some(32));
    assert_eq!(app.computed.as_ref().unwrap().report.scenario.m, 32);
    assert_eq!(
        app.block_grid(),
        Some((32, 1)),
        "variant 0 is INT8 per tensor: one scale column"
    );
    change_recomputes(&mut app, Param::M, false);
    change_recomputes(&mut app, Param::M, false);
    assert_eq!(app.scenario.m, Some(8));
    for _ in 0..5 {
        change_recomputes(&mut app, Param::M, false);
    }
    assert_eq!(app.scenario.m, Some(1), "halving stops at 1");
    assert_eq!(app.param_value(Param::M), "1");
}

#[test]
fn shapes_of_data_operands_cannot_be_edited() {
    let mut app = seed_app();
    app.update(Action::OpenParams);
    assert_eq!(app.param_value(Param::M), "2", "the shape of the data");
    assert_eq!(app.param_value(Param::Dist(Target::W)), "values (data)");
    let gen_ = app.generation;
    assert!(change(&mut app, Param::M, true).is_none());
    assert_eq!(app.generation, gen_);
    assert_eq!(app.scenario.m, None);
    assert!(
        app.status
            .as_deref()
            .is_some_and(|s| s.contains("shapes come from the data")),
        "{:?}",
        app.status
    );
}

#[test]
fn seed_steps_by_one() {
    let mut app = ready();
    app.update(Action::OpenParams);
    change_recomputes(&mut app, Param::Seed, true);
    assert_eq!(app.scenario.seed, 8);
    assert_eq!(app.param_value(Param::Seed), "8");
    change_recomputes(&mut app, Param::Seed, false);
    change_recomputes(&mut app, Param::Seed, false);
    assert_eq!(app.scenario.seed, 6);
    assert_eq!(app.computed.as_ref().unwrap().report.scenario.seed, 6);
}

#[test]
fn block_size_cycles_for_an_mxfp4_variant() {
    let mut app = ready();
    select_variant(&mut app, MX32);
    app.update(Action::OpenParams);
    assert_eq!(app.param_value(BLOCK_SIZE), "32");
    let mut seen = Vec::new();
    for _ in 0..6 {
        change_recomputes(&mut app, BLOCK_SIZE, true);
        seen.push((mx_block(&app, MX32), app.block_grid()));
    }
    assert_eq!(
        seen,
        [
            (BlockSize::Elements(64), Some((16, 2))),
            (BlockSize::Elements(128), Some((16, 1))),
            (BlockSize::Tensor, Some((16, 1))),
            (BlockSize::Elements(8), Some((16, 12))),
            (BlockSize::Elements(16), Some((16, 6))),
            (BlockSize::Elements(32), Some((16, 3))),
        ]
    );
    change_recomputes(&mut app, BLOCK_SIZE, false);
    assert_eq!(mx_block(&app, MX32), BlockSize::Elements(16));
    assert_eq!(app.param_value(BLOCK_SIZE), "16");
    // The label follows the settings, and stays unique: variant 2 is "mxfp4 b16 rceil".
    assert_eq!(app.scenario.variants[MX32].label, "mxfp4 b16 floor");
    select_variant(&mut app, MX16);
    app.update(Action::OpenParams);
    change_recomputes(&mut app, SCALE_RULE, true);
    assert_eq!(
        qlab::family::mxfp4::config(&app.scenario.variants[MX16].w)
            .unwrap()
            .rule,
        ScaleRule::Floor
    );
    assert_eq!(app.scenario.variants[MX16].label, "mxfp4 b16 floor #2");
    // Other variants are untouched.
    assert_eq!(app.scenario.variants[INT8].w_format.name(), "int8");
}

#[test]
fn the_block_cursor_is_clamped_when_the_grid_shrinks() {
    let mut app = ready();
    select_variant(&mut app, MX32);
    app.update(Action::ShowScreen(2));
    for _ in 0..20 {
        app.update(Action::Right);
        app.update(Action::Down);
    }
    assert_eq!(app.scales.block, (15, 2));
    app.update(Action::OpenParams);
    change_recomputes(&mut app, BLOCK_SIZE, true); // 64: 2 blocks per row
    assert_eq!(app.scales.block, (15, 1));
    change_recomputes(&mut app, Param::M, false); // 8 rows
    assert_eq!(app.scales.block, (7, 1));
}

#[test]
fn rounding_cycles_for_an_int8_variant() {
    let mut app = ready();
    assert_eq!(app.variant, INT8);
    app.update(Action::OpenParams);
    assert_eq!(app.param_value(ROUNDING), "half-even");
    let mut seen = Vec::new();
    for _ in 0..4 {
        change_recomputes(&mut app, ROUNDING, true);
        seen.push(int8_rounding(&app, INT8));
    }
    assert_eq!(
        seen,
        [
            Rounding::HalfAway,
            Rounding::Floor,
            Rounding::Stochastic { seed: 7 },
            Rounding::HalfEven
        ]
    );
    change_recomputes(&mut app, ROUNDING, false);
    assert_eq!(int8_rounding(&app, INT8), Rounding::Stochastic { seed: 7 });
    assert_eq!(app.param_value(ROUNDING), "stochastic");
    assert_eq!(app.scenario.variants[INT8].label, "int8 stochastic");
    // The scheme and granularity cycle too.
    change_recomputes(&mut app, W_GRANULARITY, true);
    assert_eq!(app.param_value(W_GRANULARITY), "channel");
    change_recomputes(&mut app, X_SCHEME, true);
    assert_eq!(app.param_value(X_SCHEME), "asymmetric");
}

/// From stochastic rounding whose seed is not the scenario's (after a reroll, a seed change,
/// or a file's `seed = …`), the cycle loses its place: Right goes to half-away instead of
/// wrapping to half-even, and Left stays on stochastic.
#[test]
fn rounding_cycle_after_a_seed_change() {
    let mut app = ready();
    app.update(Action::OpenParams);
    change_recomputes(&mut app, ROUNDING, false); // half-even → stochastic (seed 7)
    assert_eq!(int8_rounding(&app, INT8), Rounding::Stochastic { seed: 7 });
    change_recomputes(&mut app, Param::Seed, true); // scenario seed 8
    change_recomputes(&mut app, ROUNDING, true);
    assert_eq!(
        int8_rounding(&app, INT8),
        Rounding::HalfEven,
        "right from stochastic wraps to half-even"
    );
}

#[test]
fn shown_toggles_without_recomputing() {
    let mut app = ready();
    select_variant(&mut app, MX32);
    app.update(Action::OpenParams);
    let gen_ = app.generation;
    assert_eq!(app.param_value(Param::Shown), "shown");
    assert!(change(&mut app, Param::Shown, true).is_none());
    assert_eq!(app.hidden, [false, true, false]);
    assert_eq!(app.param_value(Param::Shown), "hidden");
    assert_eq!(app.generation, gen_);
    assert!(app.pending.is_none());
    assert!(change(&mut app, Param::Shown, false).is_none());
    assert_eq!(app.hidden, [false; 3]);
}

#[test]
fn accumulator_and_scale_rule_cycle() {
    let mut app = ready();
    select_variant(&mut app, MX32);
    app.update(Action::OpenParams);
    assert_eq!(app.param_value(ACCUMULATOR), "f32");
    change_recomputes(&mut app, ACCUMULATOR, true);
    assert_eq!(app.param_value(ACCUMULATOR), "f64");
    assert_eq!(app.scenario.variants[MX32].label, "mxfp4 b32 floor acc64");
    let mut rules = Vec::new();
    for _ in 0..4 {
        change_recomputes(&mut app, SCALE_RULE, true);
        rules.push(app.param_value(SCALE_RULE));
    }
    assert_eq!(rules, ["ceil", "even", "rceil", "floor"]);
}

// ---------------------------------------------------------------------------------------------
// update: opening scenarios
// ---------------------------------------------------------------------------------------------

#[test]
fn open_scenario_lists_the_scenarios_directory() {
    let mut app = ready();
    app.picker.cursor = 3;
    open_picker(&mut app);
    assert_eq!(app.overlay, Overlay::Open);
    // The shipped scenarios come first, by name, each with its lesson's first sentence; the
    // checkout's scenarios/ holds the same files, so they are not listed twice.
    let names: Vec<String> = app.picker.items.iter().map(PickItem::name).collect();
    let stems: Vec<String> = shipped_scenarios()
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, stems);
    let seed = &app.picker.items[stems.iter().position(|n| n == "seed-walkthrough").unwrap()];
    assert!(
        seed.summary
            .starts_with("The worked example rounds with floor"),
        "{}",
        seed.summary
    );
    assert_eq!(app.picker.cursor, 0);

    // The cursor runs over the items and then the path field, and clamps.
    let n = app.picker.items.len();
    app.update(Action::Up);
    assert_eq!(app.picker.cursor, 0);
    for _ in 0..n + 3 {
        app.update(Action::Down);
    }
    assert_eq!(app.picker.cursor, n, "the path field");
    app.update(Action::Up);
    assert_eq!(app.picker.cursor, n - 1);
    assert_eq!(
        (app.scales.block, app.scroll),
        ((0, 0), 0),
        "arrows stay in the picker"
    );
}

#[test]
fn confirm_loads_the_selected_file() {
    let mut app = ready();
    open_picker(&mut app);
    app.update(Action::Down);
    assert_eq!(
        app.picker.items[1].source,
        PickSource::Shipped("formats-shootout")
    );
    let cmd = app.update(Action::Confirm);
    assert_eq!(cmd, Some(Command::LoadShipped("formats-shootout")));
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn typing_edits_the_path_and_confirm_loads_it() {
    let mut app = ready();
    // Typing outside the picker does nothing.
    app.update(Action::Type('z'));
    assert_eq!(app.picker.input, "");

    open_picker(&mut app);
    // Confirm on an empty path field does nothing.
    let n = app.picker.items.len();
    for _ in 0..n {
        app.update(Action::Down);
    }
    assert!(app.update(Action::Confirm).is_none());
    assert_eq!(app.overlay, Overlay::Open);

    app.update(Action::Up);
    for c in " my/x.tomlq".chars() {
        app.update(Action::Type(c));
    }
    assert_eq!(app.picker.cursor, n, "typing moves to the path field");
    assert_eq!(app.picker.input, " my/x.tomlq");
    app.update(Action::Backspace);
    assert_eq!(app.picker.input, " my/x.toml");
    app.update(Action::Type(' '));
    let cmd = app.update(Action::Confirm);
    assert_eq!(
        cmd,
        Some(Command::Load(PathBuf::from("my/x.toml"))),
        "trimmed"
    );
    assert_eq!(app.overlay, Overlay::None);

    // Backspace on an empty field is harmless.
    app.picker.input.clear();
    app.update(Action::Backspace);
    assert_eq!(app.picker.input, "");
}

#[test]
fn loaded_replaces_the_scenario_and_recomputes() {
    let mut app = ready();
    select_variant(&mut app, MX16);
    app.update(Action::ToggleHidden);
    app.update(Action::ShowScreen(2));
    app.update(Action::Down);
    app.update(Action::Loaded(Box::new(Err("t.toml: nope".into()))));
    assert_eq!(app.status.as_deref(), Some("t.toml: nope"));
    assert_eq!(
        app.scenario.name, "tui-test",
        "a failed load changes nothing"
    );

    let seed = Scenario::load(Path::new(SEED)).expect("the seed scenario");
    let job = recomputes(&mut app, Action::Loaded(Box::new(Ok(seed.clone()))));
    assert_eq!(job.scenario, seed);
    assert_eq!(app.scenario, seed);
    assert_eq!(app.hidden, [false; 4]);
    assert_eq!(app.variant, 0);
    assert_eq!(app.scales.block, (0, 0));
    assert!(app.status.is_none());
    let c = app.computed.as_ref().unwrap();
    assert_eq!(c.report.scenario.name, "seed-walkthrough");
    assert_eq!(
        (
            c.report.scenario.m,
            c.report.scenario.k,
            c.report.scenario.n
        ),
        (2, 2, 1)
    );
}

/// Loading a scenario resets the variant to 0 but not the editor's cursor, which can then
/// point past the new (shorter) parameter list. Latent: `OpenParams` clamps it again before
/// the editor can index with it.
#[test]
fn loaded_keeps_the_parameter_cursor_in_range() {
    let mut app = ready();
    app.update(Action::OpenParams);
    goto_param(&mut app, Param::Shown); // INT8: the 20th of 20
    app.update(Action::Close);
    let mx_only = parse("name = \"mx\"\nm = 4\nk = 32\nn = 2\n[[variants]]\nformat = \"mxfp4\"\n");
    recomputes(&mut app, Action::Loaded(Box::new(Ok(mx_only))));
    assert!(
        app.param < app.params().len(),
        "param {} of {}",
        app.param,
        app.params().len()
    );
}

#[test]
fn the_picker_round_trip_through_a_real_file() {
    let mut app = ready();
    open_picker(&mut app);
    let i = app
        .picker
        .items
        .iter()
        .position(|p| p.name() == "seed-walkthrough")
        .unwrap();
    for _ in 0..i {
        app.update(Action::Down);
    }
    let Some(Command::LoadShipped(name)) = app.update(Action::Confirm) else {
        panic!("confirm loads");
    };
    // What the event loop does with Command::LoadShipped.
    let loaded = Scenario::shipped(name).map_err(|e| e.to_string());
    recomputes(&mut app, Action::Loaded(Box::new(loaded)));
    assert_eq!(app.scenario.name, "seed-walkthrough");

    // A file that is not there: the error becomes the status.
    let missing =
        Scenario::load(Path::new("scenarios/does-not-exist.toml")).map_err(|e| e.to_string());
    assert!(app.update(Action::Loaded(Box::new(missing))).is_none());
    assert!(
        app.status
            .as_deref()
            .is_some_and(|s| s.contains("does-not-exist")),
        "{:?}",
        app.status
    );
}

// ---------------------------------------------------------------------------------------------
// The keymap, hints and help
// ---------------------------------------------------------------------------------------------

#[test]
fn keymap_main_context() {
    // Six with a model (its screen first); a digit past the last screen does nothing.
    for (c, i) in ('1'..='6').zip(0..) {
        let a = keymap::action(Context::Main, Screen::Overview, ch(c));
        assert!(matches!(a, Action::ShowScreen(j) if j == i), "{c}: {a:?}");
    }
    for c in ['0', '7', '9'] {
        assert!(matches!(
            keymap::action(Context::Main, Screen::Overview, ch(c)),
            Action::None
        ));
    }
    let m = |k: KeyEvent| keymap::action(Context::Main, Screen::Overview, k);
    assert!(matches!(m(key(KeyCode::Tab)), Action::NextScreen));
    assert!(matches!(m(key(KeyCode::BackTab)), Action::PrevScreen));
    assert!(matches!(m(ch('[')), Action::PrevVariant));
    assert!(matches!(m(ch(']')), Action::NextVariant));
    assert!(matches!(m(ch('p')), Action::OpenParams));
    assert!(matches!(m(ch('r')), Action::Reroll));
    assert!(matches!(m(ch('o')), Action::OpenScenario));
    assert!(matches!(m(ch('e')), Action::Export));
    assert!(matches!(m(ch('h')), Action::ToggleHidden));
    assert!(matches!(m(ch('?')), Action::ToggleHelp));
    assert!(matches!(m(ch('q')), Action::Quit));
    assert!(matches!(m(key(KeyCode::Esc)), Action::Quit));
    assert!(matches!(m(key(KeyCode::Up)), Action::Up));
    assert!(matches!(m(key(KeyCode::Down)), Action::Down));
    assert!(matches!(m(key(KeyCode::Left)), Action::Left));
    assert!(matches!(m(key(KeyCode::Right)), Action::Right));
    assert!(matches!(m(key(KeyCode::PageUp)), Action::PageUp));
    assert!(matches!(m(key(KeyCode::PageDown)), Action::PageDown));
    assert!(matches!(m(ch('z')), Action::None));
    assert!(matches!(m(key(KeyCode::Enter)), Action::None));
}

#[test]
fn ctrl_c_quits_everywhere() {
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    for ctx in [Context::Main, Context::Params, Context::Open, Context::Help] {
        assert!(
            matches!(keymap::action(ctx, Screen::Overview, ctrl_c), Action::Quit),
            "{ctx:?}"
        );
    }
}

#[test]
fn keymap_overlay_contexts() {
    let o = |k: KeyEvent| keymap::action(Context::Open, Screen::Overview, k);
    for c in ['q', 'x', '/', '.', 'p', '?', '1', 'Z', ' '] {
        assert!(matches!(o(ch(c)), Action::Type(t) if t == c), "{c}");
    }
    assert!(matches!(o(key(KeyCode::Enter)), Action::Confirm));
    assert!(matches!(o(key(KeyCode::Backspace)), Action::Backspace));
    assert!(matches!(o(key(KeyCode::Esc)), Action::Close));
    assert!(matches!(o(key(KeyCode::Up)), Action::Up));
    assert!(matches!(o(key(KeyCode::Down)), Action::Down));
    assert!(matches!(o(key(KeyCode::Tab)), Action::None));

    let p = |k: KeyEvent| keymap::action(Context::Params, Screen::Overview, k);
    assert!(matches!(p(key(KeyCode::Up)), Action::Up));
    assert!(matches!(p(key(KeyCode::Left)), Action::Left));
    assert!(matches!(p(key(KeyCode::Right)), Action::Right));
    assert!(matches!(p(ch('r')), Action::Reroll));
    assert!(matches!(p(ch('[')), Action::PrevVariant));
    assert!(matches!(p(ch(']')), Action::NextVariant));
    for k in [ch('p'), key(KeyCode::Esc)] {
        assert!(matches!(p(k), Action::Close), "{k:?}");
    }
    assert!(matches!(p(key(KeyCode::Enter)), Action::Confirm));
    // Other keys type into a number being edited (and do nothing otherwise): q never quits.
    assert!(
        matches!(p(ch('q')), Action::Type('q')),
        "q does not quit from the editor"
    );
    assert!(matches!(p(ch('1')), Action::Type('1')));

    let h = |k: KeyEvent| keymap::action(Context::Help, Screen::Overview, k);
    for k in [ch('?'), ch('q'), key(KeyCode::Esc)] {
        assert!(matches!(h(k), Action::Close), "{k:?}");
    }
    assert!(matches!(h(ch('p')), Action::None));
}

fn event_for(k: Key) -> KeyEvent {
    match k {
        Key::Char(c) => ch(c),
        Key::Code(code) => key(code),
        Key::Digit => ch('3'),
        Key::Ctrl(c) => KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL),
    }
}

#[test]
fn every_binding_is_reachable_and_none_shadows_another() {
    for (i, b) in BINDINGS.iter().enumerate() {
        assert!(!b.keys.is_empty() && !b.label.is_empty() && !b.help.is_empty());
        for &k in b.keys {
            let screen = b.screen.unwrap_or(Screen::Overview);
            let a = keymap::action(b.context, screen, event_for(k));
            assert!(!matches!(a, Action::None), "{} {k:?} does nothing", b.label);
            // Two bindings of a context clash unless they belong to different screens.
            let clash = |o: &&qlab::tui::keymap::Binding| {
                o.context == b.context
                    && (o.screen.is_none() || b.screen.is_none() || o.screen == b.screen)
            };
            for other in BINDINGS[..i].iter().filter(clash) {
                assert!(
                    !other.keys.contains(&k),
                    "{k:?} is bound twice in {:?}: '{}' shadows '{}'",
                    b.context,
                    other.label,
                    b.label
                );
            }
        }
    }
}

#[test]
fn every_context_has_hints_and_the_footer_shows_them() {
    let mut app = ready();
    let contexts = [
        (Context::Main, Action::Close),
        (Context::Params, Action::OpenParams),
        (Context::Open, Action::OpenScenario),
        (Context::Help, Action::ToggleHelp),
    ];
    for (ctx, open) in contexts {
        app.update(Action::Close);
        app.update(open);
        assert_eq!(app.context(), ctx);
        let hints = keymap::hints(ctx, app.screen);
        assert!(!hints.is_empty(), "{ctx:?}");
        // Tall enough that no popup covers the footer.
        let footer = rows(&app, W, 40).pop().unwrap();
        for (k, hint) in hints {
            assert!(
                footer.contains(&format!(" {k} {hint} ")),
                "{ctx:?}: '{k} {hint}' missing from the footer:\n{footer}"
            );
        }
    }
}

/// A binding that applies without a model (not the model screen's, nor its filter's).
fn model_free(b: &keymap::Binding) -> bool {
    b.screen != Some(Screen::Model) && b.context != Context::Filter
}

#[test]
fn the_help_overlay_lists_every_binding() {
    let mut app = ready();
    app.update(Action::ToggleHelp);
    let text = screen_text(&app, W, H);
    for ctx in [Context::Main, Context::Params, Context::Open, Context::Help] {
        assert!(text.contains(ctx.title()), "{}:\n{text}", ctx.title());
    }
    // The model screen's keys are listed when there is a model (tests/tui_model.rs).
    for b in BINDINGS.iter().filter(|b| model_free(b)) {
        assert!(
            text.contains(&format!("{:<10}{}", b.label, b.help)),
            "'{} {}' missing from the help:\n{text}",
            b.label,
            b.help
        );
    }
}

/// The help has 30 lines (4 titles, 26 bindings) in a 32-row popup: at the smallest size the
/// explorer accepts (80 × 24), the last 8 are cut off and cannot be scrolled to.
#[test]
fn the_help_overlay_fits_the_smallest_terminal() {
    let mut app = ready();
    app.update(Action::Resize(render::MIN_WIDTH, render::MIN_HEIGHT));
    app.update(Action::ToggleHelp);
    let text = screen_text(&app, render::MIN_WIDTH, render::MIN_HEIGHT);
    for b in BINDINGS.iter().filter(|b| model_free(b)) {
        assert!(
            text.contains(b.help),
            "'{}' missing at 80×24:\n{text}",
            b.help
        );
    }
}

/// The Main footer's last hint, `q/Esc quit`, is cut to `q/E` at the minimum width.
#[test]
fn the_footer_fits_the_smallest_terminal() {
    let mut app = ready();
    app.update(Action::Resize(render::MIN_WIDTH, render::MIN_HEIGHT));
    let footer = rows(&app, render::MIN_WIDTH, render::MIN_HEIGHT)
        .pop()
        .unwrap();
    for (k, hint) in keymap::hints(Context::Main, Screen::Overview) {
        assert!(
            footer.contains(&format!(" {k} {hint}")),
            "'{k} {hint}' cut:\n{footer}"
        );
    }
    // A screen with keys of its own shows them first, and help and quit still fit.
    app.update(Action::ShowScreen(2));
    let footer = rows(&app, render::MIN_WIDTH, render::MIN_HEIGHT)
        .pop()
        .unwrap();
    for hint in [" t W/x", " ? help", " q/Esc quit"] {
        assert!(footer.contains(hint), "'{hint}' missing:\n{footer}");
    }
}

/// `t`, `l` and `m` belong to their screens: elsewhere they do nothing, and the footer shows
/// each on its own screen only.
#[test]
fn screen_keys_apply_on_their_screen_only() {
    for (c, screen, action) in [
        ('t', Screen::Scales, "ToggleOperand"),
        ('l', Screen::Errors, "ToggleLogBins"),
        ('m', Screen::Walkthrough, "ToggleWalkMode"),
    ] {
        for s in Screen::ALL {
            let a = format!("{:?}", keymap::action(Context::Main, s, ch(c)));
            let hinted = keymap::hints(Context::Main, s)
                .iter()
                .any(|(k, _)| *k == c.to_string());
            if s == screen {
                assert_eq!(a, action, "{c} on {s:?}");
                assert!(hinted, "{c} hinted on {s:?}");
            } else {
                assert_eq!(a, "None", "{c} on {s:?}");
                assert!(!hinted, "{c} not hinted on {s:?}");
            }
        }
    }
}

/// The selected-block table on the scales screen fits its panel (48 wide) at every terminal
/// size, with room for the clipped mark after the error.
#[test]
fn the_selected_block_table_fits_its_panel() {
    let mut app = on_screen(ready(), MX32, 2);
    for (w, h) in [(80, 24), (W, H), (160, 48)] {
        app.update(Action::Resize(w, h));
        let text = screen_text(&app, w, h);
        assert!(text.contains("code     P     error"), "{w}×{h}:\n{text}");
        // Element 0 of block (0, 0): its error, as the table formats it.
        let c = app.computed.clone().unwrap();
        let v = &c.run.variants[MX32];
        let err = f64::from(v.w_deq.row(0)[0]) - f64::from(c.run.w.row(0)[0]);
        let cell = format!("{err:.2e}");
        assert!(
            text.contains(&format!("{cell}│")) || text.contains(&format!("{cell} ")),
            "'{cell}' cut at {w}×{h}:\n{text}"
        );
    }
}

/// Reroll keeps seeds within 63 bits so that they can be written into a scenario file (TOML
/// integers are i64); stepping the seed down from 0 in the editor wraps to u64::MAX.
#[test]
fn the_editor_seed_stays_within_63_bits() {
    let mut app = ready_with(parse(&SMALL.replace("seed = 7", "seed = 0")));
    app.update(Action::OpenParams);
    change_recomputes(&mut app, Param::Seed, false);
    assert!(
        i64::try_from(app.scenario.seed).is_ok(),
        "{}",
        app.scenario.seed
    );
}

// ---------------------------------------------------------------------------------------------
// Snapshots at 100 × 32
// ---------------------------------------------------------------------------------------------

fn on_screen(mut app: App, variant: usize, screen: usize) -> App {
    select_variant(&mut app, variant);
    app.update(Action::ShowScreen(screen));
    app
}

#[test]
fn snapshot_overview_mxfp4() {
    let app = on_screen(ready(), MX32, 0);
    insta::assert_snapshot!("overview_mxfp4", render(&app, W, H));
}

#[test]
fn snapshot_grid_mxfp4() {
    let app = on_screen(ready(), MX32, 1);
    insta::assert_snapshot!("grid_mxfp4", render(&app, W, H));
}

#[test]
fn snapshot_grid_int8() {
    let app = on_screen(ready(), INT8, 1);
    insta::assert_snapshot!("grid_int8", render(&app, W, H));
}

#[test]
fn snapshot_scales_mxfp4() {
    let app = on_screen(ready(), MX32, 2);
    insta::assert_snapshot!("scales_mxfp4_w", render(&app, W, H));
}

#[test]
fn snapshot_scales_mxfp4_selected_block() {
    let mut app = on_screen(ready(), MX32, 2);
    for _ in 0..3 {
        app.update(Action::Down);
    }
    app.update(Action::Right);
    app.update(Action::Right);
    assert_eq!(app.scales.block, (3, 2));
    insta::assert_snapshot!("scales_mxfp4_w_block_3_2", render(&app, W, H));
}

#[test]
fn snapshot_scales_mxfp4_x() {
    let mut app = on_screen(ready(), MX32, 2);
    app.update(Action::ToggleOperand);
    insta::assert_snapshot!("scales_mxfp4_x", render(&app, W, H));
}

#[test]
fn snapshot_scales_int8() {
    let app = on_screen(ready(), INT8, 2);
    insta::assert_snapshot!("scales_int8", render(&app, W, H));
}

#[test]
fn snapshot_errors_mxfp4() {
    let app = on_screen(ready(), MX32, 3);
    insta::assert_snapshot!("errors_mxfp4", render(&app, W, H));
}

#[test]
fn snapshot_errors_log_bins() {
    let mut app = on_screen(ready(), MX32, 3);
    app.update(Action::ToggleLogBins);
    insta::assert_snapshot!("errors_mxfp4_log_bins", render(&app, W, H));
}

#[test]
fn snapshot_walkthrough_mxfp4() {
    let app = on_screen(ready(), MX32, 4);
    insta::assert_snapshot!("walkthrough_mxfp4_trace", render(&app, W, H));
}

#[test]
fn snapshot_walkthrough_seed_document_and_spec() {
    let mut app = seed_app();
    app.update(Action::ShowScreen(4));
    let doc = render(&app, W, H);
    assert!(doc.contains("document mode"), "{doc}");
    insta::assert_snapshot!("walkthrough_seed_document", doc);
    app.update(Action::ToggleWalkMode);
    let spec = render(&app, W, H);
    assert!(spec.contains("spec mode"), "{spec}");
    insta::assert_snapshot!("walkthrough_seed_spec", spec);
}

#[test]
fn snapshot_help() {
    let mut app = ready();
    app.update(Action::ToggleHelp);
    insta::assert_snapshot!("help", render(&app, W, H));
}

#[test]
fn snapshot_params_mxfp4() {
    let mut app = ready();
    select_variant(&mut app, MX32);
    app.update(Action::OpenParams);
    goto_param(&mut app, BLOCK_SIZE);
    insta::assert_snapshot!("params_mxfp4", render(&app, W, H));
}

#[test]
fn snapshot_params_int8() {
    let mut app = ready();
    app.update(Action::OpenParams);
    goto_param(&mut app, Param::Seed);
    insta::assert_snapshot!("params_int8", render(&app, W, H));
}

/// The picker lists ./scenarios: the snapshot changes when a scenario is added or renamed.
#[test]
fn snapshot_open() {
    let mut app = ready();
    open_picker(&mut app);
    app.update(Action::Down);
    app.update(Action::Down);
    insta::assert_snapshot!("open", render(&app, W, H));
    for c in "my.toml".chars() {
        app.update(Action::Type(c));
    }
    insta::assert_snapshot!("open_typed_path", render(&app, W, H));
}

#[test]
fn snapshot_computing() {
    let mut app = App::new(parse(SMALL));
    app.update(Action::Resize(W, H));
    let _job = app.start();
    insta::assert_snapshot!("computing_first", render(&app, W, H));
    // The spinner advances with the ticks.
    let before = rows(&app, W, H)[0].clone();
    assert!(
        before.contains("computing tui-test · 16×96×8 · seed 7"),
        "{before}"
    );
    app.update(Action::Tick);
    let after = rows(&app, W, H)[0].clone();
    assert_ne!(before, after);
}

#[test]
fn snapshot_recomputing() {
    let mut app = ready();
    let _job = app.update(Action::Reroll);
    insta::assert_snapshot!("recomputing", render(&app, W, H));
}

#[test]
fn snapshot_error() {
    let mut app = App::new(parse(NAN_DATA));
    app.update(Action::Resize(W, H));
    let first = app.start();
    settle(&mut app, Some(first));
    let err = app.error.clone().expect("INT8 refuses NaN");
    assert!(err.contains("NaN"), "{err}");
    assert!(app.computed.is_none());
    assert!(app.pending.is_none());
    insta::assert_snapshot!("error_nan", render(&app, W, H));
}

#[test]
fn snapshot_too_small() {
    let app = ready();
    let text = render(&app, 60, 20);
    assert!(text.contains("larger terminal"));
    insta::assert_snapshot!("too_small_60x20", text);
}

// ---------------------------------------------------------------------------------------------
// Every shipped scenario renders
// ---------------------------------------------------------------------------------------------

#[test]
fn every_shipped_scenario_renders_every_screen() {
    for path in shipped_scenarios() {
        let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let variants = scenario.variants.len();
        let mut app = ready_with(scenario);
        for (w, h) in [(80, 24), (120, 40)] {
            app.update(Action::Resize(w, h));
            for v in 0..variants {
                select_variant(&mut app, v);
                for s in 0..Screen::ALL.len() {
                    app.update(Action::ShowScreen(s));
                    let text = screen_text(&app, w, h);
                    assert!(
                        !text.contains("larger terminal"),
                        "{} at {w}×{h}",
                        path.display()
                    );
                }
                // The alternative views.
                app.update(Action::ShowScreen(2));
                app.update(Action::ToggleOperand);
                app.update(Action::PageDown);
                app.update(Action::Right);
                terminal(&app, w, h);
                app.update(Action::ToggleOperand);
                app.update(Action::ShowScreen(3));
                app.update(Action::ToggleLogBins);
                terminal(&app, w, h);
                app.update(Action::ToggleLogBins);
                app.update(Action::ShowScreen(4));
                app.update(Action::ToggleWalkMode);
                app.update(Action::PageDown);
                terminal(&app, w, h);
                app.update(Action::ToggleWalkMode);
            }
            for open in [Action::ToggleHelp, Action::OpenParams, Action::OpenScenario] {
                app.update(open);
                terminal(&app, w, h);
                app.update(Action::Close);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Property: random action sequences never panic and keep the cursors in range
// ---------------------------------------------------------------------------------------------

const TINY: &str = r#"
name = "tiny"
seed = 3
m = 8
k = 64
n = 4

[w]
dist = "laplace"
scale = 0.05

[[variants]]
format = "int8"

[[variants]]
format = "mxfp4"
block_size = 32

[[variants]]
format = "mxfp4"
block_size = 16
scale_rule = "even"
"#;

#[derive(Clone, Debug)]
enum Step {
    Screen(usize),
    NextScreen,
    PrevScreen,
    NextVariant,
    PrevVariant,
    ToggleHidden,
    ToggleOperand,
    ToggleLogBins,
    ToggleWalkMode,
    ToggleHelp,
    OpenParams,
    Close,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Reroll,
    ClickTab(u16),
    Tick,
    Resize(u16, u16),
    /// Deliver the oldest computation waiting (often stale).
    DeliverOldest,
    /// Deliver the newest, dropping the others.
    DeliverNewest,
    DeliverAll,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => (0usize..6).prop_map(Step::Screen),
        1 => Just(Step::NextScreen),
        1 => Just(Step::PrevScreen),
        1 => Just(Step::NextVariant),
        1 => Just(Step::PrevVariant),
        1 => Just(Step::ToggleHidden),
        1 => Just(Step::ToggleOperand),
        1 => Just(Step::ToggleLogBins),
        1 => Just(Step::ToggleWalkMode),
        1 => Just(Step::ToggleHelp),
        2 => Just(Step::OpenParams),
        1 => Just(Step::Close),
        3 => Just(Step::Up),
        3 => Just(Step::Down),
        3 => Just(Step::Left),
        3 => Just(Step::Right),
        1 => Just(Step::PageUp),
        1 => Just(Step::PageDown),
        1 => Just(Step::Reroll),
        1 => (0u16..200).prop_map(Step::ClickTab),
        1 => Just(Step::Tick),
        1 => (1u16..=200, 1u16..=60).prop_map(|(w, h)| Step::Resize(w, h)),
        2 => Just(Step::DeliverOldest),
        2 => Just(Step::DeliverNewest),
        2 => Just(Step::DeliverAll),
    ]
}

fn deliver(app: &mut App, job: &Job) {
    let follow = app.update(Action::Finished(Box::new(finish(job))));
    assert!(follow.is_none());
}

fn check_invariants(app: &App) {
    assert!(
        app.variant < app.scenario.variants.len(),
        "variant {}",
        app.variant
    );
    assert!(
        app.param < app.params().len(),
        "param {} of {}",
        app.param,
        app.params().len()
    );
    if let Some((rows, cols)) = app.block_grid() {
        assert!(
            app.scales.block.0 < rows && app.scales.block.1 < cols,
            "block {:?} outside {rows}×{cols}",
            app.scales.block
        );
    }
    assert_eq!(app.hidden.len(), app.scenario.variants.len());
    if let Some((g, _)) = &app.pending {
        assert_eq!(*g, app.generation, "only the newest request is pending");
    }
    if let Some(c) = &app.computed {
        assert!(c.generation <= app.generation);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_action_sequences_keep_the_state_valid(steps in prop::collection::vec(step(), 1..60)) {
        let mut app = App::new(parse(TINY));
        app.update(Action::Resize(W, H));
        let mut queue: Vec<Job> = Vec::new();
        if let Command::Compute(job) = app.start() {
            queue.push(*job);
        }
        for s in steps {
            let action = match s {
                Step::Screen(i) => Action::ShowScreen(i),
                Step::NextScreen => Action::NextScreen,
                Step::PrevScreen => Action::PrevScreen,
                Step::NextVariant => Action::NextVariant,
                Step::PrevVariant => Action::PrevVariant,
                Step::ToggleHidden => Action::ToggleHidden,
                Step::ToggleOperand => Action::ToggleOperand,
                Step::ToggleLogBins => Action::ToggleLogBins,
                Step::ToggleWalkMode => Action::ToggleWalkMode,
                Step::ToggleHelp => Action::ToggleHelp,
                Step::OpenParams => Action::OpenParams,
                Step::Close => Action::Close,
                Step::Up => Action::Up,
                Step::Down => Action::Down,
                Step::Left => Action::Left,
                Step::Right => {
                    // Keep the shapes small: never grow a dimension past 128.
                    let p = (app.overlay == Overlay::Params).then(|| app.params()[app.param]);
                    let dim = match p {
                        Some(Param::M) => app.scenario.m,
                        Some(Param::K) => app.scenario.k,
                        Some(Param::N) => app.scenario.n,
                        _ => None,
                    };
                    if dim.is_some_and(|d| d >= 128) { Action::Left } else { Action::Right }
                }
                Step::PageUp => Action::PageUp,
                Step::PageDown => Action::PageDown,
                Step::Reroll => Action::Reroll,
                Step::ClickTab(x) => render::tab_at(x, W, &Screen::ALL)
                    .map_or(Action::None, |s| Action::ShowScreen(s.index())),
                Step::Tick => Action::Tick,
                Step::Resize(w, h) => Action::Resize(w, h),
                Step::DeliverOldest => {
                    if !queue.is_empty() {
                        let job = queue.remove(0);
                        deliver(&mut app, &job);
                    }
                    Action::None
                }
                Step::DeliverNewest => {
                    if let Some(job) = queue.pop() {
                        queue.clear();
                        deliver(&mut app, &job);
                    }
                    Action::None
                }
                Step::DeliverAll => {
                    for job in std::mem::take(&mut queue) {
                        deliver(&mut app, &job);
                    }
                    Action::None
                }
            };
            match app.update(action) {
                None => {}
                Some(Command::Compute(job)) => queue.push(*job),
                Some(other) => panic!("a non-IO action asked for {other:?}"),
            }
            check_invariants(&app);
            let (w, h) = app.size;
            terminal(&app, w, h);
        }
        for job in std::mem::take(&mut queue) {
            deliver(&mut app, &job);
        }
        prop_assert!(app.pending.is_none());
        prop_assert!(app.computed.is_some() || app.error.is_some());
        if app.error.is_none() {
            prop_assert_eq!(app.computed.as_ref().map(|c| c.generation), Some(app.generation));
        }
        check_invariants(&app);
        for s in 0..Screen::ALL.len() {
            app.update(Action::ShowScreen(s));
            terminal(&app, W, H);
        }
    }
}

/// At the smallest supported size (80×24) the explanatory lines take a shorter wording
/// instead of being cut: checked on the default scenario, every screen, INT8 and MXFP4.
#[test]
fn at_80_by_24_lines_are_reworded_not_cut() {
    let mut app = ready_with(Scenario::default());
    app.update(Action::Resize(80, 24));
    let text = |app: &App| screen_text(app, 80, 24);
    // Overview: the memory line is whole (every variant's size, in the columns' order), and the
    // headers keep the words that tell the variants apart.
    let t = text(&app);
    assert!(
        t.contains("W in memory, by column: 256 KiB · 258 KiB · 136 KiB · 136 KiB (f32 1.00 MiB)"),
        "{t}"
    );
    assert!(
        t.contains("mxfp4…floor") && t.contains("mxfp4…rceil"),
        "{t}"
    );
    // The verdict reads the table: the best variant, and which operand's error dominates.
    assert!(
        t.contains("best: int8 per-channel, 24.94 dB; x's error dominates: x alone 25.03 dB vs W"),
        "{t}"
    );
    assert!(t.contains("what to look for") && t.contains("Per-tensor INT8 spends its range"));
    // Grid, INT8: the clipped/flushed line is whole, for W and x.
    app.update(Action::ShowScreen(1));
    let t = text(&app);
    assert_eq!(t.matches("(non-zero → 0)").count(), 2, "{t}");
    // Scales, INT8: the selected row's scale line is whole.
    app.update(Action::ShowScreen(2));
    assert!(
        text(&app).contains("f32 scale 7.0402e-4, zp "),
        "{}",
        text(&app)
    );
    // Errors: hotspot lines hold whole items only.
    app.update(Action::ShowScreen(3));
    let t = text(&app);
    let panes = t
        .lines()
        .map(|l| l.rsplit('│').nth(1).unwrap_or_default().trim_end());
    let items: Vec<&str> = panes
        .filter(|p| {
            p.starts_with("m=")
                || p.starts_with("n=")
                || (p.starts_with('[') && p[1..].starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    assert_eq!(items.len(), 6, "{t}");
    for right in items {
        let line = right;
        let last = right.split_whitespace().last().unwrap_or_default();
        assert!(
            last.contains('e')
                && last
                    .split('e')
                    .nth(1)
                    .is_some_and(|x| x.parse::<i32>().is_ok()),
            "cut: {line}"
        );
    }
    // Grid, MXFP4: the most used scale is shown, and the clip lines are whole.
    app.update(Action::NextVariant);
    app.update(Action::NextVariant);
    app.update(Action::ShowScreen(1));
    let t = text(&app);
    assert!(t.contains("most used: W 2^-7 · x 2^-1"), "{t}");
    assert_eq!(t.matches("(non-zero → 0)").count(), 2, "{t}");
}

/// Text from the scenario file reaches the screen with its control characters as escapes,
/// as it reaches the table and the messages: a name cannot clear the screen or reorder it.
#[test]
fn file_text_is_shown_escaped() {
    let app = ready_with(parse(
        "name = \"ev\\u001b[2Jil\"\ndescription = \"two\\nlines\\u202e\"\nm = 4\nk = 32\nn = 2\n\
         [[variants]]\nformat = \"int8\"\nlabel = \"lab\\u0007el\"\n",
    ));
    let screen = rows(&app, W, H).join("\n");
    assert!(screen.contains("ev\\u{1b}[2Jil"), "{screen}");
    assert!(screen.contains("two\\nlines\\u{202e}"), "{screen}");
    assert!(screen.contains("lab\\u{7}el"), "{screen}");
    assert!(!screen.contains('\u{202e}'));
}

#[test]
fn the_picker_starts_empty_and_ctrl_u_ctrl_w_edit_the_path() {
    let mut app = ready();
    open_picker(&mut app);
    for c in "runs/old.toml".chars() {
        app.update(Action::Type(c));
    }
    let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
    let act = |k| keymap::action(Context::Open, Screen::Overview, k);
    app.update(act(ctrl('w')));
    assert_eq!(app.picker.input, "runs/");
    app.update(act(ctrl('u')));
    assert_eq!(app.picker.input, "");
    // Ctrl-U never types a 'u'.
    assert!(matches!(act(ctrl('u')), Action::ClearInput));
    for c in "typed".chars() {
        app.update(Action::Type(c));
    }
    app.update(Action::Close);
    open_picker(&mut app);
    assert_eq!(
        app.picker.input, "",
        "a new picker starts with an empty path"
    );
}

#[test]
fn a_new_scenario_resets_the_editor_cursor() {
    let mut app = ready();
    app.update(Action::OpenParams);
    for _ in 0..5 {
        app.update(Action::Down);
    }
    assert_eq!(app.param, 5);
    app.update(Action::Close);
    recomputes(
        &mut app,
        Action::Loaded(Box::new(Ok(Scenario::shipped("gaussian").unwrap()))),
    );
    assert_eq!(app.param, 0);
}

/// A data operand stays in the source cycle: one key press to a distribution, with the data's
/// spread, and one back to the scenario's own data.
#[test]
fn the_scenarios_own_data_stays_in_the_source_cycle() {
    let mut app = seed_app();
    app.update(Action::OpenParams);
    let data = app.scenario.w.clone();
    let std = app.computed.as_ref().unwrap().report.reference.w.std;
    change_recomputes(&mut app, Param::Dist(Target::W), true);
    assert_eq!(app.param_value(Param::Dist(Target::W)), "normal");
    match &app.scenario.w.source {
        Source::Random(Distribution::Normal { std: s, .. }) => {
            assert_eq!(*s, std, "the data's std carries over");
        }
        other => panic!("{other:?}"),
    }
    change_recomputes(&mut app, Param::Dist(Target::W), false);
    assert_eq!(app.param_value(Param::Dist(Target::W)), "values (data)");
    assert_eq!(app.scenario.w, data, "back to the scenario's data, exactly");
}

/// Enter on a number types it: the value is set when Enter is pressed again, a bad one is
/// refused with a message and kept for editing, Esc leaves the parameter as it was.
#[test]
fn numbers_can_be_typed_into_the_editor() {
    let mut app = ready();
    app.update(Action::OpenParams);
    let at = |app: &App, p: Param| app.params().iter().position(|&q| q == p).unwrap();
    let k = at(&app, Param::K);
    while app.param < k {
        app.update(Action::Down);
    }
    let key_in = |app: &mut App, k: KeyEvent| {
        let a = keymap::action(app.context(), app.screen, k);
        app.update(a)
    };
    assert!(key_in(&mut app, key(KeyCode::Enter)).is_none());
    assert_eq!(app.typing.as_deref(), Some(""));
    for c in "3x".chars() {
        key_in(&mut app, ch(c));
    }
    assert!(
        key_in(&mut app, key(KeyCode::Enter)).is_none(),
        "3x is refused"
    );
    assert!(
        app.status
            .as_deref()
            .is_some_and(|s| s.contains("'3x' is not a size"))
    );
    key_in(&mut app, key(KeyCode::Backspace));
    key_in(&mut app, ch('0'));
    let Some(Command::Compute(_)) = key_in(&mut app, key(KeyCode::Enter)) else {
        panic!("a typed K recomputes");
    };
    assert_eq!(app.scenario.k, Some(30));
    assert_eq!(app.typing, None);
    // Esc while typing leaves the value and the editor open.
    key_in(&mut app, key(KeyCode::Enter));
    key_in(&mut app, ch('7'));
    key_in(&mut app, key(KeyCode::Esc));
    assert_eq!((app.scenario.k, app.typing.clone()), (Some(30), None));
    assert_eq!(app.overlay, Overlay::Params);
    // The spread of W's normal: its std.
    let spread = at(&app, Param::Spread(Target::W));
    while app.param > spread {
        app.update(Action::Up);
    }
    key_in(&mut app, key(KeyCode::Enter));
    for c in "0.125".chars() {
        key_in(&mut app, ch(c));
    }
    key_in(&mut app, key(KeyCode::Enter));
    assert_eq!(
        app.param_value(Param::Spread(Target::W)),
        "normal(mean 0, std 0.125)"
    );
}

/// The default scenario at the two sizes people use most, 80×24 and 120×40: the overview with
/// its verdict and lesson, the errors and block-scales screens under MXFP4, and the docked
/// editor.
#[test]
fn snapshot_default_scenario_at_80x24_and_120x40() {
    for (w, h) in [(80u16, 24u16), (120, 40)] {
        let mut app = ready_with(Scenario::default());
        app.update(Action::Resize(w, h));
        insta::assert_snapshot!(format!("default_overview_{w}x{h}"), render(&app, w, h));
        app.update(Action::NextVariant);
        app.update(Action::NextVariant);
        app.update(Action::ShowScreen(3));
        insta::assert_snapshot!(format!("default_errors_mxfp4_{w}x{h}"), render(&app, w, h));
        app.update(Action::ShowScreen(2));
        insta::assert_snapshot!(format!("default_scales_mxfp4_{w}x{h}"), render(&app, w, h));
        app.update(Action::ShowScreen(0));
        app.update(Action::OpenParams);
        insta::assert_snapshot!(format!("default_params_{w}x{h}"), render(&app, w, h));
    }
}

/// Every numeric parameter of a distribution has a row of its own, set by typing.
#[test]
fn every_distribution_parameter_can_be_typed() {
    let mut app = ready();
    app.update(Action::OpenParams);
    let mean = Param::DistValue(Target::W, "mean");
    let at = app
        .params()
        .iter()
        .position(|&q| q == mean)
        .expect("a W mean row");
    while app.param < at {
        app.update(Action::Down);
    }
    app.update(Action::Confirm);
    for c in "-0.5".chars() {
        app.update(Action::Type(c));
    }
    let Some(Command::Compute(_)) = app.update(Action::Confirm) else {
        panic!("a typed mean recomputes");
    };
    assert_eq!(app.param_value(mean), "-0.5");
    assert_eq!(
        app.param_value(Param::Spread(Target::W)),
        "normal(mean -0.5, std 0.02)"
    );
    // A std of 0 is refused, as a scenario file's would be.
    let std = Param::DistValue(Target::W, "std");
    app.update(Action::Down);
    assert_eq!(app.params()[app.param], std);
    app.update(Action::Confirm);
    app.update(Action::Type('0'));
    assert!(app.update(Action::Confirm).is_none());
    assert!(
        app.status
            .as_deref()
            .is_some_and(|s| s.contains("a number > 0")),
        "{:?}",
        app.status
    );
    // x is Student-t here: ν and scale.
    assert!(app.params().contains(&Param::DistValue(Target::X, "nu")));
    assert!(app.params().contains(&Param::DistValue(Target::X, "scale")));
}

/// An exact result is the best there is: the verdict names it, not the best finite one.
#[test]
fn the_verdict_counts_an_exact_result_as_the_best() {
    let s = Scenario::from_toml(
        "name = \"exact\"\n[w]\nvalues = [[1.0, 2.0], [3.0, 4.0]]\n[x]\nvalues = [1.0, 1.0]\n\
         [[variants]]\nformat = \"int8\"\nw_scheme = \"symmetric\"\n[[variants]]\nformat = \"mxfp4\"\n",
        Path::new("exact.toml"),
        PathBuf::new(),
    )
    .unwrap();
    let app = ready_with(s);
    let t = screen_text(&app, 120, 40);
    assert!(t.contains("best: mxfp4 b32 floor, ∞ (exact) dB"), "{t}");
}
