//! The scenarios shipped in `scenarios/`, embedded in the binary: `qlab run gaussian` and the
//! explorer's picker find them from any directory, and after `cargo install`.

use std::path::Path;

/// A shipped scenario: its name (the file's stem) and its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shipped {
    pub name: &'static str,
    pub text: &'static str,
}

macro_rules! shipped {
    ($($name:literal),* $(,)?) => {
        [$(Shipped {
            name: $name,
            text: include_str!(concat!("../../../scenarios/", $name, ".toml")),
        }),*]
    };
}

/// Every file of `scenarios/`, in name order (a test checks the directory holds no other).
pub const SHIPPED: [Shipped; 11] = shipped![
    "bimodal-weights",
    "formats-shootout",
    "gaussian",
    "heavy-tails-student-t",
    "llm-outlier-channels",
    "positive-skewed-lognormal",
    "scale-rules",
    "seed-walkthrough",
    "tiny-magnitudes-e8m0-floor",
    "wide-dynamic-range",
    "zeros-and-constants",
];

/// The shipped scenario called `name` (`gaussian` or `gaussian.toml`).
pub fn by_name(name: &str) -> Option<&'static Shipped> {
    let stem = name.strip_suffix(".toml").unwrap_or(name);
    SHIPPED.iter().find(|s| s.name == stem)
}

/// The shipped scenario a path names, when it is a bare name (no directory) and no such file
/// exists: a file of that name, where there is one, always wins.
pub fn by_path(path: &Path) -> Option<&'static Shipped> {
    let name = path.to_str()?;
    if name.contains(std::path::MAIN_SEPARATOR) || name.contains('/') {
        return None;
    }
    if std::fs::symlink_metadata(path).is_ok() {
        return None;
    }
    by_name(name)
}

/// The first sentence of a lesson (or the whole of a short one): the picker's one line.
pub fn first_sentence(lesson: &str) -> &str {
    for (i, _) in lesson.match_indices(". ") {
        // Not after a single capital or a digit ("e.g. ", "2.5 ", "Fig. "): a sentence ends
        // after a word of two letters or more.
        let before = &lesson[..i];
        let word = before.rsplit(' ').next().unwrap_or(before);
        if word.chars().count() >= 2 && !word.contains('.') {
            return &lesson[..=i];
        }
    }
    lesson
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_scenarios_is_shipped_and_parses() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        files.sort();
        let names: Vec<String> = SHIPPED.iter().map(|s| format!("{}.toml", s.name)).collect();
        assert_eq!(files, names);
        for s in &SHIPPED {
            let parsed = crate::core::scenario::Scenario::from_toml(
                s.text,
                Path::new(s.name),
                Default::default(),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", s.name));
            assert_eq!(
                parsed.name, s.name,
                "a shipped scenario's name is its file's stem"
            );
            assert!(!parsed.lesson.is_empty(), "{} has no lesson", s.name);
        }
    }

    #[test]
    fn names_resolve_with_or_without_the_extension() {
        assert_eq!(by_name("gaussian").unwrap().name, "gaussian");
        assert_eq!(by_name("gaussian.toml").unwrap().name, "gaussian");
        assert!(by_name("gauss").is_none());
        assert!(by_path(Path::new("sub/gaussian")).is_none());
    }

    #[test]
    fn the_first_sentence_ends_at_a_real_full_stop() {
        assert_eq!(first_sentence("One. Two."), "One.");
        assert_eq!(first_sentence("About 2.5 dB. Then"), "About 2.5 dB.");
        assert_eq!(first_sentence("No stop"), "No stop");
        assert_eq!(
            first_sentence("Per-token INT8 (x per channel) helps. More"),
            "Per-token INT8 (x per channel) helps."
        );
    }
}
