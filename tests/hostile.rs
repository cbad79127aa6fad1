//! Hostile inputs: files that lie, huge declared sizes, degenerate shapes, NaN, unwritable
//! outputs, a full disk, kills. Each gets one clear line (or a correct result), never a panic,
//! and nothing already written is lost. The files themselves are in `tests/hostile/`, listed
//! with their commands and exact messages in `tests/hostile/cases.toml`.

use assert_cmd::Command;
use qlab::data::npy::{NpyData, encode};

fn qlab() -> Command {
    Command::cargo_bin("qlab").unwrap()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

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
                wrong.push(format!("stderr {err:?}"))
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
            "qlab: error: {}: INT8 cannot quantize NaN at index (0, 0); remove NaN/Inf or use MXFP4\n",
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
# Resuming on the still-full disk fails before it touches the file.
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
    assert_eq!(
        std::fs::read_to_string(&second).unwrap(),
        format!(
            "qlab: error: {}: No space left on device (os error 28)\nexit 1\n",
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
