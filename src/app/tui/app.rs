//! The explorer's state and its only mutation, [`App::update`]. Heavy work is requested through
//! the returned [`Command`] and comes back as [`Action::Finished`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::app::walkthrough::Mode;
use crate::core::data::distribution::{ChannelAxis, ChannelOutliers, Distribution, Role, Sign};
use crate::core::experiment::{Report, Run};
use crate::core::family::{self, Kind, Knob, Scope};
use crate::core::metrics::hotspots::Hotspots;
use crate::core::rng::splitmix64;
use crate::core::scenario::{OperandSpec, Scenario, Source};

use super::keymap::Context;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
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
            Screen::Overview => "Overview",
            Screen::Grid => "E2M1 grid",
            Screen::Scales => "Block scales",
            Screen::Errors => "Errors",
            Screen::Walkthrough => "Walkthrough",
        }
    }

    pub fn index(self) -> usize {
        Screen::ALL.iter().position(|&s| s == self).unwrap_or(0)
    }
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
    /// The scenario files the picker offers were listed.
    Listed(Vec<PathBuf>),
}

/// Side effects that `update` asks the event loop to perform. All of them run off the UI
/// thread (a computation on the worker, file reads and writes on the I/O thread), so a slow
/// disk never stops the explorer from answering a key.
#[derive(Debug, PartialEq)]
pub enum Command {
    Compute(Box<Job>),
    Load(PathBuf),
    Export,
    /// List the scenario files for the picker.
    List,
}

/// One editable parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    Dist(Target),
    Spread(Target),
    Sparsity(Target),
    OutlierCount(Target),
    OutlierFactor(Target),
    M,
    K,
    N,
    Seed,
    /// A setting of the current variant's format: a knob of the registry, for one operand
    /// (`Some`) or as a whole.
    Knob(&'static str, Option<Role>),
    Shown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    W,
    X,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::W => "W",
            Target::X => "x",
        }
    }
}

#[derive(Debug)]
pub struct App {
    pub scenario: Scenario,
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
    pub param: usize,
    pub operand: Operand,
    /// Selected block on the scale screen: (row, block index).
    pub block: (usize, usize),
    pub log_bins: bool,
    pub walk_mode: Mode,
    pub scroll: u16,
    pub open_items: Vec<PathBuf>,
    pub open_cursor: usize,
    pub open_input: String,
    pub size: (u16, u16),
    pub tick: u64,
    pub quit: bool,
}

/// Distributions offered by the editor, in cycling order.
const DISTS: [&str; 7] = [
    "normal",
    "uniform",
    "laplace",
    "student_t",
    "lognormal",
    "bimodal",
    "constant",
];
const COUNTS: [usize; 7] = [0, 1, 2, 4, 8, 16, 32];
const FACTORS: [f64; 8] = [2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 1000.0];
const MAX_DIM: usize = 8192;

fn step_in<T: PartialEq + Copy>(list: &[T], current: T, dir: i32) -> T {
    let i = list.iter().position(|&v| v == current).unwrap_or(0) as i32;
    list[(i + dir).clamp(0, list.len() as i32 - 1) as usize]
}

fn cycle<T: PartialEq + Copy>(list: &[T], current: T, dir: i32) -> T {
    let n = list.len() as i32;
    let i = list.iter().position(|&v| v == current).unwrap_or(0) as i32;
    list[((i + dir) % n + n) as usize % list.len()]
}

/// A distribution's "size" parameter, kept when cycling to another distribution.
fn magnitude(d: &Distribution) -> f64 {
    match *d {
        Distribution::Normal { std, .. } => std,
        Distribution::Uniform { high, .. } => high,
        Distribution::Laplace { scale, .. } | Distribution::StudentT { scale, .. } => scale,
        Distribution::LogNormal { mu, .. } => mu.exp(),
        Distribution::Bimodal { means, .. } => means[1].abs(),
        Distribution::Constant { value } => value.abs(),
    }
}

fn with_magnitude(name: &str, s: f64) -> Distribution {
    let s = if s > 0.0 && s.is_finite() { s } else { 1.0 };
    match name {
        "uniform" => Distribution::Uniform { low: -s, high: s },
        "laplace" => Distribution::Laplace {
            mean: 0.0,
            scale: s,
        },
        "student_t" => Distribution::StudentT { nu: 3.0, scale: s },
        "lognormal" => Distribution::LogNormal {
            mu: s.ln(),
            sigma: 1.0,
            sign: Sign::Random,
        },
        "bimodal" => Distribution::Bimodal {
            means: [-s, s],
            std: s / 8.0,
            weight: 0.5,
        },
        "constant" => Distribution::Constant { value: s },
        _ => Distribution::Normal { mean: 0.0, std: s },
    }
}

impl App {
    pub fn new(scenario: Scenario) -> Self {
        let hidden = vec![false; scenario.variants.len()];
        App {
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
            operand: Operand::W,
            block: (0, 0),
            log_bins: false,
            walk_mode: Mode::Document,
            scroll: 0,
            open_items: Vec::new(),
            open_cursor: 0,
            open_input: String::new(),
            size: (0, 0),
            tick: 0,
            quit: false,
        }
    }

    /// The keymap context the current overlay puts keys in.
    pub fn context(&self) -> Context {
        match self.overlay {
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

    /// The parameters the editor lists: data first, then the current variant's.
    pub fn params(&self) -> Vec<Param> {
        let mut p = Vec::new();
        for t in [Target::W, Target::X] {
            p.extend([
                Param::Dist(t),
                Param::Spread(t),
                Param::Sparsity(t),
                Param::OutlierCount(t),
                Param::OutlierFactor(t),
            ]);
        }
        p.extend([Param::M, Param::K, Param::N, Param::Seed]);
        if let Some(v) = self.scenario.variants.get(self.variant) {
            for k in v.family.knobs().iter().filter(|k| !k.steps.is_empty()) {
                match k.scope {
                    Scope::PerOperand => p.extend([
                        Param::Knob(k.key, Some(Role::W)),
                        Param::Knob(k.key, Some(Role::X)),
                    ]),
                    Scope::Shared | Scope::Gemm => p.push(Param::Knob(k.key, None)),
                }
            }
        }
        p.push(Param::Shown);
        p
    }

    fn operand_mut(&mut self, t: Target) -> &mut OperandSpec {
        match t {
            Target::W => &mut self.scenario.w,
            Target::X => &mut self.scenario.x,
        }
    }

    /// Changes a parameter by one step; returns whether the scenario changed.
    fn adjust(&mut self, param: Param, dir: i32) -> bool {
        let up = dir > 0;
        let scale = |v: f64| if up { v * 2.0 } else { v / 2.0 };
        match param {
            Param::Dist(t) => {
                let op = self.operand_mut(t);
                let (name, mag) = match &op.source {
                    Source::Random(d) => (d.name(), magnitude(d)),
                    _ => ("normal", 1.0),
                };
                op.source = Source::Random(with_magnitude(cycle(&DISTS, name, dir), mag));
                op.view = Default::default();
            }
            Param::Spread(t) => {
                let Source::Random(d) = &mut self.operand_mut(t).source else {
                    return false;
                };
                match d {
                    Distribution::Normal { std: v, .. }
                    | Distribution::Laplace { scale: v, .. }
                    | Distribution::Bimodal { std: v, .. } => *v = scale(*v),
                    Distribution::Uniform { low, high } => {
                        *high = scale(*high);
                        *low = -*high;
                    }
                    Distribution::StudentT { nu, .. } => {
                        *nu = step_in(&[1.0, 2.0, 3.0, 4.0, 5.0, 8.0, 16.0, 30.0], *nu, dir);
                    }
                    Distribution::LogNormal { sigma, .. } => {
                        *sigma = (*sigma + if up { 0.25 } else { -0.25 }).clamp(0.25, 4.0);
                    }
                    Distribution::Constant { value } => *value = scale(*value),
                }
            }
            Param::Sparsity(t) => {
                let m = &mut self.operand_mut(t).modifiers;
                m.sparsity = ((m.sparsity * 10.0).round() + f64::from(dir)).clamp(0.0, 9.0) / 10.0;
            }
            Param::OutlierCount(t) => {
                let m = &mut self.operand_mut(t).modifiers;
                let current = m.outlier_channels.as_ref().map_or(0, |c| c.count);
                let factor = m.outlier_channels.as_ref().map_or(50.0, |c| c.factor);
                let axis = m
                    .outlier_channels
                    .as_ref()
                    .map_or(ChannelAxis::K, |c| c.axis);
                let count = step_in(&COUNTS, current, dir);
                m.outlier_channels = (count > 0).then_some(ChannelOutliers {
                    count,
                    factor,
                    axis,
                });
            }
            Param::OutlierFactor(t) => {
                let m = &mut self.operand_mut(t).modifiers;
                let Some(c) = m.outlier_channels.as_mut() else {
                    return false;
                };
                c.factor = step_in(&FACTORS, c.factor, dir);
            }
            Param::M | Param::K | Param::N => {
                if !matches!(self.scenario.w.source, Source::Random(_))
                    || !matches!(self.scenario.x.source, Source::Random(_))
                {
                    self.status =
                        Some("shapes come from the data files; change a distribution first".into());
                    return false;
                }
                let s = &mut self.scenario;
                let (slot, default) = match param {
                    Param::M => (&mut s.m, crate::core::scenario::DEFAULT_M),
                    Param::K => (&mut s.k, crate::core::scenario::DEFAULT_K),
                    _ => (&mut s.n, crate::core::scenario::DEFAULT_N),
                };
                let v = slot.unwrap_or(default);
                *slot = Some(if up {
                    (v * 2).min(MAX_DIM)
                } else {
                    (v / 2).max(1)
                });
            }
            Param::Seed => {
                // Within 63 bits, so the seed can be written into a scenario file.
                let s = &mut self.scenario.seed;
                *s = if up {
                    (*s + 1).min(i64::MAX as u64)
                } else {
                    s.saturating_sub(1)
                };
            }
            Param::Shown => {
                if let Some(h) = self.hidden.get_mut(self.variant) {
                    *h = !*h;
                }
                return false;
            }
            _ => return self.adjust_variant(param, dir),
        }
        true
    }

    fn adjust_variant(&mut self, param: Param, dir: i32) -> bool {
        let Param::Knob(key, role) = param else {
            return false;
        };
        let seed = self.scenario.seed;
        let Some(v) = self.scenario.variants.get_mut(self.variant) else {
            return false;
        };
        let Some(knob) = v.family.knobs().iter().find(|k| k.key == key) else {
            return false;
        };
        let role = role.unwrap_or(Role::W);
        // A value the editor does not list (a block size of 48 from a file) steps from the
        // default.
        let current = v.value(knob, role);
        let from = if knob.steps.contains(&current) {
            current
        } else {
            knob.default(role)
        };
        let next = cycle(knob.steps, from, dir).to_string();
        v.set(knob, role, next.clone());
        // A seed that only means something with this value (stochastic rounding's) takes the
        // scenario's seed.
        for dep in v.family.knobs() {
            if dep.kind == Kind::Seed && dep.requires == Some((knob.key, next.as_str())) {
                v.set(dep, role, seed.to_string());
            }
        }
        // The label follows the settings, kept unique among the variants.
        let base = v.default_label();
        let mut label = base.clone();
        let mut i = 2;
        while self
            .scenario
            .variants
            .iter()
            .enumerate()
            .any(|(j, o)| j != self.variant && o.label == label)
        {
            label = format!("{base} #{i}");
            i += 1;
        }
        self.scenario.variants[self.variant].label = label;
        true
    }

    /// Current value of a parameter, as the editor shows it.
    pub fn param_value(&self, p: Param) -> String {
        let s = &self.scenario;
        let op = |t: Target| match t {
            Target::W => &s.w,
            Target::X => &s.x,
        };
        let variant = s.variants.get(self.variant);
        match p {
            Param::Dist(t) => match &op(t).source {
                Source::Random(d) => d.name().to_string(),
                other => format!(
                    "{} (data)",
                    if matches!(other, Source::File { .. }) {
                        "file"
                    } else {
                        "values"
                    }
                ),
            },
            Param::Spread(t) => match &op(t).source {
                Source::Random(d) => d.describe(),
                _ => "—".into(),
            },
            Param::Sparsity(t) => format!("{:.0}% zeros", op(t).modifiers.sparsity * 100.0),
            Param::OutlierCount(t) => op(t)
                .modifiers
                .outlier_channels
                .as_ref()
                .map_or("none".into(), |c| format!("{} channels", c.count)),
            Param::OutlierFactor(t) => op(t)
                .modifiers
                .outlier_channels
                .as_ref()
                .map_or("—".into(), |c| format!("×{}", c.factor)),
            Param::M | Param::K | Param::N => {
                let shape = self.computed.as_ref().map(|c| {
                    (
                        c.report.scenario.m,
                        c.report.scenario.k,
                        c.report.scenario.n,
                    )
                });
                let (v, i) = match p {
                    Param::M => (s.m, 0),
                    Param::K => (s.k, 1),
                    _ => (s.n, 2),
                };
                v.or(shape.map(|t| [t.0, t.1, t.2][i]))
                    .map_or("—".into(), |v| v.to_string())
            }
            Param::Seed => s.seed.to_string(),
            Param::Shown => if self.hidden.get(self.variant).copied().unwrap_or(false) {
                "hidden"
            } else {
                "shown"
            }
            .into(),
            Param::Knob(key, role) => variant
                .and_then(|v| {
                    let k = v.family.knobs().iter().find(|k| k.key == key)?;
                    Some(v.value(k, role.unwrap_or(Role::W)).to_string())
                })
                .unwrap_or_default(),
        }
    }

    /// Name of a parameter in the editor.
    pub fn param_name(p: Param) -> String {
        match p {
            Param::Dist(t) => format!("{} distribution", t.name()),
            Param::Spread(t) => format!("{} parameters", t.name()),
            Param::Sparsity(t) => format!("{} sparsity", t.name()),
            Param::OutlierCount(t) => format!("{} outlier channels", t.name()),
            Param::OutlierFactor(t) => format!("{} outlier factor", t.name()),
            Param::M => "M (rows of W)".into(),
            Param::K => "K (reduction)".into(),
            Param::N => "N (columns of x)".into(),
            Param::Seed => "seed".into(),
            Param::Knob(key, role) => {
                let noun = knob_noun(key);
                match role {
                    Some(Role::W) => format!("W {noun}"),
                    Some(Role::X) => format!("x {noun}"),
                    None => noun.to_string(),
                }
            }
            Param::Shown => "variant shown".into(),
        }
    }

    fn variants_len(&self) -> usize {
        self.scenario.variants.len()
    }

    /// Rows and blocks per row of the operand the scale screen shows, if its format has
    /// block scales.
    pub fn block_grid(&self) -> Option<(usize, usize)> {
        let c = self.computed.as_ref()?;
        let v = c.run.variants.get(self.variant)?;
        let q = match self.operand {
            Operand::W => &v.qw,
            Operand::X => &v.qx,
        };
        let b = q.blocks()?;
        Some((b.rows(), b.blocks_per_row()))
    }

    fn move_cursor(&mut self, dr: i64, dc: i64) {
        match self.screen {
            Screen::Scales => {
                if let Some((rows, cols)) = self.block_grid() {
                    let r = (self.block.0 as i64 + dr).clamp(0, rows as i64 - 1);
                    let c = (self.block.1 as i64 + dc).clamp(0, cols as i64 - 1);
                    self.block = (r as usize, c as usize);
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
            Action::Close => self.overlay = Overlay::None,
            Action::ShowScreen(i) => {
                if let Some(&s) = Screen::ALL.get(i) {
                    self.screen = s;
                    self.scroll = 0;
                }
            }
            Action::NextScreen => {
                self.screen = Screen::ALL[(self.screen.index() + 1) % Screen::ALL.len()];
                self.scroll = 0;
            }
            Action::PrevScreen => {
                self.screen =
                    Screen::ALL[(self.screen.index() + Screen::ALL.len() - 1) % Screen::ALL.len()];
                self.scroll = 0;
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
                self.open_cursor = 0;
                return Some(Command::List);
            }
            Action::Listed(items) => {
                self.open_items = items;
                self.open_cursor = self.open_cursor.min(self.open_items.len());
            }
            Action::Export => {
                if self.computed.is_some() {
                    return Some(Command::Export);
                }
                self.status = Some("nothing to export yet".into());
            }
            Action::Reroll => {
                // 63 bits, so the seed can be written into a scenario file.
                self.scenario.seed = splitmix64(self.scenario.seed) >> 1;
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
                    self.block = (0, 0);
                    self.param = self.param.min(self.params().len() - 1);
                }
            }
            Action::ToggleHidden => {
                if let Some(h) = self.hidden.get_mut(self.variant) {
                    *h = !*h;
                }
            }
            Action::ToggleOperand => {
                self.operand = match self.operand {
                    Operand::W => Operand::X,
                    Operand::X => Operand::W,
                };
                self.block = (0, 0);
            }
            Action::ToggleLogBins => self.log_bins = !self.log_bins,
            Action::ToggleWalkMode => {
                self.walk_mode = match self.walk_mode {
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
                        let n = self.params().len();
                        if dr != 0 {
                            self.param = (self.param as i64 + dr).clamp(0, n as i64 - 1) as usize;
                        } else if self.adjust(self.params()[self.param], dc as i32) {
                            return Some(self.recompute());
                        }
                    }
                    Overlay::Open => {
                        let n = self.open_items.len() + 1;
                        self.open_cursor =
                            (self.open_cursor as i64 + dr).clamp(0, n as i64 - 1) as usize;
                    }
                    _ => self.move_cursor(dr, dc),
                }
            }
            Action::PageUp => self.move_cursor(-16, 0),
            Action::PageDown => self.move_cursor(16, 0),
            Action::Confirm => {
                if self.overlay == Overlay::Open {
                    let path = match self.open_items.get(self.open_cursor) {
                        Some(p) => p.clone(),
                        None if !self.open_input.trim().is_empty() => {
                            PathBuf::from(self.open_input.trim())
                        }
                        None => return None,
                    };
                    self.overlay = Overlay::None;
                    return Some(Command::Load(path));
                }
            }
            Action::Type(c) => {
                if self.overlay == Overlay::Open {
                    self.open_cursor = self.open_items.len();
                    self.open_input.push(c);
                }
            }
            Action::Backspace => {
                self.open_input.pop();
            }
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
                            self.block = (self.block.0.min(rows - 1), self.block.1.min(cols - 1));
                        }
                    }
                    Err(e) => self.error = Some(e),
                }
            }
            Action::Loaded(result) => match *result {
                Ok(s) => {
                    self.hidden = vec![false; s.variants.len()];
                    self.scenario = s;
                    self.variant = 0;
                    self.block = (0, 0);
                    self.param = self.param.min(self.params().len() - 1);
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

/// The prose name of a knob key (`block_size` → `block size`), from the registry.
fn knob_noun(key: &str) -> &'static str {
    family::REGISTRY
        .iter()
        .flat_map(|f| f.knobs())
        .find(|k| k.key == key)
        .map_or("setting", |k: &Knob| k.noun)
}

/// The scenario files under `./scenarios`, sorted (run on the I/O thread).
pub fn scenario_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("scenarios")
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
