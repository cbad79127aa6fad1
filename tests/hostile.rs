//! Hostile inputs: files that lie, huge declared sizes, degenerate shapes. Each gets a clear
//! error (or a correct result), never a panic. (Issue 7's corpus; more to come.)

use assert_cmd::Command;
use qlab::data::npy::{NpyData, encode};

fn qlab() -> Command {
    Command::cargo_bin("qlab").unwrap()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
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
    qlab()
        .arg("sweep")
        .arg(&spec)
        .arg("--out")
        .arg(&clean)
        .arg("--quiet")
        .assert()
        .success();
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
    qlab()
        .arg("sweep")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .args(["--resume", "--quiet"])
        .assert()
        .success();
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
