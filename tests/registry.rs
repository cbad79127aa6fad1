//! Tests that loop over the format registry, so that every family (today's and every one
//! added later) gets them for free: every knob value parses, runs and labels; the command line
//! takes every option a family declares and refuses the others; every sweepable knob is an
//! axis; the explorer shows every family on every screen and edits every knob.

mod common;
use common::*;

use std::path::{Path, PathBuf};

use qlab::data::distribution::Role;
use qlab::family::{self, Kind, Knob, REGISTRY, Scope, Variant};
use qlab::scenario::Scenario;

/// The values a test tries for a knob: its editor steps, or a few of its kind.
fn values(k: &Knob) -> Vec<String> {
    match k.kind {
        Kind::Choice(c) => c.iter().map(ToString::to_string).collect(),
        Kind::BlockSize => ["1", "7", "32", "tensor"].map(String::from).to_vec(),
        Kind::Seed => ["0", "18446744073709551615"].map(String::from).to_vec(),
        Kind::Bool => ["true", "false"].map(String::from).to_vec(),
        Kind::Count => ["1", "7", "128"].map(String::from).to_vec(),
    }
}

/// A TOML value for a knob's value.
fn toml_value(k: &Knob, v: &str) -> String {
    match (k.kind, v.parse::<i64>()) {
        (Kind::BlockSize | Kind::Seed | Kind::Count, Ok(n)) => n.to_string(),
        (Kind::Bool, _) => v.to_string(),
        _ => format!("\"{v}\""),
    }
}

/// The keys, values and any key another knob requires, for one knob set to `v`.
fn variant_keys(f: &dyn family::Family, k: &Knob, v: &str) -> Vec<String> {
    let mut lines: Vec<String> = k
        .file_keys()
        .iter()
        .map(|key| format!("{key} = {}", toml_value(k, v)))
        .collect();
    if let Some((other, needed)) = k.requires {
        let o = f.knobs().iter().find(|o| o.key == other).unwrap();
        lines.extend(
            o.file_keys()
                .iter()
                .map(|key| format!("{key} = \"{needed}\"")),
        );
    }
    lines
}

#[test]
fn every_value_of_every_knob_parses_runs_and_labels() {
    for &f in REGISTRY {
        for k in f.knobs() {
            for v in values(k) {
                // Seeds beyond i64 cannot be written in TOML.
                if k.kind == Kind::Seed && v.parse::<i64>().is_err() {
                    continue;
                }
                let text = format!(
                    "m = 3\nk = 40\nn = 2\n[[variants]]\nformat = \"{}\"\n{}\n",
                    f.name(),
                    variant_keys(f, k, &v).join("\n")
                );
                let s = Scenario::from_toml(&text, Path::new("s.toml"), PathBuf::new())
                    .unwrap_or_else(|e| panic!("{} {}={v}: {e}", f.name(), k.key));
                let var = &s.variants[0];
                assert_eq!(var.w_format.name(), f.name());
                for role in [Role::W, Role::X] {
                    assert_eq!(var.value(k, role), v, "{} {} {role:?}", f.name(), k.key);
                }
                assert!(var.label.starts_with(f.name()), "label {}", var.label);
                let r = qlab::experiment::run(&s)
                    .unwrap_or_else(|e| panic!("{} {}={v}: {e}", f.name(), k.key));
                assert_eq!(r.variants[0].format, f.name());
            }
        }
    }
}

#[test]
fn defaults_give_the_default_label_and_distinct_families_distinct_labels() {
    let labels: Vec<String> = REGISTRY
        .iter()
        .map(|&f| Variant::defaults(f).label)
        .collect();
    for (f, l) in REGISTRY.iter().zip(&labels) {
        assert!(l.starts_with(f.name()), "{l}");
    }
    let mut sorted = labels.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), labels.len(), "{labels:?}");
}

#[test]
fn the_command_line_takes_every_option_a_family_has_and_refuses_the_others() {
    let d = Dir::new();
    let w: Vec<f32> = (0..3 * 40).map(|i| (i as f32 * 0.37).sin()).collect();
    let x: Vec<f32> = (0..40 * 2).map(|i| (i as f32 * 0.11).cos()).collect();
    let wp = d.f32("w.npy", &[3, 40], &w);
    let xp = d.f32("x.npy", &[40, 2], &x);
    let all: Vec<&Knob> = REGISTRY.iter().flat_map(|f| f.knobs()).collect();
    for &f in REGISTRY {
        let out = d.path("o.npy");
        let base = |cmd: &str| {
            let mut c = qlab();
            c.arg(cmd);
            if cmd == "quantize" {
                c.arg(&wp);
            } else {
                c.arg(&wp).arg(&xp);
            }
            c.args(["--format", f.name(), "--out"]).arg(&out);
            c
        };
        base("quantize").assert().success();
        base("matmul").assert().success();
        for k in f.knobs() {
            let v = values(k).remove(0);
            for cmd in ["quantize", "matmul"] {
                if cmd == "quantize" && k.scope == Scope::Gemm {
                    continue;
                }
                let mut c = base(cmd);
                let keys = if cmd == "matmul" {
                    k.file_keys()
                } else {
                    vec![k.key.to_string()]
                };
                for key in &keys {
                    c.arg(Knob::option(key)).arg(&v);
                }
                if let Some((other, needed)) = k.requires {
                    let o = f.knobs().iter().find(|o| o.key == other).unwrap();
                    let keys = if cmd == "matmul" {
                        o.file_keys()
                    } else {
                        vec![o.key.to_string()]
                    };
                    for key in keys {
                        c.arg(Knob::option(&key)).arg(needed);
                    }
                }
                let o = c.output().unwrap();
                assert!(
                    o.status.success(),
                    "{cmd} {} {keys:?}: {}",
                    f.name(),
                    stderr(&o)
                );
            }
        }
        // An option only other families have is refused by name.
        if let Some(k) = all
            .iter()
            .find(|k| k.scope == Scope::Shared && !f.knobs().iter().any(|o| o.key == k.key))
        {
            let v = values(k).remove(0);
            let o = base("quantize")
                .arg(Knob::option(k.key))
                .arg(&v)
                .output()
                .unwrap();
            assert_eq!(
                stderr(&o),
                format!(
                    "qlab: error: {} does not apply to --format {}\n",
                    Knob::option(k.key),
                    f.name()
                )
            );
        }
    }
}

#[test]
fn every_sweepable_knob_is_an_axis_that_runs() {
    let d = Dir::new();
    let axes = qlab::sweep::spec::valid_axes();
    for &f in REGISTRY {
        for k in f.knobs() {
            for key in k.file_keys() {
                let axis = format!("variant.{key}");
                assert_eq!(axes.contains(&axis), k.axis, "{axis}");
                if !k.axis {
                    continue;
                }
                let vals: Vec<String> = values(k).iter().map(|v| toml_value(k, v)).collect();
                // A knob that needs another's value gets it in the base variant.
                let needs: String = k
                    .requires
                    .map(|(other, needed)| {
                        let o = f.knobs().iter().find(|o| o.key == other).unwrap();
                        o.file_keys()
                            .iter()
                            .map(|key| format!("{key} = \"{needed}\"\n"))
                            .collect()
                    })
                    .unwrap_or_default();
                let spec = d.write(
                    &format!("{}-{key}.sweep.toml", f.name()),
                    format!(
                        "[scenario]\nm = 3\nk = 40\nn = 2\n[[scenario.variants]]\nformat = \
                         \"{}\"\n{needs}[[axis]]\nname = \"{axis}\"\nvalues = [{}]\n",
                        f.name(),
                        vals.join(", ")
                    ),
                );
                let out = d.path(&format!("{}-{key}.csv", f.name()));
                let o = qlab()
                    .arg("sweep")
                    .arg(&spec)
                    .arg("--out")
                    .arg(&out)
                    .arg("--quiet")
                    .output()
                    .unwrap();
                assert!(o.status.success(), "{axis}: {}", stderr(&o));
                let rows = std::fs::read_to_string(&out).unwrap().lines().count();
                assert_eq!(rows, 1 + vals.len(), "{axis}");
            }
        }
    }
}

#[test]
fn the_explorer_shows_every_family_on_every_screen_and_edits_every_knob() {
    use qlab::tui::app::{Action, App, Param};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    for &f in REGISTRY {
        let text = format!(
            "m = 8\nk = 64\nn = 4\n[[variants]]\nformat = \"{}\"\n",
            f.name()
        );
        let s = Scenario::from_toml(&text, Path::new("s.toml"), PathBuf::new()).unwrap();
        let mut app = App::new(s);
        app.update(Action::Resize(100, 32));
        let qlab::tui::app::Command::Compute(job) = app.start() else {
            panic!("the first command computes");
        };
        let done = qlab::tui::compute(&job);
        app.update(Action::Finished(Box::new(done)));
        assert!(app.error.is_none(), "{}: {:?}", f.name(), app.error);
        for i in 0..5 {
            app.update(Action::ShowScreen(i));
            let mut term = Terminal::new(TestBackend::new(100, 32)).unwrap();
            term.draw(|fr| qlab::tui::render::draw(fr, &app)).unwrap();
        }
        // The editor lists every knob with editor steps, and stepping each changes it.
        let params = app.params();
        for k in f.knobs().iter().filter(|k| !k.steps.is_empty()) {
            let roles: Vec<Option<Role>> = match k.scope {
                Scope::PerOperand => vec![Some(Role::W), Some(Role::X)],
                _ => vec![None],
            };
            for role in roles {
                let p = Param::Knob(k.key, role);
                assert!(params.contains(&p), "{} {:?}", f.name(), p);
                let before = app.param_value(p);
                app.update(Action::OpenParams);
                while app.params()[app.param] != p {
                    app.update(Action::Down);
                }
                app.update(Action::Right);
                app.update(Action::Close);
                assert_ne!(app.param_value(p), before, "{} {:?}", f.name(), p);
            }
        }
    }
}
