//! `qlab scan`: every 2-D float tensor of a checkpoint, once per variant, each row equal to
//! `qlab run` on that tensor; include/exclude; shards and resume equal to one run; sharded
//! checkpoints; activations picked by name; memory that follows the tensor, not the file.

mod common;

use common::*;

use std::fs;

fn f32s(n: usize, seed: u32) -> Vec<f32> {
    // A small deterministic spread of values (no RNG needed): a sine of the index.
    (0..n)
        .map(|i| ((i as f32 + 1.0) * 0.618 * (seed as f32 + 1.0)).sin() * 0.05)
        .collect()
}

/// A model: F32, F16 and BF16 matrices, an I64 matrix and a 1-D tensor.
fn model(d: &Dir) -> std::path::PathBuf {
    let ids: Vec<u8> = (0..16i64).flat_map(i64::to_le_bytes).collect();
    d.bytes(
        "model.safetensors",
        &safetensors(&[
            (
                "layer.0.attn.weight",
                "F32",
                &[24, 64],
                f32_bytes(&f32s(24 * 64, 1)),
            ),
            (
                "layer.0.mlp.weight",
                "F16",
                &[16, 32],
                f16_bytes(&f32s(16 * 32, 2)),
            ),
            (
                "layer.10.mlp.weight",
                "BF16",
                &[8, 48],
                bf16_bytes(&f32s(8 * 48, 3)),
            ),
            ("ids", "I64", &[4, 4], ids),
            ("norm.weight", "F32", &[64], f32_bytes(&f32s(64, 4))),
        ]),
    )
}

fn scan(d: &Dir, args: &[&str]) -> std::process::Output {
    let o = qlab()
        .current_dir(d.root())
        .arg("scan")
        .args(args)
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

fn records(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_reader(bytes);
    let h = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect();
    (h, rows)
}

fn column(h: &[String], rows: &[Vec<String>], name: &str) -> Vec<String> {
    let i = h.iter().position(|c| c == name).unwrap();
    rows.iter().map(|r| r[i].clone()).collect()
}

#[test]
fn every_2d_float_tensor_is_scanned_once_per_variant_in_layer_order() {
    let d = Dir::new();
    model(&d);
    let o = qlab()
        .current_dir(d.root())
        .args([
            "scan",
            "model.safetensors",
            "--formats",
            "int8,mxfp4",
            "--out",
            "s.csv",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("3 tensors × 2 variants"), "{err}");
    assert!(err.contains("skipped 1 of dtype I64, 1 1-D"), "{err}");
    let (h, rows) = records(&d.read("s.csv"));
    assert_eq!(
        column(&h, &rows, "w.tensor"),
        [
            "layer.0.attn.weight",
            "layer.0.attn.weight",
            "layer.0.mlp.weight",
            "layer.0.mlp.weight",
            "layer.10.mlp.weight",
            "layer.10.mlp.weight"
        ]
    );
    assert_eq!(
        column(&h, &rows, "dtype"),
        ["F32", "F32", "F16", "F16", "BF16", "BF16"]
    );
    assert_eq!(column(&h, &rows, "m"), ["24", "24", "16", "16", "8", "8"]);
    assert_eq!(column(&h, &rows, "k"), ["64", "64", "32", "32", "48", "48"]);
    assert_eq!(column(&h, &rows, "format"), ["int8", "mxfp4"].repeat(3));
    // The table: worst first, and a summary per variant.
    let table = String::from_utf8(o.stdout).unwrap();
    assert!(table.contains("6 rows, worst first"), "{table}");
    assert!(table.contains("per variant"), "{table}");
    // Its first row is the CSV's lowest output SQNR.
    let sqnr: Vec<f64> = column(&h, &rows, "out_sqnr_db")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    let worst = (0..rows.len())
        .min_by(|&a, &b| sqnr[a].total_cmp(&sqnr[b]))
        .unwrap();
    let first = table.lines().nth(2).unwrap();
    assert!(
        first.starts_with(&column(&h, &rows, "w.tensor")[worst]),
        "{table}"
    );
    assert!(
        first.contains(&column(&h, &rows, "variant")[worst]),
        "{table}"
    );
    assert!(first.contains(&format!("{:.1}", sqnr[worst])), "{table}");
}

#[test]
fn each_row_is_the_row_qlab_run_writes_for_that_tensor() {
    let d = Dir::new();
    model(&d);
    scan(
        &d,
        &[
            "model.safetensors",
            "--formats",
            "int8,mxfp4,nvfp4",
            "--out",
            "s.csv",
        ],
    );
    let (h, rows) = records(&d.read("s.csv"));
    for (name, dtype) in [
        ("layer.0.attn.weight", "F32"),
        ("layer.0.mlp.weight", "F16"),
        ("layer.10.mlp.weight", "BF16"),
    ] {
        d.write(
            "one.toml",
            format!(
                "name = \"model\"\nseed = 42\nn = 64\n[w]\nfile = \"model.safetensors\"\n\
                 tensor = \"{name}\"\n[x]\ndist = \"normal\"\nstd = 1.0\n\
                 outlier_channels = {{ count = 4, factor = 50.0 }}\n\
                 [[variants]]\nformat = \"int8\"\n[[variants]]\nformat = \"mxfp4\"\n\
                 [[variants]]\nformat = \"nvfp4\"\n"
            ),
        );
        let o = qlab()
            .current_dir(d.root())
            .args(["run", "one.toml", "--csv", "one.csv"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let (rh, run_rows) = records(&d.read("one.csv"));
        let mine: Vec<&Vec<String>> = rows
            .iter()
            .filter(|r| r[h.iter().position(|c| c == "w.tensor").unwrap()] == name)
            .collect();
        assert_eq!(mine.len(), 3);
        for (scan_row, run_row) in mine.iter().zip(&run_rows) {
            for (i, col) in rh.iter().enumerate() {
                let j = h.iter().position(|c| c == col).unwrap();
                assert_eq!(scan_row[j], run_row[i], "{name} ({dtype}), column {col}");
            }
        }
    }
}

#[test]
fn include_and_exclude_pick_tensors_by_glob() {
    let d = Dir::new();
    model(&d);
    let (h, rows) = {
        scan(
            &d,
            &[
                "model.safetensors",
                "--formats",
                "int8",
                "--include",
                "*mlp*",
                "--exclude",
                "layer.1?.*",
                "--out",
                "s.csv",
            ],
        );
        records(&d.read("s.csv"))
    };
    assert_eq!(column(&h, &rows, "w.tensor"), ["layer.0.mlp.weight"]);
    // Nothing left: one line saying why.
    let o = qlab()
        .current_dir(d.root())
        .args(["scan", "model.safetensors", "--include", "nothing*"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert_eq!(
        stderr(&o),
        "qlab: error: model.safetensors: has no 2-D float tensor to scan (skipped: 5 not \
         included); expected F32, F16 or BF16 matrices\n"
    );
}

#[test]
fn shards_merged_and_a_resumed_scan_equal_one_scan() {
    let d = Dir::new();
    model(&d);
    let base = ["model.safetensors", "--formats", "int8,mxfp4"];
    scan(&d, &[&base[..], &["--out", "all.csv"]].concat());
    scan(
        &d,
        &[&base[..], &["--out", "a.csv", "--shard", "1/2"]].concat(),
    );
    scan(
        &d,
        &[&base[..], &["--out", "b.csv", "--shard", "2/2"]].concat(),
    );
    let o = qlab()
        .current_dir(d.root())
        .args(["merge", "a.csv", "b.csv", "--out", "m.csv"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(d.read("m.csv"), d.read("all.csv"));
    // A scan cut after its first tensor (and half a line), resumed.
    let all = String::from_utf8(d.read("all.csv")).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    let cut = format!(
        "{}\n{}\n{}\n{}",
        lines[0],
        lines[1],
        lines[2],
        &lines[3][..20]
    );
    d.write("r.csv", cut);
    scan(&d, &[&base[..], &["--out", "r.csv", "--resume"]].concat());
    assert_eq!(d.read("r.csv"), d.read("all.csv"));
}

#[test]
fn a_sharded_checkpoint_scans_as_its_single_file_does() {
    let d = Dir::new();
    let t = |seed| f32_bytes(&f32s(16 * 32, seed));
    d.bytes(
        "one.safetensors",
        &safetensors(&[
            ("a.weight", "F32", &[16, 32], t(1)),
            ("b.weight", "F32", &[16, 32], t(2)),
        ]),
    );
    d.bytes(
        "ckpt/model-00001-of-00002.safetensors",
        &safetensors(&[("a.weight", "F32", &[16, 32], t(1))]),
    );
    d.bytes(
        "ckpt/model-00002-of-00002.safetensors",
        &safetensors(&[("b.weight", "F32", &[16, 32], t(2))]),
    );
    d.write(
        "ckpt/model.safetensors.index.json",
        "{\"metadata\": {}, \"weight_map\": {\"a.weight\": \"model-00001-of-00002.safetensors\", \
         \"b.weight\": \"model-00002-of-00002.safetensors\"}}",
    );
    scan(
        &d,
        &["one.safetensors", "--formats", "mxfp4", "--out", "one.csv"],
    );
    scan(&d, &["ckpt", "--formats", "mxfp4", "--out", "dir.csv"]);
    scan(
        &d,
        &[
            "ckpt/model.safetensors.index.json",
            "--formats",
            "mxfp4",
            "--out",
            "idx.csv",
        ],
    );
    let metrics = |name: &str| {
        let (h, rows) = records(&d.read(name));
        let from = h.iter().position(|c| c == "m").unwrap();
        let src = h.iter().position(|c| c == "w_source").unwrap();
        rows.iter()
            .map(|r| {
                r[from..]
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| from + i != src)
                    .map(|(_, v)| v.clone())
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(metrics("dir.csv"), metrics("one.csv"));
    assert_eq!(metrics("idx.csv"), metrics("one.csv"));
    // An index that places a tensor in a shard that lacks it is one line.
    d.write(
        "bad/model.safetensors.index.json",
        "{\"weight_map\": {\"a.weight\": \"../ckpt/model-00002-of-00002.safetensors\"}}",
    );
    let o = qlab()
        .current_dir(d.root())
        .args(["scan", "bad/model.safetensors.index.json"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("weight_map places tensor 'a.weight' in"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_tensors_activations_are_picked_by_its_name_or_its_modules() {
    let d = Dir::new();
    model(&d);
    // (tokens, K) as PyTorch stores a layer's input: 5 tokens for the attention weight (named
    // by its module), 3 for the F16 MLP weight (by its own name).
    d.bytes(
        "acts.safetensors",
        &safetensors(&[
            ("layer.0.attn", "F32", &[5, 64], f32_bytes(&f32s(5 * 64, 9))),
            (
                "layer.0.mlp.weight",
                "F32",
                &[3, 32],
                f32_bytes(&f32s(3 * 32, 8)),
            ),
        ]),
    );
    let o = scan(
        &d,
        &[
            "model.safetensors",
            "--formats",
            "int8",
            "--activations",
            "acts.safetensors",
            "--out",
            "s.csv",
        ],
    );
    drop(o);
    let (h, rows) = records(&d.read("s.csv"));
    assert_eq!(column(&h, &rows, "n"), ["5", "3", "64"]);
    let xs = column(&h, &rows, "x_source");
    assert!(
        xs[0].ends_with("acts.safetensors[layer.0.attn], transposed"),
        "{}",
        xs[0]
    );
    assert!(xs[2].starts_with("normal"), "{}", xs[2]);
    // The row equals `qlab run` with that x.
    let acts = d.path("acts.safetensors");
    d.write(
        "one.toml",
        format!(
            "name = \"model\"\nseed = 42\nn = 5\n[w]\nfile = \"model.safetensors\"\n\
             tensor = \"layer.0.attn.weight\"\n[x]\nfile = \"{}\"\ntensor = \"layer.0.attn\"\n\
             transpose = true\n[[variants]]\nformat = \"int8\"\n",
            acts.display()
        ),
    );
    let o = qlab()
        .current_dir(d.root())
        .args(["run", "one.toml", "--csv", "one.csv"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let (rh, run_rows) = records(&d.read("one.csv"));
    for (i, col) in rh.iter().enumerate() {
        let j = h.iter().position(|c| c == col).unwrap();
        assert_eq!(rows[0][j], run_rows[0][i], "column {col}");
    }
    // Activations of the wrong width are one line naming the tensor.
    d.bytes(
        "wrong.safetensors",
        &safetensors(&[(
            "layer.0.attn.weight",
            "F32",
            &[5, 7],
            f32_bytes(&f32s(35, 1)),
        )]),
    );
    let o = qlab()
        .current_dir(d.root())
        .args([
            "scan",
            "model.safetensors",
            "--activations",
            "wrong.safetensors",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(
            "activations for tensor 'layer.0.attn.weight' have shape (5, 7); expected (tokens, 64), (…, 64) or (64, N)"
        ),
        "{}",
        stderr(&o)
    );
}

#[test]
fn memory_follows_the_largest_tensor_not_the_file() {
    // A 1 GiB file whose bulk is one U8 tensor (skipped, never read; a sparse hole on disk)
    // beside a small F32 matrix: reading the file whole would cost 1 GiB.
    let d = Dir::new();
    let small = f32_bytes(&f32s(32 * 64, 1));
    let big_len: u64 = 1 << 30;
    let header = format!(
        "{{\"small.weight\":{{\"dtype\":\"F32\",\"shape\":[32,64],\"data_offsets\":[0,{}]}},\
         \"blob\":{{\"dtype\":\"U8\",\"shape\":[{big_len}],\"data_offsets\":[{},{}]}}}}",
        small.len(),
        small.len(),
        small.len() as u64 + big_len
    );
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&small);
    let p = d.bytes("huge.safetensors", &bytes);
    let f = fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.set_len(bytes.len() as u64 + big_len).unwrap();
    drop(f);
    let o = qlab()
        .current_dir(d.root())
        .env("QLAB_REPORT_MEMORY", "1")
        .args([
            "scan",
            "huge.safetensors",
            "--formats",
            "int8,mxfp4",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let kib: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("qlab: peak memory "))
        .and_then(|l| l.strip_suffix(" KiB"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no peak memory line in {err}"));
    assert!(kib < 200 * 1024, "peak {kib} KiB for a 1 GiB file");
}

#[test]
fn no_output_may_replace_a_file_the_scan_reads() {
    let d = Dir::new();
    model(&d);
    let t = f32_bytes(&f32s(16 * 32, 1));
    d.bytes(
        "ckpt/model-00001-of-00002.safetensors",
        &safetensors(&[("a.weight", "F32", &[16, 32], t.clone())]),
    );
    d.bytes(
        "ckpt/model-00002-of-00002.safetensors",
        &safetensors(&[("b.weight", "F32", &[16, 32], t)]),
    );
    d.write("v.toml", "[[variants]]\nformat = \"int8\"\n");
    let before = d.listing();
    let shard = d.read("ckpt/model-00001-of-00002.safetensors");
    for (args, want) in [
        (
            vec!["ckpt", "--out", "ckpt/model-00001-of-00002.safetensors"],
            "which this command reads",
        ),
        (
            vec![
                "model.safetensors",
                "--variants",
                "v.toml",
                "--out",
                "v.toml",
            ],
            "which this command reads",
        ),
        (
            vec!["model.safetensors", "--out", "o.csv", "--svg", "o.csv"],
            "--out and --svg are the same file (o.csv)",
        ),
        (
            vec!["model.safetensors", "--svg", "-"],
            "--svg - would mix the SVG with the table",
        ),
    ] {
        let o = qlab()
            .current_dir(d.root())
            .arg("scan")
            .args(&args)
            .arg("--quiet")
            .output()
            .unwrap();
        assert!(!o.status.success(), "{args:?}");
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
    assert_eq!(d.listing(), before);
    assert_eq!(d.read("ckpt/model-00001-of-00002.safetensors"), shard);
}
