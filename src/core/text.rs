//! Text that came from a file or a user, made safe to print: control characters shown as
//! escapes (so a name cannot move the cursor, clear the screen or break a line), and long text
//! cut to a length a message can carry. Used by the table, the errors, the SVG and the TUI.

use std::borrow::Cow;

/// How many characters of echoed input an error message shows.
pub const ECHO: usize = 60;

/// Whether `c` must not reach a terminal or an XML file as it is: C0 and C1 controls, DEL,
/// the bidirectional overrides and isolates (which reorder what follows them on screen), and
/// the two noncharacters XML forbids.
fn hostile(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
                | '\u{fffe}'
                | '\u{ffff}'
        )
}

/// `s` with every hostile character written as an escape (`\n`, `\t`, `\r`, `\u{1b}`), so the
/// text stays on one line and means only what it shows. Text with none comes back borrowed.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(hostile) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if hostile(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whole text (a report, a CSV) for a terminal: like [`printable`], but line breaks and
/// tabs stay what they are.
pub fn for_terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| hostile(c) && c != '\n' && c != '\t') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for line in s.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        for part in body.split_inclusive('\t') {
            let (p, tab) = match part.strip_suffix('\t') {
                Some(p) => (p, "\t"),
                None => (part, ""),
            };
            out.push_str(&printable(p));
            out.push_str(tab);
        }
        out.push_str(end);
    }
    Cow::Owned(out)
}

/// `s` cut to at most `max` characters (an ellipsis marks the cut), then made printable.
pub fn cut(s: &str, max: usize) -> String {
    let mut chars = s.char_indices();
    match chars.nth(max) {
        None => printable(s).into_owned(),
        Some((at, _)) => {
            let head = &s[..at];
            let rest = s[at..].chars().count();
            let unit = if rest == 1 { "character" } else { "characters" };
            format!("{}… ({rest} more {unit})", printable(head))
        }
    }
}

/// `s` cut in its middle to at most `max` characters (both ends kept: a path's root and its
/// file name), then made printable.
pub fn cut_middle(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return printable(s).into_owned();
    }
    let head: String = s.chars().take(max / 3).collect();
    let tail: String = s.chars().skip(n - (max - max / 3 - 1)).collect();
    format!("{}…{}", printable(&head), printable(&tail))
}

/// `s` for a narrow place (a table column, a legend): at most `max` characters before its
/// escapes, the last of them an ellipsis when it was cut.
pub fn short(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => printable(s).into_owned(),
        Some(_) => {
            let head: String = s.chars().take(max.saturating_sub(1)).collect();
            format!("{}…", printable(&head))
        }
    }
}

/// `s` made printable and padded to `width` characters, or cut to them keeping its end (an
/// ellipsis first): a layer's name says most at its end.
pub fn fit_end(s: &str, width: usize) -> String {
    let s = printable(s);
    let n = s.chars().count();
    if n <= width {
        format!("{s:<width$}")
    } else {
        let tail: String = s.chars().skip(n - width.saturating_sub(1)).collect();
        format!("…{tail}")
    }
}

/// Echoed input for an error message: cut to [`ECHO`] characters, made printable.
pub fn echo(s: &str) -> String {
    cut(s, ECHO)
}

/// A parser's message with every quoted echo in it (`` `name` `` or `"text"`, as serde and
/// TOML quote what they read) cut to [`ECHO`] characters, so a 500-character key is not
/// repeated whole.
pub fn cut_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(4 * ECHO));
    let mut rest = message;
    while let Some(open) = rest.find(['`', '"']) {
        let quote = rest[open..].chars().next().unwrap_or('"');
        out.push_str(&rest[..open + 1]);
        rest = &rest[open + 1..];
        let Some(close) = rest.find(quote) else {
            break;
        };
        let inner = &rest[..close];
        if inner.chars().count() > ECHO {
            out.push_str(&cut(inner, ECHO));
        } else {
            out.push_str(inner);
        }
        out.push(quote);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// `n` and a noun that agrees with it: "1 configuration", "3 configurations".
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A list of names for a message: at most `max` of them, then how many more there are.
pub fn list<S: AsRef<str>>(names: &[S], max: usize) -> String {
    let shown: Vec<String> = names.iter().take(max).map(|n| echo(n.as_ref())).collect();
    let mut s = shown.join(", ");
    if names.len() > max {
        s.push_str(&format!(" and {} more", names.len() - max));
    }
    s
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely
/// typo (at most a third of the word's length, and at least one edit allowed).
pub fn did_you_mean<'a, S: AsRef<str>>(word: &str, candidates: &'a [S]) -> Option<&'a str> {
    ranked(word, candidates, 3).into_iter().next()
}

/// Up to `max` candidates closest to `word` by edit distance, closest first (ties in the
/// candidates' order), each within half the word's length: the names a typo most likely meant.
pub fn closest<'a, S: AsRef<str>>(word: &str, candidates: &'a [S], max: usize) -> Vec<&'a str> {
    let mut ranked = ranked(word, candidates, 2);
    ranked.truncate(max);
    ranked
}

/// The candidates within `1 / fraction` of `word`'s length in edits (at least one), closest
/// first and ties in the candidates' order.
fn ranked<'a, S: AsRef<str>>(word: &str, candidates: &'a [S], fraction: usize) -> Vec<&'a str> {
    // Long words are not typos of short names; bound the work too.
    if word.chars().count() > 200 {
        return Vec::new();
    }
    let limit = (word.chars().count() / fraction).max(1);
    let mut scored: Vec<(usize, usize, &str)> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| (edit_distance(word, c.as_ref()), i, c.as_ref()))
        .filter(|&(d, _, _)| d <= limit)
        .collect();
    scored.sort_unstable();
    scored.into_iter().map(|(_, _, c)| c).collect()
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(here + 1);
            prev = here;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_count_agrees_with_its_noun() {
        assert_eq!(super::count(0, "row"), "0 rows");
        assert_eq!(super::count(1, "row"), "1 row");
        assert_eq!(super::count(2, "row"), "2 rows");
    }

    use super::*;

    #[test]
    fn the_closest_names_come_first_and_far_ones_not_at_all() {
        let names = [
            "encoder.layer.0.intermediate.dense.weight",
            "encoder.layer.0.output.dense.weight",
            "encoder.layer.1.intermediate.dense.weight",
            "pooler.dense.weight",
        ];
        assert_eq!(
            closest("encoder.layer.0.intermediate.dense.weights", &names, 2),
            [names[0], names[2]]
        );
        assert!(closest("bias", &names, 3).is_empty());
        assert_eq!(closest("x", &["y", "x"], 3), ["x", "y"]);
    }

    #[test]
    fn control_characters_become_escapes() {
        assert_eq!(printable("plain ±6 µ"), "plain ±6 µ");
        assert!(matches!(printable("plain"), Cow::Borrowed(_)));
        assert_eq!(printable("a\nb\tc\rd"), "a\\nb\\tc\\rd");
        assert_eq!(printable("\u{1b}[2J"), "\\u{1b}[2J");
        assert_eq!(printable("\u{7f}\u{85}\u{9b}"), "\\u{7f}\\u{85}\\u{9b}");
        assert_eq!(printable("x\u{202e}y\u{2066}"), "x\\u{202e}y\\u{2066}");
        assert_eq!(printable("\u{0}"), "\\u{0}");
    }

    #[test]
    fn terminal_text_keeps_its_lines() {
        assert_eq!(for_terminal("a\tb\nc\n"), "a\tb\nc\n");
        assert_eq!(for_terminal("a\u{1b}[2J\r\nb"), "a\\u{1b}[2J\\r\nb");
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        assert_eq!(cut("abcdef", 6), "abcdef");
        assert_eq!(cut("abcdefg", 6), "abcdef… (1 more character)");
        assert_eq!(cut("µµµµ", 2), "µµ… (2 more characters)");
        // Escapes are made after the cut, so a cut never splits one.
        assert_eq!(cut("\n\n\n", 2), "\\n\\n… (1 more character)");
    }

    #[test]
    fn middle_cuts_keep_both_ends() {
        assert_eq!(cut_middle("abc", 3), "abc");
        let long = "k".repeat(500);
        let m = cut_quoted(&format!("unknown field `{long}`, expected one of `m`, `k`"));
        assert_eq!(
            m,
            format!(
                "unknown field `{}… (440 more characters)`, expected one of `m`, `k`",
                "k".repeat(60)
            )
        );
        let m = cut_quoted(&format!("invalid type: string \"{long}\", expected usize"));
        assert!(
            m.ends_with("… (440 more characters)\", expected usize"),
            "{m}"
        );
        assert_eq!(cut_quoted("an `odd quote"), "an `odd quote");
        assert_eq!(cut_middle("abcdefghij", 6), "ab…hij");
        assert_eq!(cut_middle("abcdefghij", 6).chars().count(), 6);
    }

    #[test]
    fn short_text_fits_its_place() {
        assert_eq!(short("abc", 3), "abc");
        assert_eq!(short("abcd", 3), "ab…");
        assert_eq!(short("a\u{1b}cd", 3), "a\\u{1b}…");
    }

    #[test]
    fn lists_are_bounded() {
        assert_eq!(list(&["a", "b"], 3), "a, b");
        assert_eq!(list(&["a", "b", "c", "d", "e"], 3), "a, b, c and 2 more");
    }

    #[test]
    fn suggestions_are_close_matches_only() {
        let names = ["encoder.weight", "decoder.weight", "lm_head.bias"];
        assert_eq!(
            did_you_mean("encoder.wieght", &names),
            Some("encoder.weight")
        );
        assert_eq!(did_you_mean("lm_head.bais", &names), Some("lm_head.bias"));
        assert_eq!(did_you_mean("zzz", &names), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
