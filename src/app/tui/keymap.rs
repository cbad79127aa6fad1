//! The one keymap: key → action per context. The footer hints and the `?` help are generated
//! from this table, so they cannot drift from what the keys do.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{Action, Screen};

/// Where a binding applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// The main screens, with no overlay open.
    Main,
    /// The parameter editor.
    Params,
    /// The scenario picker.
    Open,
    /// The help overlay.
    Help,
    /// The model screen's filter, being typed.
    Filter,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Main => "Everywhere",
            Context::Params => "Parameter editor",
            Context::Open => "Open a scenario",
            Context::Help => "Help",
            Context::Filter => "Model filter",
        }
    }
}

/// A key pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Code(KeyCode),
    /// The character with Control held (Ctrl-U).
    Ctrl(char),
    /// Any of '1'..='5'.
    Digit,
}

pub struct Binding {
    pub context: Context,
    /// The one screen it applies on (its keys mean something there only); `None` for every
    /// screen. The footer shows a screen's own keys beside the ones that apply everywhere.
    pub screen: Option<Screen>,
    pub keys: &'static [Key],
    /// How the keys are written in hints and help.
    pub label: &'static str,
    pub help: &'static str,
    /// Its short form for the footer; empty when it stays out of the footer.
    pub hint: &'static str,
    pub action: fn(KeyEvent) -> Action,
}

use Key::{Char, Code};

fn digit(k: KeyEvent) -> Action {
    match k.code {
        KeyCode::Char(c) => Action::ShowScreen(c.to_digit(10).unwrap_or(1) as usize - 1),
        _ => Action::None,
    }
}

pub const BINDINGS: &[Binding] = &[
    Binding {
        context: Context::Main,
        screen: None,
        keys: &[Key::Digit],
        label: "1-5",
        help: "show a screen",
        hint: "",
        action: digit,
    },
    Binding {
        context: Context::Main,
        screen: None,
        keys: &[Code(KeyCode::Tab)],
        label: "Tab",
        help: "next screen",
        hint: "screens",
        action: |_| Action::NextScreen,
    },
    Binding {
        context: Context::Main,
        screen: None,
        keys: &[Code(KeyCode::BackTab)],
        label: "S-Tab",
        help: "previous screen",
        hint: "",
        action: |_| Action::PrevScreen,
    },
    Binding {
        context: Context::Main,
        screen: None,
        keys: &[Char('['), Char(']')],
        label: "[ ]",
        help: "previous / next variant",
        hint: "variant",
        action: |k| {
            if k.code == KeyCode::Char('[') {
                Action::PrevVariant
            } else {
                Action::NextVariant
            }
        },
    },
    Binding {
        context: Context::Main,
        screen: None,
        keys: &[Char('p')],
        label: "p",
        help: "edit data, shapes, formats",
        hint: "params",
        action: |_| Action::OpenParams,
    },
    Binding {
        context: Context::Main,
        screen: None,
        keys: &[Char('r')],
        label: "r",
        help: "reroll the seed",
        hint: "reroll",
        action: |_| Action::Reroll,
    },
    Binding {
        context: Context::Main,
        screen: None,
        keys: &[Char('o')],
        label: "o",
        help: "open a scenario or a path",
        hint: "open",
        action: |_| Action::OpenScenario,
    },
    Binding {
        context: Context::Main,
        screen: None,
        keys: &[Char('e')],
        label: "e",
        help: "export CSV rows, histograms",
        hint: "export",
        action: |_| Action::Export,
    },
    Binding {
        context: Context::Main,
        screen: None,
        keys: &[Char('h')],
        label: "h",
        help: "hide / show this variant",
        hint: "",
        action: |_| Action::ToggleHidden,
    },
    Binding {
        context: Context::Main,
        screen: Some(Screen::Scales),
        keys: &[Char('t')],
        label: "t",
        help: "switch W / x",
        hint: "W/x",
        action: |_| Action::ToggleOperand,
    },
    Binding {
        context: Context::Main,
        screen: Some(Screen::Errors),
        keys: &[Char('l')],
        label: "l",
        help: "linear / log bins",
        hint: "bins",
        action: |_| Action::ToggleLogBins,
    },
    Binding {
        context: Context::Main,
        screen: Some(Screen::Walkthrough),
        keys: &[Char('m')],
        label: "m",
        help: "document / spec",
        hint: "mode",
        action: |_| Action::ToggleWalkMode,
    },
    Binding {
        context: Context::Main,
        screen: None,
        keys: &[
            Code(KeyCode::Up),
            Code(KeyCode::Down),
            Code(KeyCode::Left),
            Code(KeyCode::Right),
        ],
        label: "←↑↓→",
        help: "move: select a block, scroll",
        hint: "",
        action: arrow,
    },
    Binding {
        context: Context::Main,
        screen: None,
        keys: &[Code(KeyCode::PageUp), Code(KeyCode::PageDown)],
        label: "PgUp/PgDn",
        help: "scroll a page",
        hint: "",
        action: |k| {
            if k.code == KeyCode::PageUp {
                Action::PageUp
            } else {
                Action::PageDown
            }
        },
    },
    Binding {
        context: Context::Main,
        screen: None,
        keys: &[Char('?')],
        label: "?",
        help: "help",
        hint: "help",
        action: |_| Action::ToggleHelp,
    },
    Binding {
        context: Context::Main,
        screen: None,
        keys: &[Char('q'), Code(KeyCode::Esc)],
        label: "q/Esc",
        help: "quit",
        hint: "quit",
        action: |_| Action::Quit,
    },
    Binding {
        context: Context::Params,
        screen: None,
        keys: &[Code(KeyCode::Up), Code(KeyCode::Down)],
        label: "↑↓",
        help: "choose a parameter",
        hint: "choose",
        action: arrow,
    },
    Binding {
        context: Context::Params,
        screen: None,
        keys: &[Code(KeyCode::Left), Code(KeyCode::Right)],
        label: "←→",
        help: "change it (recomputes)",
        hint: "change",
        action: arrow,
    },
    Binding {
        context: Context::Params,
        screen: None,
        keys: &[Char('r')],
        label: "r",
        help: "reroll the seed",
        hint: "reroll",
        action: |_| Action::Reroll,
    },
    Binding {
        context: Context::Params,
        screen: None,
        keys: &[Char('['), Char(']')],
        label: "[ ]",
        help: "previous / next variant",
        hint: "variant",
        action: |k| {
            if k.code == KeyCode::Char('[') {
                Action::PrevVariant
            } else {
                Action::NextVariant
            }
        },
    },
    Binding {
        context: Context::Params,
        screen: None,
        keys: &[Code(KeyCode::Enter)],
        label: "Enter",
        help: "type a number",
        hint: "type",
        action: |_| Action::Confirm,
    },
    Binding {
        context: Context::Params,
        screen: None,
        keys: &[Code(KeyCode::Backspace)],
        label: "Bksp",
        help: "edit the number",
        hint: "",
        action: |_| Action::Backspace,
    },
    Binding {
        context: Context::Params,
        screen: None,
        keys: &[Char('p'), Code(KeyCode::Esc)],
        label: "p/Esc",
        help: "close the editor",
        hint: "close",
        action: |_| Action::Close,
    },
    Binding {
        context: Context::Main,
        screen: Some(Screen::Model),
        keys: &[Code(KeyCode::Enter)],
        label: "Enter",
        help: "open the tensor as W",
        hint: "open as W",
        action: |_| Action::Confirm,
    },
    Binding {
        context: Context::Main,
        screen: Some(Screen::Model),
        keys: &[Char('s')],
        label: "s",
        help: "sort: by name or worst first",
        hint: "sort",
        action: |_| Action::ToggleSort,
    },
    Binding {
        context: Context::Main,
        screen: Some(Screen::Model),
        keys: &[Char('/')],
        label: "/",
        help: "filter by name (text, * or ?)",
        hint: "filter",
        action: |_| Action::StartFilter,
    },
    Binding {
        context: Context::Filter,
        screen: None,
        keys: &[Code(KeyCode::Enter)],
        label: "Enter",
        help: "keep the filter",
        hint: "keep",
        action: |_| Action::Confirm,
    },
    Binding {
        context: Context::Filter,
        screen: None,
        keys: &[Code(KeyCode::Backspace)],
        label: "Bksp",
        help: "edit the filter",
        hint: "",
        action: |_| Action::Backspace,
    },
    Binding {
        context: Context::Filter,
        screen: None,
        keys: &[Code(KeyCode::Esc)],
        label: "Esc",
        help: "clear the filter",
        hint: "clear",
        action: |_| Action::Close,
    },
    Binding {
        context: Context::Open,
        screen: None,
        keys: &[Code(KeyCode::Up), Code(KeyCode::Down)],
        label: "↑↓",
        help: "choose a scenario",
        hint: "choose",
        action: arrow,
    },
    Binding {
        context: Context::Open,
        screen: None,
        keys: &[Code(KeyCode::Enter)],
        label: "Enter",
        help: "open it (or the typed path)",
        hint: "open",
        action: |_| Action::Confirm,
    },
    Binding {
        context: Context::Open,
        screen: None,
        keys: &[Code(KeyCode::Backspace)],
        label: "Bksp",
        help: "edit the typed path",
        hint: "",
        action: |_| Action::Backspace,
    },
    Binding {
        context: Context::Open,
        screen: None,
        keys: &[Key::Ctrl('u')],
        label: "Ctrl-U",
        help: "clear the typed path",
        hint: "",
        action: |_| Action::ClearInput,
    },
    Binding {
        context: Context::Open,
        screen: None,
        keys: &[Key::Ctrl('w')],
        label: "Ctrl-W",
        help: "delete a word of the path",
        hint: "",
        action: |_| Action::DeleteWord,
    },
    Binding {
        context: Context::Open,
        screen: None,
        keys: &[Code(KeyCode::Esc)],
        label: "Esc",
        help: "cancel",
        hint: "cancel",
        action: |_| Action::Close,
    },
    Binding {
        context: Context::Help,
        screen: None,
        keys: &[Char('?'), Code(KeyCode::Esc), Char('q')],
        label: "?/Esc",
        help: "close the help",
        hint: "close",
        action: |_| Action::Close,
    },
];

fn arrow(k: KeyEvent) -> Action {
    match k.code {
        KeyCode::Up => Action::Up,
        KeyCode::Down => Action::Down,
        KeyCode::Left => Action::Left,
        KeyCode::Right => Action::Right,
        _ => Action::None,
    }
}

fn matches(key: Key, ev: KeyEvent) -> bool {
    match key {
        Key::Char(c) => {
            ev.code == KeyCode::Char(c) && !ev.modifiers.contains(KeyModifiers::CONTROL)
        }
        Key::Ctrl(c) => ev.code == KeyCode::Char(c) && ev.modifiers.contains(KeyModifiers::CONTROL),
        Key::Code(code) => ev.code == code,
        Key::Digit => matches!(ev.code, KeyCode::Char('1'..='6')),
    }
}

/// The action for a key in a context. In the scenario picker, unbound printable keys type
/// into the path field.
pub fn action(context: Context, screen: Screen, ev: KeyEvent) -> Action {
    if ev.modifiers.contains(KeyModifiers::CONTROL) && ev.code == KeyCode::Char('c') {
        return Action::Quit;
    }
    let found = BINDINGS
        .iter()
        .filter(|b| b.applies(context, screen))
        .find(|b| b.keys.iter().any(|&k| matches(k, ev)));
    match (found, context, ev.code) {
        (Some(b), _, _) => (b.action)(ev),
        // In the editor, unbound keys type into a number being edited (digits, '.', '-', 'e').
        (None, Context::Open | Context::Filter | Context::Params, KeyCode::Char(c))
            if !ev.modifiers.contains(KeyModifiers::CONTROL) =>
        {
            Action::Type(c)
        }
        _ => Action::None,
    }
}

impl Binding {
    /// Whether the binding applies in `context` on `screen`.
    pub fn applies(&self, context: Context, screen: Screen) -> bool {
        self.context == context && self.screen.is_none_or(|s| s == screen)
    }
}

/// Footer hints for a context on a screen: the screen's own keys first, then the ones that
/// apply everywhere, as `key label` pairs.
pub fn hints(context: Context, screen: Screen) -> Vec<(&'static str, &'static str)> {
    let shown = |b: &&Binding| b.applies(context, screen) && !b.hint.is_empty();
    let own = BINDINGS.iter().filter(shown).filter(|b| b.screen.is_some());
    let everywhere = BINDINGS.iter().filter(shown).filter(|b| b.screen.is_none());
    own.chain(everywhere).map(|b| (b.label, b.hint)).collect()
}
