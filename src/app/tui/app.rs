//! The explorer's state and its only mutation, [`App::update`]. Heavy work is requested through
//! the returned [`Command`] and comes back as [`Action::Finished`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::app::walkthrough::Mode;
use crate::core::experiment::{Report, Run};
use crate::core::metrics::hotspots::Hotspots;
use crate::core::rng::splitmix64;
use crate::core::scenario::Scenario;

use super::keymap::Context;
pub use super::params::{Param, Target};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// A model's tensors and their scan (only with a model: `qlab tui MODEL.safetensors`).
    Model,
    Overview,
    Grid,
    Scales,
    Errors,
    Walkthrough,
}

impl Screen {
    pub const ALL: [Screen; 5] = [
        Screen::Overview,
        Screen::Grid,
        Screen::Scales,
        Screen::Errors,
        Screen::Walkthrough,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Model => "Model",
            Screen::Overview => "Overview",
            Screen::Grid => "Codes",
            Screen::Scales => "Block scales",
            Screen::Errors => "Errors",
            Screen::Walkthrough => "Walkthrough",
        }
    }

    pub fn index(self) -> usize {
        Screen::ALL.iter().position(|&s| s == self).unwrap_or(0)
    }
}

/// The screens of an explorer with or without a model: the model screen comes first.
pub fn screens(with_model: bool) -> Vec<Screen> {
    let mut v = Vec::with_capacity(6);
    if with_model {
        v.push(Screen::Model);
    }
    v.extend(Screen::ALL);
    v
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    Params,
    Open,
}

/// Which operand the block-scale screen shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    W,
    X,
}

/// A finished computation: the run and its report, for the parameters of `generation`.
#[derive(Debug)]
pub struct Computed {
    pub generation: u64,
    pub run: Run,
    pub report: Report,
    /// Per variant: where its largest output errors are.
    pub hotspots: Vec<Hotspots>,
    pub elapsed: Duration,
}

/// What the worker sends back.
#[derive(Debug)]
pub struct Done {
    pub generation: u64,
    pub result: Result<Computed, String>,
}

/// A request to the worker.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub generation: u64,
    pub scenario: Scenario,
}

#[derive(Debug)]
pub enum Action {
    None,
    Quit,
    Close,
    ShowScreen(usize),
    NextScreen,
    PrevScreen,
    ToggleHelp,
    OpenParams,
    OpenScenario,
    Export,
    Reroll,
    NextVariant,
    PrevVariant,
    ToggleHidden,
    ToggleOperand,
    ToggleLogBins,
    ToggleWalkMode,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Confirm,
    Type(char),
    Backspace,
    Resize(u16, u16),
    Tick,
    Finished(Box<Done>),
    /// A scenario file was read (or failed to be).
    Loaded(Box<Result<Scenario, String>>),
    /// An export finished, with the paths written or the error.
    Exported(Result<Vec<PathBuf>, String>),
    /// The scenarios the picker offers were listed.
    Listed(Vec<PickItem>),
    /// The picker: clear the typed path (Ctrl-U), delete its last word (Ctrl-W).
    ClearInput,
    DeleteWord,
    /// Model screen: name order ↔ worst first.
    ToggleSort,
    /// Model screen: type a filter.
    StartFilter,
    /// One tensor of a model scan, done.
    Scanned {
        generation: u64,
        row: usize,
        result: Result<Vec<f64>, String>,
    },
}

/// Side effects that `update` asks the event loop to perform. All of them run off the UI
/// thread (a computation on the worker, file reads and writes on the I/O thread), so a slow
/// disk never stops the explorer from answering a key.
#[derive(Debug, PartialEq)]
pub enum Command {
    Compute(Box<Job>),
    Load(PathBuf),
    /// Open a scenario shipped in the binary.
    LoadShipped(&'static str),
    Export,
    /// List the scenario files for the picker.
    List,
    /// Scan a model's tensors (on a thread of its own; results come back as `Scanned`).
    Scan(Box<super::model::ScanJob>),
}

/// The block-scale screen's state: which operand it shows and the selected block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScalesView {
    pub operand: Operand,
    /// (row, block index).
    pub block: (usize, usize),
}

impl Default for ScalesView {
    fn default() -> Self {
        ScalesView {
            operand: Operand::W,
            block: (0, 0),
        }
    }
}

/// The error screen's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErrorsView {
    /// Histogram bins on a log scale of |error|.
    pub log_bins: bool,
}

/// The walkthrough's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkView {
    pub mode: Mode,
}

impl Default for WalkView {
    fn default() -> Self {
        WalkView {
            mode: Mode::Document,
        }
    }
}

/// The scenario picker (`o`): the scenarios it offers, its cursor and the typed path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Picker {
    pub items: Vec<PickItem>,
    pub cursor: usize,
    pub input: String,
}

/// One scenario the picker offers: shipped in the binary, or a file of the current directory
/// (or its `scenarios/`), with the first sentence of its lesson.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PickItem {
    pub source: PickSource,
    pub summary: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PickSource {
    Shipped(&'static str),
    File(PathBuf),
}

impl PickItem {
    /// How the item is named in the list.
    pub fn name(&self) -> String {
        match &self.source {
            PickSource::Shipped(n) => (*n).to_string(),
            PickSource::File(p) => p.display().to_string(),
        }
    }
}

#[derive(Debug)]
pub struct App {
    pub scenario: Scenario,
    /// The scenario as opened, before any edit: its data operands stay in the editor's source
    /// cycle, so stepping W from a file to `normal` can be stepped back.
    pub origin: Scenario,
    pub hidden: Vec<bool>,
    pub computed: Option<Arc<Computed>>,
    /// Generation of the newest request; results of older ones are discarded.
    pub generation: u64,
    /// A request in flight: its generation and a summary of its parameters.
    pub pending: Option<(u64, String)>,
    pub error: Option<String>,
    pub status: Option<String>,
    pub screen: Screen,
    pub overlay: Overlay,
    pub variant: usize,
    /// The parameter editor's cursor (an index into [`App::params`]).
    pub param: usize,
    pub scales: ScalesView,
    pub errors: ErrorsView,
    pub walk: WalkView,
    /// The overview's and the walkthrough's scroll offset (reset on a new screen).
    pub scroll: u16,
    pub picker: Picker,
    pub size: (u16, u16),
    pub tick: u64,
    pub quit: bool,
    /// The model being explored, if any (`qlab tui MODEL`).
    pub model: Option<super::model::Model>,
    /// Where `e` writes (`qlab tui --export-dir`; the current directory by default).
    pub export_dir: PathBuf,
    /// A number being typed into the editor's selected parameter (Enter on a number).
    pub typing: Option<String>,
}

impl App {
    pub fn new(scenario: Scenario) -> Self {
        let hidden = vec![false; scenario.variants.len()];
        App {
            origin: scenario.clone(),
            scenario,
            hidden,
            computed: None,
            generation: 0,
            pending: None,
            error: None,
            status: None,
            screen: Screen::Overview,
            overlay: Overlay::None,
            variant: 0,
            param: 0,
            scales: ScalesView::default(),
            errors: ErrorsView::default(),
            walk: WalkView::default(),
            scroll: 0,
            picker: Picker::default(),
            size: (0, 0),
            tick: 0,
            quit: false,
            model: None,
            export_dir: PathBuf::from("."),
            typing: None,
        }
    }

    /// The explorer on a model: its first tensor as W under `scenario`, the model screen
    /// first, and the scan to start ([`App::scan`]).
    pub fn with_model(scenario: Scenario, model: super::model::Model) -> Self {
        let first = model.rows[0].name.clone();
        let mut app = App::new(model.scenario_for(&scenario, &first));
        app.model = Some(model);
        app.screen = Screen::Model;
        app
    }

    /// The screens this explorer has, in tab order.
    pub fn screens(&self) -> Vec<Screen> {
        screens(self.model.is_some())
    }

    fn screen_index(&self) -> usize {
        self.screens()
            .iter()
            .position(|&s| s == self.screen)
            .unwrap_or(0)
    }

    /// The scan of the model under the current variants (a new generation: results of an
    /// older scan are dropped as they arrive).
    pub fn scan(&mut self) -> Option<Command> {
        let scenario = self.scenario.clone();
        let m = self.model.as_mut()?;
        m.generation += 1;
        m.variants = scenario.variants.iter().map(|v| v.label.clone()).collect();
        for r in &mut m.rows {
            r.sqnr = None;
        }
        let scenarios = m
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (i, m.scenario_for(&scenario, &r.name)))
            .collect();
        Some(Command::Scan(Box::new(super::model::ScanJob {
            generation: m.generation,
            scenarios,
        })))
    }

    /// The keymap context the current overlay puts keys in.
    pub fn context(&self) -> Context {
        match self.overlay {
            Overlay::None
                if self.screen == Screen::Model
                    && self.model.as_ref().is_some_and(|m| m.filtering) =>
            {
                Context::Filter
            }
            Overlay::None => Context::Main,
            Overlay::Help => Context::Help,
            Overlay::Params => Context::Params,
            Overlay::Open => Context::Open,
        }
    }

    /// The first request: compute the initial scenario.
    pub fn start(&mut self) -> Command {
        self.recompute()
    }

    fn recompute(&mut self) -> Command {
        self.generation += 1;
        let s = &self.scenario;
        let dims = |v: Option<usize>, d: &str| v.map_or(d.to_string(), |v| v.to_string());
        let summary = format!(
            "{} · {}×{}×{} · seed {}",
            s.name,
            dims(s.m, "M"),
            dims(s.k, "K"),
            dims(s.n, "N"),
            s.seed
        );
        self.pending = Some((self.generation, summary));
        Command::Compute(Box::new(Job {
            generation: self.generation,
            scenario: self.scenario.clone(),
        }))
    }

    fn variants_len(&self) -> usize {
        self.scenario.variants.len()
    }

    /// Rows and blocks per row of the operand the scale screen shows, if its format has
    /// block scales.
    pub fn block_grid(&self) -> Option<(usize, usize)> {
        let c = self.computed.as_ref()?;
        let v = c.run.variants.get(self.variant)?;
        let q = match self.scales.operand {
            Operand::W => &v.qw,
            Operand::X => &v.qx,
        };
        let b = q.blocks()?;
        Some((b.rows(), b.blocks_per_row()))
    }

    fn move_cursor(&mut self, dr: i64, dc: i64) {
        match self.screen {
            Screen::Model => {
                if let Some(m) = &mut self.model {
                    let n = m.visible().len() as i64;
                    m.cursor = (m.cursor as i64 + dr).clamp(0, (n - 1).max(0)) as usize;
                }
            }
            Screen::Scales => {
                if let Some((rows, cols)) = self.block_grid() {
                    let r = (self.scales.block.0 as i64 + dr).clamp(0, rows as i64 - 1);
                    let c = (self.scales.block.1 as i64 + dc).clamp(0, cols as i64 - 1);
                    self.scales.block = (r as usize, c as usize);
                }
            }
            _ => self.scroll = (i64::from(self.scroll) + dr).clamp(0, 10_000) as u16,
        }
    }

    /// The only mutation of the explorer's state.
    pub fn update(&mut self, action: Action) -> Option<Command> {
        match action {
            Action::None => {}
            Action::Quit => self.quit = true,
            Action::Close if self.typing.is_some() => self.typing = None,
            Action::Close => match &mut self.model {
                Some(m) if m.filtering && self.overlay == Overlay::None => {
                    m.filtering = false;
                    m.filter.clear();
                    m.cursor = 0;
                }
                _ => self.overlay = Overlay::None,
            },
            Action::ShowScreen(i) => {
                if let Some(&s) = self.screens().get(i) {
                    self.screen = s;
                    self.scroll = 0;
                }
            }
            Action::NextScreen | Action::PrevScreen => {
                let all = self.screens();
                let d = if matches!(action, Action::NextScreen) {
                    1
                } else {
                    all.len() - 1
                };
                self.screen = all[(self.screen_index() + d) % all.len()];
                self.scroll = 0;
            }
            Action::ToggleSort => {
                if let Some(m) = &mut self.model {
                    m.worst_first = !m.worst_first;
                    m.cursor = 0;
                }
            }
            Action::StartFilter => {
                if let Some(m) = &mut self.model {
                    m.filtering = true;
                }
            }
            Action::Scanned {
                generation,
                row,
                result,
            } => {
                if let Some(m) = &mut self.model
                    && m.generation == generation
                    && let Some(r) = m.rows.get_mut(row)
                {
                    r.sqnr = Some(result);
                }
            }
            Action::ToggleHelp => {
                self.overlay = if self.overlay == Overlay::Help {
                    Overlay::None
                } else {
                    Overlay::Help
                }
            }
            Action::OpenParams => {
                self.overlay = Overlay::Params;
                self.param = self.param.min(self.params().len() - 1);
            }
            Action::OpenScenario => {
                self.overlay = Overlay::Open;
                self.picker.cursor = 0;
                self.picker.input.clear();
                return Some(Command::List);
            }
            Action::ClearInput => {
                if let Some(m) = self.model.as_mut().filter(|m| m.filtering) {
                    m.filter.clear();
                    m.cursor = 0;
                } else {
                    self.picker.input.clear();
                }
            }
            Action::DeleteWord => {
                // As a shell's Ctrl-W: trailing separators, then the word before them.
                let cut = |s: &mut String| {
                    let sep = |c: char| c == ' ' || c == '/';
                    let kept = s.trim_end_matches(sep).trim_end_matches(|c| !sep(c)).len();
                    s.truncate(kept);
                };
                match self.model.as_mut().filter(|m| m.filtering) {
                    Some(m) => {
                        cut(&mut m.filter);
                        m.cursor = 0;
                    }
                    None => cut(&mut self.picker.input),
                }
            }
            Action::Listed(items) => {
                self.picker.items = items;
                self.picker.cursor = self.picker.cursor.min(self.picker.items.len());
            }
            Action::Export => {
                if self.computed.is_some() {
                    return Some(Command::Export);
                }
                self.status = Some("nothing to export yet".into());
            }
            Action::Reroll => {
                // Short enough to read off the header and type into a scenario file.
                self.scenario.seed = splitmix64(self.scenario.seed) % REROLL_SEEDS;
                return Some(self.recompute());
            }
            Action::NextVariant | Action::PrevVariant => {
                let n = self.variants_len();
                if n > 0 {
                    let d = if matches!(action, Action::NextVariant) {
                        1
                    } else {
                        n - 1
                    };
                    self.variant = (self.variant + d) % n;
                    self.scales.block = (0, 0);
                    self.param = self.param.min(self.params().len() - 1);
                }
            }
            Action::ToggleHidden => {
                if let Some(h) = self.hidden.get_mut(self.variant) {
                    *h = !*h;
                }
            }
            Action::ToggleOperand => {
                self.scales.operand = match self.scales.operand {
                    Operand::W => Operand::X,
                    Operand::X => Operand::W,
                };
                self.scales.block = (0, 0);
            }
            Action::ToggleLogBins => self.errors.log_bins = !self.errors.log_bins,
            Action::ToggleWalkMode => {
                let seed = self
                    .computed
                    .as_deref()
                    .is_some_and(super::render::walkthrough::is_seed);
                if !seed {
                    // Only the worked example has a document's way and the spec's way.
                    self.status = Some(
                        "m switches document / spec for the worked example only (o, then \
                         seed-walkthrough)"
                            .into(),
                    );
                    return None;
                }
                self.walk.mode = match self.walk.mode {
                    Mode::Document => Mode::Spec,
                    _ => Mode::Document,
                }
            }
            Action::Up | Action::Down | Action::Left | Action::Right => {
                let (dr, dc) = match action {
                    Action::Up => (-1, 0),
                    Action::Down => (1, 0),
                    Action::Left => (0, -1),
                    _ => (0, 1),
                };
                match self.overlay {
                    Overlay::Params => {
                        self.typing = None;
                        let n = self.params().len();
                        if dr != 0 {
                            self.param = (self.param as i64 + dr).clamp(0, n as i64 - 1) as usize;
                        } else if self.adjust(self.params()[self.param], dc as i32) {
                            return Some(self.recompute());
                        }
                    }
                    Overlay::Open => {
                        let n = self.picker.items.len() + 1;
                        self.picker.cursor =
                            (self.picker.cursor as i64 + dr).clamp(0, n as i64 - 1) as usize;
                    }
                    _ => self.move_cursor(dr, dc),
                }
            }
            Action::PageUp => self.move_cursor(-16, 0),
            Action::PageDown => self.move_cursor(16, 0),
            Action::Confirm if self.overlay == Overlay::Params => {
                let p = *self.params().get(self.param)?;
                match self.typing.take() {
                    Some(text) => match self.set_typed(p, &text) {
                        Ok(()) => return Some(self.recompute()),
                        Err(e) => {
                            self.status = Some(e);
                            self.typing = Some(text);
                        }
                    },
                    None if self.is_typed(p) => self.typing = Some(String::new()),
                    None => self.overlay = Overlay::None,
                }
            }
            Action::Type(c) if self.overlay == Overlay::Params => {
                if let Some(t) = self.typing.as_mut()
                    && t.chars().count() < 24
                {
                    t.push(c);
                }
            }
            Action::Backspace if self.overlay == Overlay::Params => {
                if let Some(t) = self.typing.as_mut() {
                    t.pop();
                }
            }
            Action::Confirm => {
                if self.overlay == Overlay::None && self.screen == Screen::Model {
                    let m = self.model.as_mut()?;
                    if m.filtering {
                        m.filtering = false;
                        return None;
                    }
                    let name = m.selected()?.name.clone();
                    self.scenario = m.scenario_for(&self.scenario, &name);
                    self.origin = self.scenario.clone();
                    self.scales.block = (0, 0);
                    self.screen = Screen::Overview;
                    return Some(self.recompute());
                }
                if self.overlay == Overlay::Open {
                    let command = match self.picker.items.get(self.picker.cursor) {
                        Some(PickItem {
                            source: PickSource::Shipped(name),
                            ..
                        }) => Command::LoadShipped(name),
                        Some(PickItem {
                            source: PickSource::File(p),
                            ..
                        }) => Command::Load(p.clone()),
                        None if !self.picker.input.trim().is_empty() => {
                            Command::Load(PathBuf::from(self.picker.input.trim()))
                        }
                        None => return None,
                    };
                    self.overlay = Overlay::None;
                    return Some(command);
                }
            }
            Action::Type(c) => {
                if let Some(m) = self.model.as_mut().filter(|m| m.filtering) {
                    m.filter.push(c);
                    m.cursor = 0;
                } else if self.overlay == Overlay::Open {
                    self.picker.cursor = self.picker.items.len();
                    self.picker.input.push(c);
                }
            }
            Action::Backspace => match self.model.as_mut().filter(|m| m.filtering) {
                Some(m) => {
                    m.filter.pop();
                    m.cursor = 0;
                }
                None => {
                    self.picker.input.pop();
                }
            },
            Action::Resize(w, h) => self.size = (w, h),
            Action::Tick => self.tick = self.tick.wrapping_add(1),
            Action::Finished(done) => {
                if done.generation != self.generation {
                    return None; // stale: parameters changed since
                }
                self.pending = None;
                match done.result {
                    Ok(c) => {
                        self.error = None;
                        self.computed = Some(Arc::new(c));
                        if let Some((rows, cols)) = self.block_grid() {
                            self.scales.block = (
                                self.scales.block.0.min(rows - 1),
                                self.scales.block.1.min(cols - 1),
                            );
                        }
                    }
                    Err(e) => self.error = Some(e),
                }
            }
            Action::Loaded(result) => match *result {
                Ok(s) => {
                    self.hidden = vec![false; s.variants.len()];
                    self.origin = s.clone();
                    self.scenario = s;
                    self.variant = 0;
                    self.scales.block = (0, 0);
                    // A new scenario starts the editor at its top, not where the last one
                    // was left (a blind ↓×N would land elsewhere).
                    self.param = 0;
                    self.scroll = 0;
                    self.status = None;
                    return Some(self.recompute());
                }
                Err(e) => self.status = Some(e),
            },
            Action::Exported(r) => {
                self.status = Some(match r {
                    Ok(paths) => format!(
                        "exported {}",
                        paths
                            .iter()
                            .map(|p| crate::core::text::printable(&p.display().to_string())
                                .into_owned())
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                    Err(e) => format!("export failed: {e}"),
                });
            }
        }
        None
    }
}

/// The scenario files under `./scenarios`, sorted (run on the I/O thread).
pub fn scenario_files() -> Vec<PickItem> {
    use crate::core::scenario::shipped::{SHIPPED, first_sentence};
    let summary = |lesson: &str, description: &str| {
        let line = if lesson.is_empty() {
            description
        } else {
            first_sentence(lesson)
        };
        line.to_string()
    };
    let mut items: Vec<PickItem> = SHIPPED
        .iter()
        .map(|s| {
            let parsed = Scenario::from_toml(s.text, Path::new(s.name), PathBuf::new()).ok();
            PickItem {
                source: PickSource::Shipped(s.name),
                summary: parsed.map_or_else(String::new, |p| summary(&p.lesson, &p.description)),
            }
        })
        .collect();
    // The current directory's scenarios and its scenarios/ folder, except copies of the
    // shipped ones (a checkout's own scenarios/), and files that are not scenarios (sweeps).
    let mut files: Vec<PathBuf> = [".", "scenarios"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(d)
                .map(|d| {
                    d.filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
        .collect();
    files.sort();
    for path in files.into_iter().take(MAX_LISTED) {
        let Ok(text) = crate::core::files::read_text(&path) else {
            continue;
        };
        if SHIPPED.iter().any(|s| s.text == text) {
            continue;
        }
        if let Ok(s) = Scenario::from_toml(&text, &path, PathBuf::new()) {
            let path = path
                .strip_prefix(".")
                .map(Path::to_path_buf)
                .unwrap_or(path);
            items.push(PickItem {
                source: PickSource::File(path),
                summary: summary(&s.lesson, &s.description),
            });
        }
    }
    items
}

/// `r` draws seeds below this: six digits at most.
const REROLL_SEEDS: u64 = 1_000_000;

/// The most files of the current directory the picker reads.
const MAX_LISTED: usize = 200;
