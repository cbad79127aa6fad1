//! Hostile inputs: files that lie, huge declared sizes, degenerate shapes, NaN, unwritable
//! outputs, a full disk, kills. Each gets one clear line (or a correct result), never a panic,
//! and nothing already written is lost. The files themselves are in `tests/hostile/`, listed
//! with their commands and exact messages in `tests/hostile/cases.toml`.

mod common;
#[allow(unused_imports)]
use common::*;

use qlab::data::npy::{NpyData, encode};

/// Runs `qlab sweep spec --out out --quiet` (with `--resume` when asked) to success.
fn sweep_to(spec: &std::path::Path, out: &std::path::Path, resume: bool) {
    let mut cmd = qlab();
    cmd.arg("sweep")
        .arg(spec)
        .arg("--out")
        .arg(out)
        .arg("--quiet");
    if resume {
        cmd.arg("--resume");
    }
    cmd.assert().success();
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Corpus {
    case: Vec<Case>,
}

/// One entry of `tests/hostile/cases.toml`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    what: String,
    /// Run from `tests/hostile/`; `{out}` is a fresh temporary directory.
    args: Vec<String>,
    status: i32,
    /// The exact stderr, or (where it holds a machine's figure) how it starts.
    stderr: Option<String>,
    stderr_starts: Option<String>,
    /// A `.npy` written into `{out}`, with its exact values (derived by hand, not by qlab).
    output: Option<Written>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    file: String,
    shape: Vec<usize>,
    values: Vec<f32>,
}

fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile")
}

#[test]
fn every_corpus_case_gets_its_exact_message() {
    let dir = corpus_dir();
    let text = std::fs::read_to_string(dir.join("cases.toml")).unwrap();
    let corpus: Corpus = toml::from_str(&text).unwrap();
    assert!(corpus.case.len() >= 40);
    let mut failures = Vec::new();
    for c in &corpus.case {
        let out = tempfile::tempdir().unwrap();
        let args: Vec<String> = c
            .args
            .iter()
            .map(|a| a.replace("{out}", out.path().to_str().unwrap()))
            .collect();
        let o = qlab().current_dir(&dir).args(&args).output().unwrap();
        let err = stderr(&o);
        let mut wrong = Vec::new();
        if o.status.code() != Some(c.status) {
            wrong.push(format!(
                "status {:?}, expected {}",
                o.status.code(),
                c.status
            ));
        }
        match (&c.stderr, &c.stderr_starts) {
            (Some(exact), None) if err != *exact => wrong.push(format!("stderr {err:?}")),
            (None, Some(start)) if !err.starts_with(start.as_str()) => {
                wrong.push(format!("stderr {err:?}"));
            }
            (Some(_), Some(_)) | (None, None) => wrong.push("give stderr or stderr_starts".into()),
            _ => {}
        }
        if let Some(w) = &c.output {
            match qlab::data::npy::read(&out.path().join(&w.file)) {
                Ok(a)
                    if a.shape == w.shape
                        && a.data.len() == w.values.len()
                        && a.data
                            .iter()
                            .zip(&w.values)
                            .all(|(x, y)| x.to_bits() == y.to_bits()) => {}
                Ok(a) => wrong.push(format!("{} holds {:?} {:?}", w.file, a.shape, a.data)),
                Err(e) => wrong.push(format!("{}: {e}", w.file)),
            }
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{} ({}): {}",
                c.what,
                c.args.join(" "),
                wrong.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every file in the corpus is used: named by a case, by a scenario or sweep file there, or by
/// a test in this file.
#[test]
fn the_corpus_has_no_unused_files() {
    let dir = corpus_dir();
    let mut users = std::fs::read_to_string(file!()).unwrap();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            users.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
        }
    }
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if name != "cases.toml" {
            let named =
                users.contains(&format!("\"{name}\"")) || users.contains(&format!("/{name}\""));
            assert!(named, "{name} is used by no case");
        }
    }
}

#[test]
fn a_file_larger_than_memory_is_refused_before_reading() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("huge.npy");
    // A sparse 40 GiB file: no disk space used, more than this machine's memory.
    std::fs::File::create(&p)
        .unwrap()
        .set_len(40 << 30)
        .unwrap();
    let out = d.path().join("o.npy");
    let o = qlab()
        .args([
            "quantize",
            p.to_str().unwrap(),
            "--format",
            "mxfp4",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.starts_with(&format!(
            "qlab: error: {}: the file is 40.0 GiB, more than half the ",
            p.display()
        )),
        "{e}"
    );
    assert!(!out.exists());
}

#[test]
fn a_header_declaring_a_huge_shape_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let mut bytes = encode(&[2, 2], &NpyData::F32(&[1.0; 4]));
    let at = bytes.windows(6).position(|w| w == b"(2, 2)").unwrap();
    // Same length, so the header stays valid: (9, 9) declares 81 values in a 16-byte payload.
    bytes[at..at + 6].copy_from_slice(b"(9, 9)");
    let p = d.path().join("lie.npy");
    std::fs::write(&p, &bytes).unwrap();
    let o = qlab()
        .args([
            "quantize",
            p.to_str().unwrap(),
            "--format",
            "int8",
            "--out",
            d.path().join("o.npy").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "qlab: error: {}: header declares shape (9, 9) of <f4 (324 bytes of data) but the file holds 16 bytes after the header\n",
            p.display()
        )
    );
}

#[test]
fn degenerate_shapes_work() {
    let d = tempfile::tempdir().unwrap();
    // 1 × 1 and K = 1: quantize and multiply.
    let w = d.path().join("w.npy");
    let x = d.path().join("x.npy");
    std::fs::write(&w, encode(&[1, 1], &NpyData::F32(&[0.7]))).unwrap();
    std::fs::write(&x, encode(&[1], &NpyData::F32(&[-2.0]))).unwrap();
    for format in ["int8", "mxfp4", "f64"] {
        let y = d.path().join(format!("y-{format}.npy"));
        qlab()
            .args([
                "matmul",
                w.to_str().unwrap(),
                x.to_str().unwrap(),
                "--format",
                format,
                "--out",
                y.to_str().unwrap(),
            ])
            .assert()
            .success();
        let got = qlab::data::npy::read(&y).unwrap();
        assert_eq!(got.shape, vec![1]);
        assert!((got.data[0] + 1.4).abs() < 0.2, "{format}: {:?}", got.data);
    }
}

/// Found by the `sweep_csv` fuzzer: a partial sweep file whose x_source field holds a newline
/// inside its quotes. The row is valid CSV, but it is not what this sweep writes, so resume
/// must run that configuration again rather than keep it.
#[test]
fn resume_reruns_a_configuration_whose_rows_were_damaged() {
    use qlab::sweep::{Options, Progress, Shard, Sweep};
    let d = tempfile::tempdir().unwrap();
    let spec_text = "repeat = 3\n[scenario]\nm = 2\nk = 8\nn = 1\n";
    let spec = Sweep::from_toml(spec_text, &d.path().join("s.sweep.toml")).unwrap();
    let opts = |resume| Options {
        threads: Some(1),
        resume,
        shard: Shard::ALL,
        timings: false,
        progress: Progress::Quiet,
        one_at_a_time: false,
    };
    let clean = d.path().join("clean.csv");
    qlab::sweep::run(&spec, &clean, &opts(false)).unwrap();
    let damaged = d.path().join("damaged.csv");
    let input = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/hostile/sweep-resume-newline-in-source.csv"
    );
    std::fs::copy(input, &damaged).unwrap();
    qlab::sweep::run(&spec, &damaged, &opts(true)).unwrap();
    assert_eq!(
        std::fs::read(&damaged).unwrap(),
        std::fs::read(&clean).unwrap()
    );
}

#[test]
fn a_non_utf8_path_works_and_is_named_lossily_in_errors() {
    use std::os::unix::ffi::OsStrExt;
    let d = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"w\xff.npy");
    let p = d.path().join(name);
    std::fs::write(&p, encode(&[2], &NpyData::F32(&[1.0, -2.0]))).unwrap();
    let out = d.path().join(std::ffi::OsStr::from_bytes(b"o\xfe.npy"));
    qlab()
        .arg("quantize")
        .arg(&p)
        .args(["--format", "mxfp4", "--out"])
        .arg(&out)
        .assert()
        .success();
    assert_eq!(qlab::data::npy::read(&out).unwrap().data, vec![1.0, -2.0]);
    // A broken file under such a name: the message shows the name with a replacement character.
    std::fs::write(&p, b"not npy").unwrap();
    let o = qlab()
        .arg("quantize")
        .arg(&p)
        .args(["--format", "int8", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("w\u{fffd}.npy: not a .npy file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn nan_filled_tensors() {
    let d = tempfile::tempdir().unwrap();
    let w = d.path().join("w.npy");
    let x = d.path().join("x.npy");
    std::fs::write(&w, encode(&[2, 40], &NpyData::F32(&[f32::NAN; 80]))).unwrap();
    std::fs::write(&x, encode(&[40], &NpyData::F32(&[1.0; 40]))).unwrap();
    let y = d.path().join("y.npy");
    // MXFP4: every block of W is NaN, so is every output; the summary says so.
    let o = qlab()
        .args([
            "matmul",
            w.to_str().unwrap(),
            x.to_str().unwrap(),
            "--format",
            "mxfp4",
            "--out",
            y.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(
        stderr(&o).contains("NaN blocks (NaN/Inf inputs): 4 of 4 in W, 0 of 2 in x"),
        "{}",
        stderr(&o)
    );
    assert!(
        qlab::data::npy::read(&y)
            .unwrap()
            .data
            .iter()
            .all(|v| v.is_nan())
    );
    // INT8 refuses, naming the first element.
    let o = qlab()
        .args([
            "matmul",
            w.to_str().unwrap(),
            x.to_str().unwrap(),
            "--format",
            "int8",
            "--out",
            y.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        stderr(&o),
        format!(
            "qlab: error: {}: INT8 cannot quantize NaN at index (0, 0); remove NaN/Inf or use an MX format\n",
            w.display()
        )
    );
}

/// A small soak: a sweep killed (SIGKILL) again and again and resumed each time ends byte
/// for byte equal to an uninterrupted run.
#[test]
fn a_sweep_killed_repeatedly_and_resumed_equals_an_uninterrupted_run() {
    use std::time::Duration;
    let d = tempfile::tempdir().unwrap();
    let spec = d.path().join("s.sweep.toml");
    std::fs::write(&spec, "repeat = 1500\n[scenario]\nm = 32\nk = 256\nn = 8\n").unwrap();
    let clean = d.path().join("clean.csv");
    sweep_to(&spec, &clean, false);
    let out = d.path().join("out.csv");
    let bin = assert_cmd::cargo::cargo_bin("qlab");
    let mut kills = 0;
    for round in 0..40 {
        let mut child = std::process::Command::new(&bin)
            .arg("sweep")
            .arg(&spec)
            .arg("--out")
            .arg(&out)
            .args(["--resume", "--quiet"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(40 + 10 * round));
        match child.try_wait().unwrap() {
            Some(status) => {
                assert!(status.success());
                break;
            }
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
            }
        }
    }
    // Finish whatever is left.
    sweep_to(&spec, &out, true);
    assert!(
        kills >= 1,
        "the sweep finished before it could be interrupted"
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&clean).unwrap(),
        "after {kills} kills"
    );
}

/// Whether this process runs as root (then file permissions do not stop it, but it may mount).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2))
                == Some("0")
        })
        .unwrap_or(false)
}

/// Runs `sh -c script` (with `args` as `$1`, `$2`, ...) in a private mount namespace, so the
/// mounts it makes vanish with it: directly as root, otherwise in a user namespace where we
/// are root. `None`, said loudly, when the machine allows neither (the development machines
/// and CI, root in a VM, do).
fn in_mount_namespace(script: &str, args: &[&std::ffi::OsStr]) -> Option<std::process::Output> {
    let mut cmd = std::process::Command::new("unshare");
    if !is_root() {
        cmd.args(["--user", "--map-root-user"]);
    }
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
    ]);
    cmd.args(args);
    let o = cmd.output().expect("unshare (util-linux) is needed");
    // 77: the script's own mount failed. A failed `unshare` itself (no privilege, as in a
    // container without CAP_SYS_ADMIN, or no user namespaces) prints "unshare: ...".
    if o.status.code() == Some(77) || stderr(&o).starts_with("unshare: ") {
        eprintln!(
            "SKIPPED: this machine gives no private mount namespace (root: {}): {}",
            is_root(),
            stderr(&o)
        );
        return None;
    }
    Some(o)
}

/// A sweep that fills its disk stops with one clear line, leaves a CSV of whole
/// configurations (no half row, no half configuration), and `--resume` on a disk with room
/// finishes it byte for byte equal to an uninterrupted run.
#[test]
fn a_full_disk_stops_a_sweep_cleanly_and_resume_finishes_it() {
    let d = tempfile::tempdir().unwrap();
    let spec = d.path().join("s.sweep.toml");
    std::fs::write(&spec, "repeat = 400\n[scenario]\nm = 8\nk = 64\nn = 4\n").unwrap();
    let clean = d.path().join("clean.csv");
    sweep_to(&spec, &clean, false);
    let clean = std::fs::read(&clean).unwrap();
    let small = d.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let kept = d.path().join("kept.csv");
    let second = d.path().join("second.txt");
    // A 64 KiB tmpfs holds the header and some configurations, not all 400.
    assert!(
        clean.len() > 4 * 65536,
        "the sweep must overflow the small disk"
    );
    let script = r#"mount -t tmpfs -o size=64k qlab-full "$1" || exit 77
"$2" sweep "$3" --out "$1/out.csv" --quiet --threads 2
rc=$?
cp "$1/out.csv" "$4" || exit 78
# Resuming on the still-full disk fails without changing the file.
"$2" sweep "$3" --out "$1/out.csv" --quiet --resume 2> "$5"
echo "exit $?" >> "$5"
cmp -s "$1/out.csv" "$4" || exit 79
exit $rc"#;
    let bin = assert_cmd::cargo::cargo_bin("qlab");
    let Some(o) = in_mount_namespace(
        script,
        &[
            small.as_os_str(),
            bin.as_os_str(),
            spec.as_os_str(),
            kept.as_os_str(),
            second.as_os_str(),
        ],
    ) else {
        return;
    };
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    let prefix = format!(
        "qlab: error: {}: No space left on device (os error 28); the file keeps its header and ",
        small.join("out.csv").display()
    );
    assert!(e.starts_with(&prefix), "{e}");
    assert!(
        e.ends_with(
            " complete configurations (the failed batch was taken back out): free space, \
             then run the same command with --resume to continue\n"
        ),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
    let configs: usize = e[prefix.len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(configs > 0 && configs < 400, "{e}");
    // Resumed in place (the file already ends at a whole configuration), the still-full disk
    // takes nothing more, and the file stays as it was.
    assert_eq!(
        std::fs::read_to_string(&second).unwrap(),
        format!(
            "qlab: error: {}: No space left on device (os error 28); the file keeps its header \
             and {configs} complete configurations (the failed batch was taken back out): free \
             space, then run the same command with --resume to continue\nexit 1\n",
            small.join("out.csv").display()
        )
    );
    // Exactly the header and the first `configs` configurations (two variant rows each).
    let kept = std::fs::read(&kept).unwrap();
    let lines = 1 + 2 * configs;
    let end = clean
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'\n')
        .nth(lines - 1)
        .unwrap()
        .0;
    assert!(
        kept == clean[..=end],
        "the CSV left behind ({} bytes) is not the header and the first {configs} \
         configurations ({} bytes) of the clean run",
        kept.len(),
        end + 1
    );
    // Resumed where there is room, it completes to the uninterrupted run.
    let out = d.path().join("out.csv");
    std::fs::write(&out, &kept).unwrap();
    sweep_to(&spec, &out, true);
    assert_eq!(std::fs::read(&out).unwrap(), clean);
}

/// Every command that writes files, pointed into a read-only directory: one line naming the
/// file and the reason, exit status 1, and the files already there unchanged. (As root, file
/// modes do not stop writes, so the directory is made read-only by a read-only bind mount.)
#[test]
fn a_read_only_output_directory_gets_one_line_per_command_and_keeps_its_files() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in");
    let ro = d.path().join("ro");
    std::fs::create_dir(&input).unwrap();
    std::fs::create_dir(&ro).unwrap();
    let w: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin()).collect();
    std::fs::write(input.join("w.npy"), encode(&[2, 32], &NpyData::F32(&w))).unwrap();
    std::fs::write(input.join("x.npy"), encode(&[32, 2], &NpyData::F32(&w))).unwrap();
    std::fs::write(
        input.join("s.sweep.toml"),
        "repeat = 3\n[scenario]\nm = 4\nk = 32\nn = 2\n",
    )
    .unwrap();
    let csv = input.join("s.csv");
    sweep_to(&input.join("s.sweep.toml"), &csv, false);
    let outputs = [
        "q.npy",
        "codes.npy",
        "y.npy",
        "run.csv",
        "sweep.csv",
        "merged.csv",
        "plot.svg",
    ];
    for f in outputs {
        std::fs::write(ro.join(f), format!("old {f}\n")).unwrap();
    }
    let log = d.path().join("log.txt");
    let script = r#"ro="$1"; bin="$2"; log="$3"; in="$4"
mount --bind "$ro" "$ro" && mount -o remount,bind,ro "$ro" || exit 77
run() { "$bin" "$@" 2>> "$log"; echo "exit $?" >> "$log"; }
run quantize "$in/w.npy" --format mxfp4 --out "$ro/q.npy" --codes "$ro/codes.npy"
run quantize "$in/w.npy" --format int8 --out "$in/q8.npy" --codes "$ro/codes.npy"
run matmul "$in/w.npy" "$in/x.npy" --format int8 --out "$ro/y.npy"
run run --csv "$ro/run.csv"
run sweep "$in/s.sweep.toml" --out "$ro/sweep.csv" --quiet
run sweep "$in/s.sweep.toml" --out "$ro/new.csv" --quiet
run merge "$in/s.csv" --out "$ro/merged.csv"
run plot "$in/s.csv" --x seed --y out_sqnr_db --out "$ro/plot.svg"
exit 0"#;
    let bin = assert_cmd::cargo::cargo_bin("qlab");
    let Some(o) = in_mount_namespace(
        script,
        &[
            ro.as_os_str(),
            bin.as_os_str(),
            log.as_os_str(),
            input.as_os_str(),
        ],
    ) else {
        return;
    };
    assert!(o.status.success(), "{}", stderr(&o));
    let line = |f: &str| {
        format!(
            "qlab: error: {}: Read-only file system (os error 30)\nexit 1\n",
            ro.join(f).display()
        )
    };
    let expected: String = [
        "q.npy",
        "codes.npy",
        "y.npy",
        "run.csv",
        "sweep.csv",
        "new.csv",
        "merged.csv",
        "plot.svg",
    ]
    .map(line)
    .concat();
    assert_eq!(std::fs::read_to_string(&log).unwrap(), expected);
    // Nothing there was touched, nothing was added; the writable output of the second
    // command was not written either (its outputs are written together or not at all).
    for f in outputs {
        assert_eq!(
            std::fs::read_to_string(ro.join(f)).unwrap(),
            format!("old {f}\n")
        );
    }
    assert_eq!(std::fs::read_dir(&ro).unwrap().count(), outputs.len());
    assert!(!input.join("q8.npy").exists());
}

// ---------------------------------------------------------------------------------------------
// Outputs are committed as one; no output may be another output or an input
// ---------------------------------------------------------------------------------------------

/// Every file in `dir` (hidden temporaries and lock files included) with its bytes and mode.
fn tree(dir: &std::path::Path) -> std::collections::BTreeMap<String, (Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            let bytes = if meta.is_file() {
                std::fs::read(e.path()).unwrap()
            } else {
                Vec::new()
            };
            (
                e.file_name().to_string_lossy().into_owned(),
                (bytes, meta.permissions().mode()),
            )
        })
        .collect()
}

/// A directory with a W, an x, a scenario reading W from a file, a small sweep, its CSV, and
/// outputs that already exist.
fn workspace() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let p = |f: &str| d.path().join(f);
    let w: Vec<f32> = (0..128).map(|i| (i as f32 * 0.37).sin()).collect();
    std::fs::write(p("w.npy"), encode(&[2, 64], &NpyData::F32(&w))).unwrap();
    std::fs::write(p("x.npy"), encode(&[64, 2], &NpyData::F32(&w))).unwrap();
    std::fs::write(p("scen.toml"), "n = 2\n[w]\nfile = \"w.npy\"\n").unwrap();
    std::fs::write(p("base.toml"), "m = 4\nk = 32\nn = 2\n").unwrap();
    std::fs::write(
        p("s.sweep.toml"),
        "repeat = 3\n[scenario]\nm = 4\nk = 32\nn = 2\n",
    )
    .unwrap();
    std::fs::write(p("b.sweep.toml"), "base = \"base.toml\"\nrepeat = 2\n").unwrap();
    sweep_to(&p("s.sweep.toml"), &p("s.csv"), false);
    std::fs::write(p("a.npy"), b"old a").unwrap();
    std::fs::write(p("b.npy"), b"old b").unwrap();
    std::fs::hard_link(p("a.npy"), p("a-link.npy")).unwrap();
    std::fs::create_dir(p("sub")).unwrap();
    std::os::unix::fs::symlink("nowhere.npy", p("dangling.npy")).unwrap();
    d
}

#[test]
fn outputs_that_name_one_file_or_an_input_are_refused_and_nothing_changes() {
    let d = workspace();
    let q = ["quantize", "w.npy", "--format", "mxfp4", "--out", "a.npy"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> { [&q[..], extra].concat() };
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            with(&["--codes", "a.npy"]),
            "a.npy: --codes and --out name the same file; give each output its own path",
        ),
        (
            with(&["--codes", "./sub/../a.npy"]),
            "./sub/../a.npy: --codes and --out name the same file; give each output its own path",
        ),
        (
            with(&["--scales", "a-link.npy"]),
            "a-link.npy: --scales and --out name the same file; give each output its own path",
        ),
        (
            with(&["--codes", "new.npy", "--packed", "new.npy"]),
            "new.npy: --packed and --codes name the same file; give each output its own path",
        ),
        (
            with(&["--codes", "-", "--scales", "/dev/stdout"]),
            "/dev/stdout: --scales and --codes name the same file; give each output its own path",
        ),
        (
            vec!["quantize", "w.npy", "--format", "int8", "--out", "w.npy"],
            "w.npy: --out names w.npy, which this command reads; choose another output path",
        ),
        (
            vec![
                "matmul", "w.npy", "x.npy", "--format", "int8", "--out", "x.npy",
            ],
            "x.npy: --out names x.npy, which this command reads; choose another output path",
        ),
        (
            vec!["run", "scen.toml", "--csv", "scen.toml"],
            "scen.toml: --csv names scen.toml, which this command reads; choose another output path",
        ),
        (
            vec!["run", "scen.toml", "--csv", "w.npy"],
            "w.npy: --csv names w.npy, which this command reads; choose another output path",
        ),
        (
            vec!["sweep", "s.sweep.toml", "--out", "s.sweep.toml"],
            "s.sweep.toml: --out names s.sweep.toml, which this command reads; choose another output path",
        ),
        (
            vec!["sweep", "b.sweep.toml", "--out", "base.toml"],
            "base.toml: --out names base.toml, which this command reads; choose another output path",
        ),
        (
            vec!["merge", "s.csv", "--out", "s.csv"],
            "s.csv: --out names s.csv, which this command reads; choose another output path",
        ),
        (
            vec![
                "plot",
                "s.csv",
                "--x",
                "seed",
                "--y",
                "out_sqnr_db",
                "--out",
                "s.csv",
            ],
            "s.csv: --out names s.csv, which this command reads; choose another output path",
        ),
        (
            with(&["--codes", "missing/c.npy"]),
            "missing/c.npy: No such file or directory (os error 2)",
        ),
        (
            with(&["--codes", "w.npy/c.npy"]),
            "w.npy/c.npy: Not a directory (os error 20)",
        ),
        (
            with(&["--codes", "sub"]),
            "sub: --codes is a directory; expected a file path",
        ),
        (
            with(&["--codes", "dangling.npy"]),
            "dangling.npy: --codes is a symbolic link to nowhere.npy, which does not exist; qlab \
             writes through links to existing files only",
        ),
        (
            with(&["--codes", "/dev/full"]),
            "/dev/full: No space left on device (os error 28)",
        ),
    ];
    for (args, message) in cases {
        let before = tree(d.path());
        let o = qlab().current_dir(d.path()).args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), format!("qlab: error: {message}\n"), "{args:?}");
        assert_eq!(tree(d.path()), before, "{args:?} changed the directory");
    }
}

#[test]
fn a_replaced_file_keeps_its_mode_and_a_link_is_written_through() {
    use std::os::unix::fs::PermissionsExt;
    let d = workspace();
    let p = |f: &str| d.path().join(f);
    std::fs::set_permissions(p("a.npy"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::write(p("target.npy"), b"old").unwrap();
    std::os::unix::fs::symlink("target.npy", p("link.npy")).unwrap();
    qlab()
        .current_dir(d.path())
        .args(["quantize", "w.npy", "--format", "mxfp4", "--out", "a.npy"])
        .args(["--codes", "link.npy"])
        .assert()
        .success();
    let mode = std::fs::metadata(p("a.npy")).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    assert!(qlab::data::npy::read(&p("a.npy")).is_ok());
    let link = std::fs::symlink_metadata(p("link.npy")).unwrap();
    assert!(link.file_type().is_symlink(), "the link stays a link");
    assert_eq!(&std::fs::read(p("target.npy")).unwrap()[..6], b"\x93NUMPY");
    // The hard link still has the old content: a rename replaces a name, not the inode.
    assert_eq!(std::fs::read(p("a-link.npy")).unwrap(), b"old a");
    let names: Vec<String> = tree(d.path()).into_keys().collect();
    assert!(
        names.iter().all(|n| !n.starts_with('.')),
        "no temporaries or locks left: {names:?}"
    );
}

#[test]
fn stale_temporaries_of_dead_processes_are_removed_by_the_next_write() {
    let d = workspace();
    let p = |f: &str| d.path().join(f);
    // Process ids above the kernel's limit (2^22) belong to no process.
    for f in [
        ".a.npy.tmp-99999999-0",
        ".a.npy.tmp-99999998",
        ".a.npy.lock",
    ] {
        std::fs::write(p(f), b"left by a killed run").unwrap();
    }
    let alive = format!(".a.npy.tmp-{}-0", std::process::id());
    std::fs::write(p(&alive), b"a live process's").unwrap();
    qlab()
        .current_dir(d.path())
        .args(["quantize", "w.npy", "--format", "mxfp4", "--out", "a.npy"])
        .assert()
        .success();
    let hidden: Vec<String> = tree(d.path())
        .into_keys()
        .filter(|n| n.starts_with('.'))
        .collect();
    assert_eq!(hidden, [alive], "only the live process's temporary is left");
}

// ---------------------------------------------------------------------------------------------
// Special files: inputs are refused before they are read; outputs are streams, never replaced
// ---------------------------------------------------------------------------------------------

/// Runs qlab in `dir` with a deadline: a command that waits on a FIFO fails the test instead
/// of hanging it.
fn qlab_within(dir: &std::path::Path, args: &[&str], secs: u64) -> std::process::Output {
    use std::process::Stdio;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("qlab"))
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("qlab {args:?} did not finish within {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn mkfifo(path: &std::path::Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

#[test]
fn special_files_are_refused_as_inputs_before_they_are_read() {
    let d = workspace();
    let p = |f: &str| d.path().join(f);
    for f in ["fifo.npy", "fifo.toml", "fifo.csv", "fifo.safetensors"] {
        mkfifo(&p(f));
    }
    let _socket = std::os::unix::net::UnixListener::bind(p("sock.npy")).unwrap();
    std::fs::write(p("reads-fifo.toml"), "[w]\nfile = \"fifo.npy\"\n").unwrap();
    std::fs::write(p("reads-fifo-csv.toml"), "[w]\nfile = \"fifo.csv\"\n").unwrap();
    std::fs::write(
        p("reads-fifo-st.toml"),
        "[w]\nfile = \"fifo.safetensors\"\n",
    )
    .unwrap();
    std::fs::write(
        p("fifo-base.sweep.toml"),
        "base = \"fifo.toml\"\nrepeat = 2\n",
    )
    .unwrap();
    let fifo = "is a FIFO (named pipe); expected a regular file";
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["quantize", "fifo.npy", "--format", "int8", "--out", "o.npy"],
            format!("fifo.npy: {fifo}"),
        ),
        (
            vec![
                "matmul", "w.npy", "fifo.npy", "--format", "int8", "--out", "o.npy",
            ],
            format!("fifo.npy: {fifo}"),
        ),
        (
            vec![
                "matmul", "fifo.npy", "x.npy", "--format", "f64", "--out", "o.npy",
            ],
            format!("fifo.npy: {fifo}"),
        ),
        (vec!["run", "fifo.toml"], format!("fifo.toml: {fifo}")),
        (vec!["tui", "fifo.toml"], format!("fifo.toml: {fifo}")),
        (vec!["run", "reads-fifo.toml"], format!("fifo.npy: {fifo}")),
        (
            vec!["run", "reads-fifo-csv.toml"],
            format!("fifo.csv: {fifo}"),
        ),
        (
            vec!["run", "reads-fifo-st.toml"],
            format!("fifo.safetensors: {fifo}"),
        ),
        (
            vec!["sweep", "fifo.toml", "--dry-run"],
            format!("fifo.toml: {fifo}"),
        ),
        (
            vec!["sweep", "fifo-base.sweep.toml", "--dry-run"],
            format!("fifo.toml: {fifo}"),
        ),
        (
            vec!["merge", "fifo.csv", "--out", "m.csv"],
            format!("fifo.csv: {fifo}"),
        ),
        (
            vec!["plot", "fifo.csv", "--x", "a", "--y", "b", "--out", "p.svg"],
            format!("fifo.csv: {fifo}"),
        ),
        (
            vec![
                "quantize",
                "/dev/zero",
                "--format",
                "int8",
                "--out",
                "o.npy",
            ],
            "/dev/zero: is a character device; expected a regular file".into(),
        ),
        (
            vec!["merge", "/dev/zero", "--out", "m.csv"],
            "/dev/zero: is a character device; expected a regular file".into(),
        ),
        (
            vec!["quantize", "sub", "--format", "int8", "--out", "o.npy"],
            "sub: is a directory; expected a regular file".into(),
        ),
        (
            vec!["run", "sub"],
            "sub: is a directory; expected a regular file".into(),
        ),
        (
            vec!["quantize", "sock.npy", "--format", "int8", "--out", "o.npy"],
            "sock.npy: is a socket; expected a regular file".into(),
        ),
    ];
    for (args, message) in cases {
        let before = tree(d.path());
        let o = qlab_within(d.path(), &args, 20);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), format!("qlab: error: {message}\n"), "{args:?}");
        assert_eq!(tree(d.path()), before, "{args:?}");
    }
}

#[test]
fn devices_and_fifos_are_written_in_place_and_never_replaced() {
    use std::os::unix::fs::FileTypeExt;
    let d = workspace();
    let p = |f: &str| d.path().join(f);
    qlab()
        .current_dir(d.path())
        .args([
            "quantize", "w.npy", "--format", "mxfp4", "--out", "want.npy",
        ])
        .assert()
        .success();
    let want = std::fs::read(p("want.npy")).unwrap();
    // /dev/null, directly and through a link.
    std::os::unix::fs::symlink("/dev/null", p("null.npy")).unwrap();
    for out in ["/dev/null", "null.npy"] {
        qlab()
            .current_dir(d.path())
            .args(["quantize", "w.npy", "--format", "mxfp4", "--out", out])
            .assert()
            .success();
        assert!(
            std::fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }
    assert!(
        std::fs::symlink_metadata(p("null.npy"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // A FIFO without a reader is refused at once; with one, it gets the array.
    mkfifo(&p("out.fifo"));
    let o = qlab_within(
        d.path(),
        &[
            "quantize", "w.npy", "--format", "mxfp4", "--out", "out.fifo",
        ],
        20,
    );
    assert_eq!(
        stderr(&o),
        "qlab: error: out.fifo: --out is a FIFO with no reader; start the reader first\n"
    );
    let fifo = p("out.fifo");
    let reader = std::thread::spawn(move || std::fs::read(fifo).unwrap());
    // The reader's open blocks until a writer comes; give it time to be there first.
    let mut got = None;
    for _ in 0..200 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        let o = qlab_within(
            d.path(),
            &[
                "quantize", "w.npy", "--format", "mxfp4", "--out", "out.fifo",
            ],
            20,
        );
        if o.status.success() {
            got = Some(reader.join().unwrap());
            break;
        }
    }
    assert_eq!(got.expect("the FIFO's reader was never there"), want);
    assert!(
        std::fs::metadata(p("out.fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    // A block device is refused (loop devices exist on the machines this runs on; skipped
    // where there is none).
    if let Some(dev) = ["/dev/loop0", "/dev/sda", "/dev/vda", "/dev/nvme0n1"]
        .into_iter()
        .find(|d| std::fs::metadata(d).is_ok_and(|m| m.file_type().is_block_device()))
    {
        let o = qlab_within(
            d.path(),
            &["quantize", "w.npy", "--format", "mxfp4", "--out", dev],
            20,
        );
        assert_eq!(
            stderr(&o),
            format!(
                "qlab: error: {dev}: --out is a block device; expected a file, a FIFO, a terminal or -\n"
            )
        );
        assert!(
            std::fs::metadata(dev)
                .unwrap()
                .file_type()
                .is_block_device()
        );
    }
}

#[test]
fn dash_and_dev_stdout_stream_every_output_that_makes_sense() {
    let d = workspace();
    let p = |f: &str| d.path().join(f);
    let file_then_stdout = |args: &[&str], flag: &str, file: &str| {
        let mut with_file = args.to_vec();
        with_file.extend([flag, file]);
        let o = qlab_within(d.path(), &with_file, 60);
        assert!(o.status.success(), "{with_file:?}: {}", stderr(&o));
        let want = std::fs::read(p(file)).unwrap();
        for out in ["-", "/dev/stdout"] {
            let mut to_stdout = args.to_vec();
            to_stdout.extend([flag, out]);
            let o = qlab_within(d.path(), &to_stdout, 60);
            assert!(o.status.success(), "{to_stdout:?}: {}", stderr(&o));
            assert_eq!(o.stdout, want, "{to_stdout:?}");
        }
    };
    file_then_stdout(
        &["quantize", "w.npy", "--format", "mxfp4"],
        "--out",
        "q.npy",
    );
    file_then_stdout(
        &["quantize", "w.npy", "--format", "mxfp4", "--out", "q2.npy"],
        "--codes",
        "c.npy",
    );
    file_then_stdout(
        &["matmul", "w.npy", "x.npy", "--format", "int8"],
        "--out",
        "y.npy",
    );
    file_then_stdout(&["run", "scen.toml"], "--csv", "r.csv");
    file_then_stdout(&["sweep", "s.sweep.toml", "--quiet"], "--out", "s2.csv");
    file_then_stdout(&["merge", "s.csv"], "--out", "m.csv");
    file_then_stdout(
        &["plot", "s.csv", "--x", "seed", "--y", "out_sqnr_db"],
        "--out",
        "p.svg",
    );
    let o = qlab_within(d.path(), &["run", "--csv", "-", "--json"], 20);
    assert_eq!(
        stderr(&o),
        "qlab: error: --csv - and --json would both write to standard output; give --csv a file\n"
    );
    let o = qlab_within(
        d.path(),
        &["sweep", "s.sweep.toml", "--out", "-", "--resume"],
        20,
    );
    assert_eq!(
        stderr(&o),
        "qlab: error: --resume needs a file to continue; - is a stream\n"
    );
}

// ---------------------------------------------------------------------------------------------
// Sweeps: one writer per output, an old file kept until the first batch is in
// ---------------------------------------------------------------------------------------------

/// A sweep whose configurations take a while each (a 1024 × 4096 × 256 product).
#[test]
fn one_file_reached_by_name_and_through_a_stream_is_refused_as_two_outputs() {
    let d = workspace();
    let p = |f: &str| d.path().join(f);
    // Redirections as a shell sets them up: `> a.npy` makes standard output the file --out
    // names; `3>c.npy 4>>c.npy` puts two descriptors onto one file.
    let sh = |line: &str| {
        std::process::Command::new("sh")
            .current_dir(d.path())
            .arg("-c")
            .arg(format!("exec \"$0\" {line}"))
            .arg(assert_cmd::cargo::cargo_bin("qlab"))
            .output()
            .unwrap()
    };
    let o = sh("quantize w.npy --format mxfp4 --out a.npy --codes - > a.npy");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "qlab: error: -: --codes - and --out a.npy lead into the same file, and one would \
         destroy the other; give each output its own file\n"
    );
    let o = sh("run scen.toml --csv r.csv > r.csv");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "qlab: error: -: standard output and --csv r.csv lead into the same file, and one \
         would destroy the other; give each output its own file\n"
    );
    let o = sh("quantize w.npy --format mxfp4 --out /dev/fd/3 --codes /dev/fd/4 3>c.npy 4>>c.npy");
    assert_eq!(
        stderr(&o),
        "qlab: error: /dev/fd/4: --codes /dev/fd/4 and --out /dev/fd/3 lead into the same \
         file, and one would destroy the other; give each output its own file\n"
    );
    assert_eq!(std::fs::read(p("c.npy")).unwrap(), b"");
    // One device twice is fine: nothing is replaced.
    let o = sh("quantize w.npy --format mxfp4 --out /dev/null --codes /dev/null");
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_link_planted_at_the_lock_path_is_refused_and_its_target_untouched() {
    let d = workspace();
    let p = |f: &str| d.path().join(f);
    let before = std::fs::read(p("w.npy")).unwrap();
    std::os::unix::fs::symlink("w.npy", p(".o.npy.lock")).unwrap();
    let o = qlab_within(
        d.path(),
        &["quantize", "w.npy", "--format", "mxfp4", "--out", "o.npy"],
        60,
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "qlab: error: o.npy: its lock file .o.npy.lock (beside it) is a symbolic link, not a \
         lock qlab made; remove it or choose another output\n"
    );
    assert_eq!(std::fs::read(p("w.npy")).unwrap(), before);
    assert!(!p("o.npy").exists());
    std::os::unix::fs::symlink("scen.toml", p(".r.csv.lock")).unwrap();
    let scen = std::fs::read(p("scen.toml")).unwrap();
    let o = qlab_within(d.path(), &["run", "scen.toml", "--csv", "r.csv"], 60);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(std::fs::read(p("scen.toml")).unwrap(), scen);
}

fn slow_sweep(dir: &std::path::Path) -> std::path::PathBuf {
    let spec = dir.join("slow.sweep.toml");
    std::fs::write(
        &spec,
        "repeat = 6\n[scenario]\nm = 1024\nk = 4096\nn = 256\n",
    )
    .unwrap();
    spec
}

/// A child process that is killed (and reaped) when the test lets go of it, also when the
/// test fails: it must not outlive the directory it works in.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..2000 {
        if cond() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn a_second_sweep_on_the_same_output_is_refused_while_the_first_runs() {
    let d = workspace();
    let p = |f: &str| d.path().join(f);
    let spec = slow_sweep(d.path());
    let bin = assert_cmd::cargo::cargo_bin("qlab");
    let first = KillOnDrop(
        std::process::Command::new(&bin)
            .current_dir(d.path())
            .args([
                "sweep",
                "slow.sweep.toml",
                "--out",
                "out.csv",
                "--quiet",
                "--threads",
                "1",
            ])
            .spawn()
            .unwrap(),
    );
    wait_for("the first sweep's lock", || p(".out.csv.lock").exists());
    let refused = |path: &str| {
        format!(
            "qlab: error: {path}: another qlab process (pid {}) is writing this file; wait for \
             it to finish, or choose another output\n",
            first.0.id()
        )
    };
    for (args, path) in [
        (
            vec!["sweep", "slow.sweep.toml", "--out", "out.csv", "--quiet"],
            "out.csv",
        ),
        (
            vec![
                "sweep",
                "slow.sweep.toml",
                "--out",
                "./out.csv",
                "--resume",
                "--quiet",
            ],
            "./out.csv",
        ),
        (vec!["merge", "s.csv", "--out", "out.csv"], "out.csv"),
    ] {
        // The pid is written just after the lock is taken.
        wait_for("the pid in the lock", || {
            std::fs::read_to_string(p(".out.csv.lock")).is_ok_and(|s| s.ends_with('\n'))
        });
        let o = qlab_within(d.path(), &args, 20);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert_eq!(stderr(&o), refused(path), "{args:?}");
    }
    drop(first);
    // Killed during its first batch, the first sweep never replaced anything.
    assert!(!p("out.csv").exists());
    drop(spec);
}

#[test]
fn a_sweep_that_fails_or_is_interrupted_in_its_first_batch_leaves_the_old_file() {
    use std::os::unix::process::ExitStatusExt;
    let d = workspace();
    let p = |f: &str| d.path().join(f);
    let old = std::fs::read(p("s.csv")).unwrap();
    // An axis value that fails is found before the sweep starts (small data is generated
    // once for every value)...
    std::fs::write(
        p("fails.sweep.toml"),
        "[scenario]\nm = 4\nk = 32\nn = 2\n[[axis]]\nname = \"w.mean\"\nvalues = [0.0, 1e300]\n",
    )
    .unwrap();
    let before = tree(d.path());
    let o = qlab_within(
        d.path(),
        &["sweep", "fails.sweep.toml", "--out", "s.csv", "--quiet"],
        60,
    );
    assert_eq!(
        stderr(&o),
        "qlab: error: fails.sweep.toml: axis 'w.mean' = 1e300: w: normal(mean 1e300, std 1) \
         gives inf at index (0, 0), beyond float32's range; choose smaller parameters\n"
    );
    assert_eq!(tree(d.path()), before);
    // ... and one found only when it runs (data too large to generate in passing), after
    // whole batches were written, still leaves the old results: a file being replaced is
    // replaced only by a complete run.
    std::fs::write(
        p("late.sweep.toml"),
        "[scenario]\nm = 2048\nk = 2048\nn = 2\n[[axis]]\nname = \"x.std\"\n\
         values = [1.0, 2.0, 3.0, 1e300]\n",
    )
    .unwrap();
    let before = tree(d.path());
    let o = qlab_within(
        d.path(),
        &[
            "sweep",
            "late.sweep.toml",
            "--out",
            "s.csv",
            "--quiet",
            "--threads",
            "1",
        ],
        120,
    );
    assert_eq!(
        stderr(&o),
        "qlab: error: late.sweep.toml: configuration 3 (x.std = 1e300): x: normal(mean 0, std \
         1e300) gives -inf at index (0, 0), beyond float32's range; choose smaller parameters; \
         s.csv is as it was before this run\n"
    );
    assert_eq!(tree(d.path()), before);
    // SIGINT and SIGTERM in the first batch: the old file stays, no temporary or lock is
    // left, and the process dies of the signal.
    slow_sweep(d.path());
    let before = tree(d.path());
    for signal in ["INT", "TERM", "HUP"] {
        let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("qlab"))
            .current_dir(d.path())
            .args([
                "sweep",
                "slow.sweep.toml",
                "--out",
                "s.csv",
                "--quiet",
                "--threads",
                "1",
            ])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        wait_for("the staged file", || {
            tree(d.path()).keys().any(|n| n.starts_with(".s.csv.tmp-"))
        });
        let sent = std::process::Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.signal().is_some(),
            "SIG{signal}: {:?}",
            out.status
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "qlab: interrupted; s.csv is as it was before this run\n",
            "SIG{signal}"
        );
        assert_eq!(tree(d.path()), before, "after SIG{signal}");
        assert_eq!(std::fs::read(p("s.csv")).unwrap(), old);
    }
}

#[test]
fn resuming_a_shard_without_shard_gives_the_unsharded_run() {
    let d = workspace();
    let p = |f: &str| d.path().join(f);
    std::fs::write(
        p("r.sweep.toml"),
        "repeat = 11\n[scenario]\nm = 4\nk = 32\nn = 2\n",
    )
    .unwrap();
    sweep_to(&p("r.sweep.toml"), &p("full.csv"), false);
    let full = std::fs::read(p("full.csv")).unwrap();
    for shards in [["2/3", ""], ["3/3", "1/3"]] {
        let out = p("part.csv");
        let _ = std::fs::remove_file(&out);
        for (i, s) in shards.iter().enumerate() {
            if s.is_empty() {
                continue;
            }
            let mut args = vec![
                "sweep",
                "r.sweep.toml",
                "--out",
                "part.csv",
                "--quiet",
                "--shard",
                s,
            ];
            if i > 0 {
                args.push("--resume");
            }
            assert!(qlab_within(d.path(), &args, 60).status.success());
        }
        let o = qlab_within(
            d.path(),
            &[
                "sweep",
                "r.sweep.toml",
                "--out",
                "part.csv",
                "--quiet",
                "--resume",
            ],
            60,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            std::fs::read(&out).unwrap() == full,
            "{shards:?}: not the unsharded bytes"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Standard output and error are files too
// ---------------------------------------------------------------------------------------------

#[test]
fn a_closed_pipe_ends_quietly_with_the_sigpipe_status() {
    let d = workspace();
    for args in [
        vec!["formats"],
        vec!["walkthrough"],
        vec!["--help"],
        vec!["run", "--help"],
        vec!["--version"],
        vec!["run"],
        vec!["run", "--json"],
        vec!["run", "scen.toml", "--csv", "-"],
        vec!["sweep", "s.sweep.toml", "--dry-run"],
        vec!["sweep", "s.sweep.toml", "--out", "-", "--quiet"],
        vec!["quantize", "w.npy", "--format", "int8", "--out", "-"],
        vec![
            "matmul", "w.npy", "x.npy", "--format", "mxfp4", "--out", "-",
        ],
        vec!["merge", "s.csv", "--out", "-"],
        vec![
            "plot",
            "s.csv",
            "--x",
            "seed",
            "--y",
            "out_sqnr_db",
            "--out",
            "-",
        ],
        vec!["bench", "--sizes", "16", "--runs", "1", "--json"],
    ] {
        // A pipe whose reading end is closed before qlab starts: every write fails.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let before = tree(d.path());
        let o = std::process::Command::new(assert_cmd::cargo::cargo_bin("qlab"))
            .current_dir(d.path())
            .args(&args)
            .stdout(writer)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(141), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{args:?}");
        assert_eq!(tree(d.path()), before, "{args:?}");
    }
}

#[test]
fn a_full_stdout_is_one_error_line_and_a_closed_stderr_is_no_panic() {
    let d = workspace();
    for args in [
        vec!["formats"],
        vec!["run", "--json"],
        vec!["quantize", "w.npy", "--format", "int8", "--out", "-"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let o = std::process::Command::new(assert_cmd::cargo::cargo_bin("qlab"))
            .current_dir(d.path())
            .args(&args)
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert_eq!(
            stderr(&o),
            "qlab: error: standard output: No space left on device (os error 28)\n",
            "{args:?}"
        );
    }
    // Messages to a standard error nobody reads: the command's own status, not a panic's.
    for (args, status) in [
        (
            vec![
                "quantize",
                "missing.npy",
                "--format",
                "int8",
                "--out",
                "o.npy",
            ],
            1,
        ),
        (vec!["sweep", "s.sweep.toml", "--out", "t.csv"], 0),
        (vec!["merge", "s.csv", "--out", "m.csv"], 0),
        (vec!["--threads", "100000", "formats"], 0),
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = std::process::Command::new(assert_cmd::cargo::cargo_bin("qlab"))
            .current_dir(d.path())
            .args(&args)
            .stderr(writer)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_eq!(o.code(), Some(status), "{args:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Text from files is data: escaped on the terminal, in messages and in the SVG
// ---------------------------------------------------------------------------------------------

#[test]
fn control_characters_from_files_never_reach_the_output_raw() {
    let d = workspace();
    let p = |f: &str| d.path().join(f);
    std::fs::write(
        p("evil.toml"),
        "name = \"evil\\u001b[2J\"\ndescription = \"two\\nlines\\u202e\"\nm = 4\nk = 32\nn = 2\n\
         [[variants]]\nformat = \"int8\"\nlabel = \"red\\u001b[31m\"\n",
    )
    .unwrap();
    let raw = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .chars()
            .filter(|&c| (c.is_control() && c != '\n') || c == '\u{202e}')
            .count()
    };
    let o = qlab()
        .current_dir(d.path())
        .args(["run", "evil.toml"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(raw(&o.stdout), 0, "{out}");
    assert!(
        out.starts_with("evil\\u{1b}[2J — two\\nlines\\u{202e}\n"),
        "{out}"
    );
    assert!(out.contains("red\\u{1b}[31m"), "{out}");
    // The sweep plan shows axis values the same way.
    std::fs::write(
        p("evil.sweep.toml"),
        "name = \"n\\u0007\"\n[scenario]\nm = 2\nk = 8\nn = 1\n[[variant]]\n",
    )
    .unwrap();
    std::fs::write(
        p("evil.sweep.toml"),
        "name = \"n\\u0007\"\n[scenario]\nm = 2\nk = 8\nn = 1\n[[axis]]\nname = \"variant.scale_rule\"\nvalues = [\"floor\"]\n",
    )
    .unwrap();
    let o = qlab()
        .current_dir(d.path())
        .args(["sweep", "evil.sweep.toml", "--dry-run"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(raw(&o.stdout), 0);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("n\\u{7}: "));
    // The SVG stays valid XML whatever its labels hold: no control characters at all,
    // markup characters escaped.
    std::fs::write(
        p("evil.csv"),
        "x,y,s\n\"a\u{1b}[2J\",1,\"<b>&\u{1}\"\n\"c\u{7}\",2,\"<b>&\u{1}\"\n",
    )
    .unwrap();
    qlab()
        .current_dir(d.path())
        .args([
            "plot", "evil.csv", "--x", "x", "--y", "y", "--by", "s", "--out", "evil.svg",
        ])
        .assert()
        .success();
    let svg = std::fs::read(p("evil.svg")).unwrap();
    assert!(
        svg.iter().all(|&b| b >= 0x20 || b == b'\n'),
        "control bytes in the SVG"
    );
    let svg = String::from_utf8(svg).unwrap();
    assert!(svg.contains("&lt;b&gt;&amp;\\u{1}"), "{svg}");
    assert!(svg.contains("a\\u{1b}[2J"), "{svg}");
}

// ---------------------------------------------------------------------------------------------
// Numbers: bounded before they reach an allocator; results that would be silently wrong
// ---------------------------------------------------------------------------------------------

#[test]
fn block_sizes_beyond_k_are_the_whole_row() {
    let d = workspace();
    let p = |f: &str| d.path().join(f);
    let y = |block: &str| {
        let o = qlab_within(
            d.path(),
            &[
                "matmul",
                "w.npy",
                "x.npy",
                "--format",
                "mxfp4",
                "--block-size",
                block,
                "--out",
                "y.npy",
            ],
            20,
        );
        assert!(o.status.success(), "{block}: {}", stderr(&o));
        std::fs::read(p("y.npy")).unwrap()
    };
    let whole_row = y("64");
    for block in [
        "65",
        "1073741824",
        "4611686018427387904",
        "18446744073709551615",
    ] {
        assert!(y(block) == whole_row, "block {block}");
    }
}

#[test]
fn threads_beyond_eight_per_core_are_capped_with_a_note() {
    let o = qlab()
        .args(["--threads", "1000000", "formats"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(
        stderr(&o),
        format!(
            "qlab: --threads 1000000 is more than 8 per core ({cores} core{} here); using {}\n",
            if cores == 1 { "" } else { "s" },
            cores * 8
        )
    );
}

#[test]
fn values_near_f32_max_stay_finite_or_are_said_to_overflow() {
    let d = workspace();
    let p = |f: &str| d.path().join(f);
    let m = f32::MAX;
    std::fs::write(
        p("max.npy"),
        encode(&[1, 4], &NpyData::F32(&[m, -m, 1.0, 2.0])),
    )
    .unwrap();
    // INT8, both schemes, both granularities: the scale keeps every code finite.
    for scheme in ["symmetric", "asymmetric"] {
        for granularity in ["tensor", "channel"] {
            let o = qlab()
                .current_dir(d.path())
                .args(["quantize", "max.npy", "--format", "int8", "--out", "q.npy"])
                .args(["--scheme", scheme, "--granularity", granularity])
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
            assert_eq!(stderr(&o), "");
            let q = qlab::data::npy::read(&p("q.npy")).unwrap();
            assert!(
                q.data.iter().all(|v| v.is_finite()),
                "{scheme} {granularity}: {:?}",
                q.data
            );
            assert!(q.data[1] == -m || q.data[1] < -3.3e38, "{:?}", q.data);
        }
    }
    // MXFP4: floor keeps them finite (6 · 2^125); ceil, even and rceil round the scale up to
    // 2^126, where 4 · 2^126 = 2^128 is beyond f32: written as ±inf, and said.
    let o = qlab()
        .current_dir(d.path())
        .args(["quantize", "max.npy", "--format", "mxfp4", "--out", "q.npy"])
        .output()
        .unwrap();
    assert_eq!(stderr(&o), "");
    assert_eq!(
        qlab::data::npy::read(&p("q.npy")).unwrap().data,
        [6.0 * 2f32.powi(125), -6.0 * 2f32.powi(125), 0.0, 0.0]
    );
    for rule in ["ceil", "even", "rceil"] {
        let o = qlab()
            .current_dir(d.path())
            .args([
                "quantize",
                "max.npy",
                "--format",
                "mxfp4",
                "--scale-rule",
                rule,
            ])
            .args(["--out", "q.npy"])
            .output()
            .unwrap();
        assert!(o.status.success());
        assert_eq!(
            stderr(&o),
            "qlab: 2 of 4 finite values dequantize to ±inf in mxfp4 (the block scale times the \
             element is 2^128 or more, beyond f32); the floor scale rule keeps them finite\n",
            "{rule}"
        );
        let q = qlab::data::npy::read(&p("q.npy")).unwrap().data;
        assert_eq!(q, [f32::INFINITY, f32::NEG_INFINITY, 0.0, 0.0], "{rule}");
    }
}

#[test]
fn when_nothing_is_finite_the_metrics_are_unknown_not_perfect() {
    let d = Dir::new();
    // Products near 1e40 overflow f32 in every output; an all-NaN W has no statistics.
    let big = [1e20f32; 256];
    d.f32("wbig.npy", &[4, 64], &big);
    d.f32("xbig.npy", &[64, 4], &big);
    d.f32("wnan.npy", &[4, 64], &[f32::NAN; 256]);
    d.write("o.toml", "name = \"o\"\n[w]\nfile = \"wbig.npy\"\n[x]\nfile = \"xbig.npy\"\n[[variants]]\nformat = \"mxfp4\"\n");
    d.write(
        "n.toml",
        "name = \"n\"\nn = 2\n[w]\nfile = \"wnan.npy\"\n[[variants]]\nformat = \"mxfp4\"\n",
    );
    let run = |args: &[&str]| {
        let o = qlab().current_dir(d.root()).args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let table = run(&["run", "o.toml"]);
    let row = |t: &str, name: &str| {
        t.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row {name} in\n{t}"))
            .split_whitespace()
            .last()
            .unwrap()
            .to_string()
    };
    assert_eq!(row(&table, "output NaN / inf"), "16");
    for name in [
        "output SQNR",
        "output RMSE",
        "output max |err|",
        "output |err| p50",
        "output cosine",
    ] {
        assert_eq!(row(&table, name), "n/a", "{name}");
    }
    assert!(
        table.contains("16 of 16 outputs are NaN or ±inf"),
        "{table}"
    );
    let json: serde_json::Value = serde_json::from_str(&run(&["run", "o.toml", "--json"])).unwrap();
    let out = &json["variants"][0]["output"];
    for key in ["sqnr_db", "rmse", "max_abs", "p50", "cosine"] {
        assert!(out[key].is_null(), "{key}: {out}");
    }
    let table = run(&["run", "n.toml"]);
    let w = table.lines().find(|l| l.starts_with("W ")).unwrap();
    assert_eq!(
        w.split_whitespace().filter(|c| *c == "n/a").count(),
        6,
        "{w}"
    );
    assert_eq!(row(&table, "W SQNR (dB)"), "n/a");
    assert!(
        !table
            .lines()
            .filter_map(|l| l.split_whitespace().last())
            .any(|c| c == "inf" || c == "-inf"),
        "{table}"
    );
}

#[test]
fn a_csv_larger_than_memory_is_refused_before_reading() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("huge.csv");
    std::fs::File::create(&p)
        .unwrap()
        .set_len(40 << 30)
        .unwrap();
    for args in [
        vec!["merge", "huge.csv", "--out", "m.csv"],
        vec!["plot", "huge.csv", "--x", "a", "--y", "b", "--out", "p.svg"],
    ] {
        let o = qlab_within(d.path(), &args, 20);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o)
                .starts_with("qlab: error: huge.csv: the file is 40.0 GiB, more than half the "),
            "{}",
            stderr(&o)
        );
    }
}
