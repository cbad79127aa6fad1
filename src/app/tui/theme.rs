//! Colours, degraded to plain modifiers when `NO_COLOR` is set (<https://no-color.org>).

use ratatui::style::{Color, Modifier, Style};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Colour unless the `NO_COLOR` environment variable is set to anything non-empty.
    pub fn from_env() -> Self {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub fn title(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn dim(self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    pub fn key(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub fn best(self) -> Style {
        self.fg(Color::Green).add_modifier(Modifier::BOLD)
    }

    pub fn bad(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn warn(self) -> Style {
        self.fg(Color::Yellow)
    }

    pub fn w(self) -> Style {
        self.fg(Color::Blue)
    }

    pub fn x(self) -> Style {
        self.fg(Color::Magenta)
    }

    /// A heat-map cell for level `t` in [0, 1]: a colour ramp, or shade characters without
    /// colour (the character carries the level either way).
    pub fn heat(self, t: f64) -> (char, Style) {
        const SHADES: [char; 5] = ['·', '░', '▒', '▓', '█'];
        let t = t.clamp(0.0, 1.0);
        let ch = SHADES[((t * 4.0).round() as usize).min(4)];
        if !self.color {
            return (ch, Style::new());
        }
        // Blue (small exponents) → red (large exponents).
        let r = (40.0 + 215.0 * t) as u8;
        let b = (255.0 - 215.0 * t) as u8;
        let g = (60.0 + 120.0 * (1.0 - (2.0 * t - 1.0).abs())) as u8;
        (ch, Style::new().fg(Color::Rgb(r, g, b)))
    }
}
