//! The numpy files people have: `.npz` archives (np.savez) with `--key`, N-D activations
//! laid out `(…, K)` (`--x-layout tokens-k`, `layout = "tokens-k"`), and scans of a `.npz`.

mod common;

use common::*;

use qlab::data::npy::{NpyData, encode};

/// A zip of stored members, as np.savez writes it (CRCs left 0: qlab does not check them).
fn zip(members: &[(&str, Vec<u8>)], method: u16) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in members {
        let name = format!("{name}.npy");
        let at = out.len() as u32;
        let local = |sig: u32, v: &mut Vec<u8>| {
            v.extend(sig.to_le_bytes());
        };
        local(0x0403_4b50, &mut out);
        out.extend(20u16.to_le_bytes()); // version needed
        out.extend(0u16.to_le_bytes()); // flags
        out.extend(method.to_le_bytes());
        out.extend([0u8; 8]); // time, date, crc
        out.extend((data.len() as u32).to_le_bytes());
        out.extend((data.len() as u32).to_le_bytes());
        out.extend((name.len() as u16).to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out.extend(name.as_bytes());
        out.extend(data);
        local(0x0201_4b50, &mut central);
        central.extend(20u16.to_le_bytes()); // made by
        central.extend(20u16.to_le_bytes()); // needed
        central.extend(0u16.to_le_bytes());
        central.extend(method.to_le_bytes());
        central.extend([0u8; 8]);
        central.extend((data.len() as u32).to_le_bytes());
        central.extend((data.len() as u32).to_le_bytes());
        central.extend((name.len() as u16).to_le_bytes());
        central.extend([0u8; 12]); // extra, comment, disk, internal attrs, external attrs
        central.extend(at.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let cd_at = out.len() as u32;
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]);
    out.extend((members.len() as u16).to_le_bytes());
    out.extend((members.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(cd_at.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

fn values(n: usize, seed: f32) -> Vec<f32> {
    (0..n).map(|i| ((i as f32 + 1.0) * seed).sin()).collect()
}

fn npy(shape: &[usize], data: &[f32]) -> Vec<u8> {
    encode(shape, &NpyData::F32(data))
}

fn run_ok(d: &Dir, args: &[&str]) -> std::process::Output {
    let o = qlab().current_dir(d.root()).args(args).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    o
}

#[test]
fn an_npz_member_reads_as_the_same_npy_would() {
    let d = Dir::new();
    let w = values(4 * 32, 0.7);
    let x = values(32 * 3, 0.3);
    d.bytes("w.npy", &npy(&[4, 32], &w));
    d.bytes("x.npy", &npy(&[32, 3], &x));
    d.bytes(
        "a.npz",
        &zip(&[("w", npy(&[4, 32], &w)), ("x", npy(&[32, 3], &x))], 0),
    );
    run_ok(
        &d,
        &["quantize", "w.npy", "--format", "mxfp4", "--out", "q1.npy"],
    );
    run_ok(
        &d,
        &[
            "quantize", "a.npz", "--key", "w", "--format", "mxfp4", "--out", "q2.npy",
        ],
    );
    assert_eq!(d.read("q1.npy"), d.read("q2.npy"));
    run_ok(
        &d,
        &[
            "matmul", "w.npy", "x.npy", "--format", "int8", "--out", "y1.npy",
        ],
    );
    run_ok(
        &d,
        &[
            "matmul", "a.npz", "a.npz", "--w-key", "w", "--x-key", "x", "--format", "int8",
            "--out", "y2.npy",
        ],
    );
    assert_eq!(d.read("y1.npy"), d.read("y2.npy"));
    // A scenario names the member with `tensor`.
    d.write(
        "s.toml",
        "[w]\nfile = \"a.npz\"\ntensor = \"w\"\n[x]\nfile = \"a.npz\"\ntensor = \"x\"\n\
         [[variants]]\nformat = \"mxfp4\"\n",
    );
    d.write(
        "t.toml",
        "[w]\nfile = \"w.npy\"\n[x]\nfile = \"x.npy\"\n[[variants]]\nformat = \"mxfp4\"\n",
    );
    run_ok(&d, &["run", "s.toml", "--csv", "s.csv"]);
    run_ok(&d, &["run", "t.toml", "--csv", "t.csv"]);
    let metrics = |name: &str| {
        let text = String::from_utf8(d.read(name)).unwrap();
        let line = text.lines().nth(1).unwrap().to_string();
        // The metrics at the end of the row (the sources' names differ).
        line.rsplit(',').take(40).collect::<Vec<_>>().join(",")
    };
    assert_eq!(metrics("s.csv"), metrics("t.csv"));
}

#[test]
fn npz_errors_name_the_archive_and_what_it_holds() {
    let d = Dir::new();
    let w = npy(&[2, 8], &values(16, 0.5));
    d.bytes("two.npz", &zip(&[("w", w.clone()), ("b", w.clone())], 0));
    d.bytes("packed.npz", &zip(&[("w", w)], 8));
    d.bytes("junk.npz", b"not a zip at all, not even close to one");
    for (args, want) in [
        (
            vec!["quantize", "two.npz", "--format", "int8", "--out", "q.npy"],
            "qlab: error: two.npz: holds 2 arrays; name one with --key (or `tensor = \"...\"`): w, b\n",
        ),
        (
            vec![
                "quantize", "two.npz", "--key", "v", "--format", "int8", "--out", "q.npy",
            ],
            "qlab: error: two.npz: no array named 'v' (did you mean 'w'? 2 arrays: w, b)\n",
        ),
        (
            vec![
                "quantize",
                "packed.npz",
                "--format",
                "int8",
                "--out",
                "q.npy",
            ],
            "qlab: error: packed.npz: array 'w' is compressed (np.savez_compressed); qlab reads \
             np.savez archives — save it with np.savez\n",
        ),
        (
            vec!["quantize", "junk.npz", "--format", "int8", "--out", "q.npy"],
            "qlab: error: junk.npz: not a valid .npz (zip) archive: no end-of-directory record\n",
        ),
    ] {
        let o = qlab().current_dir(d.root()).args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert_eq!(stderr(&o), want, "{args:?}");
        assert!(!d.path("q.npy").exists());
    }
}

#[test]
fn tokens_k_activations_multiply_as_their_transpose_and_give_y_as_x_at_w_t() {
    let d = Dir::new();
    let (k, m) = (64, 6);
    let w = values(m * k, 0.37);
    // x as PyTorch holds a layer's input: (batch 2, seq 3, K).
    let acts = values(2 * 3 * k, 0.11);
    d.bytes("w.npy", &npy(&[m, k], &w));
    d.bytes("acts.npy", &npy(&[2, 3, k], &acts));
    // The same values as qlab's x: (K, 6), column t = token t.
    let mut x = vec![0.0f32; k * 6];
    for t in 0..6 {
        for j in 0..k {
            x[j * 6 + t] = acts[t * k + j];
        }
    }
    d.bytes("x.npy", &npy(&[k, 6], &x));
    for format in ["int8", "mxfp4", "nvfp4"] {
        run_ok(
            &d,
            &[
                "matmul", "w.npy", "x.npy", "--format", format, "--out", "y.npy",
            ],
        );
        run_ok(
            &d,
            &[
                "matmul",
                "w.npy",
                "acts.npy",
                "--x-layout",
                "tokens-k",
                "--format",
                format,
                "--out",
                "yt.npy",
            ],
        );
        let y = qlab::data::npy::read(&d.path("y.npy")).unwrap();
        let (yt, shape) = qlab::data::npy::read_tokens_k(&d.path("yt.npy")).unwrap();
        assert_eq!(shape, [2, 3, m], "{format}");
        for t in 0..6 {
            for r in 0..m {
                assert_eq!(
                    yt.data()[t * m + r].to_bits(),
                    y.data[r * 6 + t].to_bits(),
                    "{format}"
                );
            }
        }
    }
    // In a scenario: layout = "tokens-k" gives the same run as the transposed file.
    d.write(
        "a.toml",
        "[w]\nfile = \"w.npy\"\n[x]\nfile = \"acts.npy\"\nlayout = \"tokens-k\"\n",
    );
    d.write("b.toml", "[w]\nfile = \"w.npy\"\n[x]\nfile = \"x.npy\"\n");
    run_ok(&d, &["run", "a.toml", "--csv", "a.csv"]);
    run_ok(&d, &["run", "b.toml", "--csv", "b.csv"]);
    let tail = |name: &str| {
        String::from_utf8(d.read(name))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.rsplit(',').take(40).collect::<Vec<_>>().join(","))
            .collect::<Vec<_>>()
    };
    assert_eq!(tail("a.csv"), tail("b.csv"));
    // W has no such layout.
    d.write("c.toml", "[w]\nfile = \"w.npy\"\nlayout = \"tokens-k\"\n");
    let o = qlab()
        .current_dir(d.root())
        .args(["run", "c.toml"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("layout = \"tokens-k\" applies to x only"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_scan_reads_an_npz_and_n_d_activations() {
    let d = Dir::new();
    let k = 32;
    d.bytes(
        "m.npz",
        &zip(
            &[
                ("proj", npy(&[8, k], &values(8 * k, 0.2))),
                ("bias", npy(&[8], &values(8, 0.4))),
            ],
            0,
        ),
    );
    // Activations of "proj" as (batch 2, seq 5, K): 10 tokens.
    d.bytes("acts/proj.npy", &npy(&[2, 5, k], &values(10 * k, 0.9)));
    let o = run_ok(
        &d,
        &[
            "scan",
            "m.npz",
            "--formats",
            "int8",
            "--activations",
            "acts",
            "--out",
            "s.csv",
            "--quiet",
        ],
    );
    drop(o);
    let text = String::from_utf8(d.read("s.csv")).unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let h: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    let col = |c: &str| rows[0][h.iter().position(|x| x == c).unwrap()].to_string();
    assert_eq!(col("w.tensor"), "proj");
    assert_eq!(col("n"), "10");
    assert!(
        col("x_source").ends_with("proj.npy, layout tokens-k"),
        "{}",
        col("x_source")
    );
}
