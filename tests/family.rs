//! The format family (issue 13), looping over the registry where it can: every format's
//! dequantized values agree with the integers and scales its GEMM multiplies; MX formats are
//! idempotent, within half a step and shift their scale bytes by k under a 2^k scaling; the
//! segment GEMM is MXFP4's kernel bit for bit and INT8's with one segment; every pair of W and
//! x formats multiplies to the f64 product of its dequantized operands within f32 accumulation
//! error; the published vectors through the command line; formats, matmul and sweeps take every
//! format.

mod common;
use common::*;

use qlab::Matrix;
use qlab::data::distribution::Role;
use qlab::family::{self, Family, REGISTRY, Settings, Variant};
use qlab::rng::splitmix64;

/// A `rows × k` matrix of values spread over several binades (and signs, zeros, ties).
fn data(rows: usize, k: usize, seed: u64) -> Matrix {
    let mut s = seed;
    let v = (0..rows * k)
        .map(|i| {
            s = splitmix64(s);
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            let mag = (u * 2.0 - 1.0) * 2f64.powi(((s >> 3) % 12) as i32 - 6);
            match i % 17 {
                0 => 0.0,
                5 => 0.75, // an E2M1 tie (× the block scale 1 when the block's amax is 6)
                _ => mag as f32,
            }
        })
        .collect();
    Matrix::new(rows, k, v).unwrap()
}

fn defaults(f: &dyn Family, role: Role) -> Settings {
    Settings::defaults(f.knobs(), role, false)
}

/// Formats whose elements are scaled integers (all but the elementwise ones).
fn scaled(f: &dyn Family) -> bool {
    let q = f.quantize(&data(2, 8, 1), &defaults(f, Role::W)).unwrap();
    q.fixed().is_some()
}

#[test]
fn dequantized_values_are_the_integers_times_the_scales() {
    for &f in REGISTRY.iter().filter(|f| scaled(**f)) {
        for (rows, k, seed) in [(3, 100, 1), (5, 33, 2), (1, 1, 3), (4, 256, 4)] {
            let m = data(rows, k, seed);
            let q = f.quantize(&m, &defaults(f, Role::W)).unwrap();
            let (d, fx) = (q.dequantize(), q.fixed().unwrap());
            for r in 0..rows {
                for c in 0..k {
                    // One f32 rounding of the exact value is what every dequantizer does.
                    // (The integer view has no −0: zeros compare by value.)
                    let exact = fx.value(r, c) as f32;
                    assert!(
                        d.get(r, c) == exact || (exact.is_nan() && d.get(r, c).is_nan()),
                        "{} ({r}, {c}) of {rows}×{k}: {} vs {exact}",
                        f.name(),
                        d.get(r, c)
                    );
                }
            }
        }
    }
}

fn mx_families() -> Vec<&'static dyn Family> {
    REGISTRY
        .iter()
        .copied()
        .filter(|f| f.name().starts_with("mx"))
        .collect()
}

#[test]
fn mx_formats_are_idempotent_and_within_half_a_step() {
    for f in mx_families() {
        for rule in ["floor", "ceil", "rceil"] {
            let mut s = defaults(f, Role::W);
            s.set("scale_rule", rule.into());
            let m = data(6, 96, 7);
            let q = f.quantize(&m, &s).unwrap();
            let d = q.dequantize();
            let again = f.quantize(&d, &s).unwrap().dequantize();
            assert_eq!(
                bits(&again),
                bits(&d),
                "{} {rule}: not idempotent",
                f.name()
            );
            // Unclipped elements are within half a step of the grid around them.
            let b = q.blocks().unwrap();
            for r in 0..6 {
                for c in 0..96 {
                    let scale = b.scale(r, c / b.block());
                    let v = f64::from(m.get(r, c));
                    if (v / scale).abs() > b.unit_max() {
                        continue;
                    }
                    let err = (f64::from(d.get(r, c)) - v).abs();
                    // The coarsest step below unit_max is unit_max's own binade step; half of
                    // it bounds every rounding (a loose bound that still catches a wrong grid).
                    let a = (v / scale).abs();
                    let step = step_of(f, a);
                    assert!(
                        err <= 0.5 * step * scale * (1.0 + 1e-12),
                        "{} {rule} ({r}, {c}): |{v} − {}| = {err} > half step {}",
                        f.name(),
                        d.get(r, c),
                        0.5 * step * scale
                    );
                }
            }
        }
    }
}

/// The grid step at magnitude `a` (in units of the scale) of an MX family's element: read off
/// the decoded code table (the gap to the next larger value).
fn step_of(f: &dyn Family, a: f64) -> f64 {
    let family::Codec::Minifloat { codes, decode, .. } = f.codec() else {
        unreachable!("MX formats are minifloats")
    };
    let mut pos: Vec<f64> = (0..codes / 2)
        .map(|c| f64::from(decode(c as u8)))
        .filter(|v| v.is_finite())
        .collect();
    pos.sort_by(f64::total_cmp);
    pos.windows(2)
        .find(|w| a <= w[1])
        .map_or(0.0, |w| w[1] - w[0])
}

#[test]
fn mx_scale_bytes_shift_by_k_under_a_two_to_the_k_scaling() {
    for f in mx_families() {
        let m = data(4, 64, 11);
        let s = defaults(f, Role::W);
        let q = f.quantize(&m, &s).unwrap();
        for k in [-20i32, -3, 1, 7, 30] {
            let scaled =
                Matrix::new(4, 64, m.data().iter().map(|&v| v * 2f32.powi(k)).collect()).unwrap();
            let qs = f.quantize(&scaled, &s).unwrap();
            let (b, bs) = (q.blocks().unwrap(), qs.blocks().unwrap());
            for r in 0..4 {
                for j in 0..b.blocks_per_row() {
                    assert_eq!(
                        bs.exponent(r, j),
                        b.exponent(r, j).map(|e| e + k),
                        "{} 2^{k} block ({r}, {j})",
                        f.name()
                    );
                }
                for c in 0..64 {
                    assert_eq!(bs.code_text(r, c), b.code_text(r, c), "{} codes", f.name());
                }
            }
        }
    }
}

#[test]
fn the_segment_gemm_is_mxfp4s_kernel_bit_for_bit() {
    let f = family::lookup("mxfp4").unwrap();
    for (m, k, n, seed) in [(8, 256, 8, 1), (3, 100, 5, 2), (16, 64, 40, 3)] {
        for block in ["8", "32", "tensor"] {
            let mut v = Variant::defaults(f);
            v.w.set("block_size", block.into());
            v.x.set("block_size", block.into());
            let (w, x) = (data(m, k, seed), data(k, n, seed + 100));
            let xt = x.transpose();
            let (qw, qx) = v.quantize(&w, &x, &xt).unwrap();
            let own = v.gemm(&*qw, &*qx);
            let seg = family::mixed_gemm(&*qw, &*qx, &v.gemm);
            assert_eq!(bits(&own), bits(&seg), "({m},{k},{n}) block {block}");
        }
    }
}

#[test]
fn the_int_group_rule_with_one_segment_is_the_int8_kernel() {
    let f = family::lookup("int8").unwrap();
    for gran in ["tensor", "channel"] {
        let mut v = Variant::defaults(f);
        v.w.set("granularity", gran.into());
        let (w, x) = (data(7, 130, 5), data(130, 6, 6));
        let xt = x.transpose();
        let (qw, qx) = v.quantize(&w, &x, &xt).unwrap();
        let own = v.gemm(&*qw, &*qx);
        let one = qlab::format::int_group::gemm(&qw.fixed().unwrap(), &qx.fixed().unwrap());
        assert_eq!(bits(&own), bits(&one), "{gran}");
    }
}

#[test]
fn every_pair_of_formats_is_the_dequantized_product_within_accumulation_error() {
    let (m, k, n) = (5, 72, 3);
    let (w, x) = (data(m, k, 21), data(k, n, 22));
    let xt = x.transpose();
    for &wf in REGISTRY {
        for &xf in REGISTRY {
            let mut v = Variant::pair(wf, xf);
            if v.gemm.get("accumulator").is_some() {
                v.gemm.set("accumulator", "f64".into());
            }
            let (qw, qx) = v.quantize(&w, &x, &xt).unwrap();
            let y = v.gemm(&*qw, &*qx);
            let (dw, dx) = (qw.dequantize(), qx.dequantize());
            for i in 0..m {
                for j in 0..n {
                    let terms = (0..k).map(|t| f64::from(dw.get(i, t)) * f64::from(dx.get(j, t)));
                    let exact: f64 = terms.clone().sum();
                    let mag: f64 = terms.map(f64::abs).sum();
                    // Each segment is rounded once to f32 (2^−24 relative), and a dequantized
                    // value may itself be a rounded product (INT, FP8, NVFP4): 2^−23 each.
                    assert!(
                        (f64::from(y.get(i, j)) - exact).abs() <= 4e-7 * mag + 1e-30,
                        "{} [{i},{j}]: {} vs {exact} (Σ|·| {mag})",
                        v.label,
                        y.get(i, j)
                    );
                }
            }
        }
    }
}

#[test]
fn e5m2_blocks_at_the_top_of_the_range_do_not_overflow_the_integer_dot() {
    // 57344 = 7 · 2^13 is E5M2's largest value: as an integer of 2^−16 it is 7 · 2^29, and a
    // product of two is 49 · 2^58, past i64. A block of 32 of them dots to 49 · 2^31 exactly.
    let f = family::lookup("mxfp8-e5m2").unwrap();
    let w = Matrix::new(1, 32, vec![57344.0; 32]).unwrap();
    let x = Matrix::new(32, 1, vec![-57344.0; 32]).unwrap();
    let v = Variant::defaults(f);
    let xt = x.transpose();
    let (qw, qx) = v.quantize(&w, &x, &xt).unwrap();
    assert_eq!(qw.scale_bytes(), [127]);
    assert_eq!(v.gemm(&*qw, &*qx).data(), [-49.0 * 2f32.powi(31)]);
}

#[test]
fn the_cli_writes_every_formats_published_vector() {
    let d = Dir::new();
    // MXFP8 E4M3, microxcaling#4: amax 960 → 0x80; 957 → 478.5 → 448 → 896.
    let mut v = vec![0.0f32; 32];
    v[0] = 960.0;
    v[1] = 957.0;
    let x = d.f32("x.npy", &[1, 32], &v);
    let o = qlab()
        .arg("quantize")
        .arg(&x)
        .args(["--format", "mxfp8-e4m3", "--out"])
        .arg(d.path("d.npy"))
        .arg("--scales")
        .arg(d.path("s.npy"))
        .arg("--codes")
        .arg(d.path("c.npy"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let scales = d.read("s.npy");
    assert_eq!(*scales.last().unwrap(), 0x80);
    let codes = d.read("c.npy");
    assert_eq!(&codes[codes.len() - 32..codes.len() - 30], &[0x7E, 0x7E]);
    let deq = d.read("d.npy");
    let deq: Vec<f32> = deq[deq.len() - 128..]
        .chunks(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(&deq[..2], &[896.0, 896.0]);
    // NVFP4 single- and two-level on the published 16 values.
    let block: [f32; 16] = [
        0.7, -0.2, -0.5, 0.1, 0.3, -0.05, 0.0, 0.65, -0.7, 0.45, 0.2, -0.33, 0.125, -0.0625, 0.55,
        0.06,
    ];
    let want_codes = [7, 0xB, 0xE, 2, 5, 9, 0, 7, 0xF, 6, 3, 0xD, 2, 9, 6, 1];
    let x = d.f32("b.npy", &[1, 16], &block);
    for (two, byte) in [("false", 0x1F), ("true", 0x7E)] {
        let o = qlab()
            .arg("quantize")
            .arg(&x)
            .args(["--format", "nvfp4", "--two-level", two, "--out"])
            .arg(d.path("d.npy"))
            .arg("--scales")
            .arg(d.path("s.npy"))
            .arg("--codes")
            .arg(d.path("c.npy"))
            .arg("--tensor-scale")
            .arg(d.path("t.npy"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(*d.read("s.npy").last().unwrap(), byte, "two-level {two}");
        let c = d.read("c.npy");
        assert_eq!(&c[c.len() - 16..], &want_codes, "two-level {two}");
        let t = d.read("t.npy");
        let t = f32::from_le_bytes(t[t.len() - 4..].try_into().unwrap());
        let want_t = if two == "true" { 0.7f32 / 2688.0 } else { 1.0 };
        assert_eq!(t, want_t);
    }
}

#[test]
fn quantize_writes_every_formats_arrays_with_their_dtypes() {
    let d = Dir::new();
    let x = d.f32("x.npy", &[3, 40], data(3, 40, 9).data());
    for &f in REGISTRY {
        for o in f.outputs() {
            // ggml needs blocks of 32 along a K that is a multiple of 32; packed is MXFP4's.
            if o.name == "ggml" {
                continue;
            }
            let out = d.path(&format!("{}-{}.npy", f.name(), o.name));
            let r = qlab()
                .arg("quantize")
                .arg(&x)
                .args(["--format", f.name(), "--out"])
                .arg(d.path("deq.npy"))
                .arg(format!("--{}", o.name))
                .arg(&out)
                .output()
                .unwrap();
            assert!(
                r.status.success(),
                "{} --{}: {}",
                f.name(),
                o.name,
                stderr(&r)
            );
            let bytes = std::fs::read(&out).unwrap();
            let header = String::from_utf8_lossy(&bytes[10..bytes.len().min(128)]).to_string();
            let want = match (f.name(), o.name) {
                ("bf16" | "fp16", "codes") => "<u2",
                ("int8" | "int4", "codes") => "|i1",
                (_, "codes" | "packed") => "|u1",
                ("int8" | "int4", "zero-points") => "<i4",
                ("int8" | "int4" | "fp8-e4m3" | "fp8-e5m2", "scales") | (_, "tensor-scale") => {
                    "<f4"
                }
                (_, "scales") => "|u1",
                other => panic!("no dtype known for {other:?}"),
            };
            assert!(header.contains(want), "{} --{}: {header}", f.name(), o.name);
        }
    }
}

#[test]
fn matmul_takes_w_and_x_formats_apart() {
    let d = Dir::new();
    let w = d.f32("w.npy", &[4, 64], data(4, 64, 1).data());
    let x = d.f32("x.npy", &[64, 2], data(64, 2, 2).data());
    let o = qlab()
        .arg("matmul")
        .arg(&w)
        .arg(&x)
        .args(["--w-format", "mxfp4", "--x-format", "mxfp8", "--out"])
        .arg(d.path("y.npy"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with("w mxfp4 · x mxfp8-e4m3: W (4, 64) · x (64, 2) → y (4, 2)"),
        "{}",
        stderr(&o)
    );
    let o = qlab()
        .arg("matmul")
        .arg(&w)
        .arg(&x)
        .args([
            "--w-format",
            "int4",
            "--x-format",
            "f32",
            "--x-scheme",
            "symmetric",
        ])
        .arg("--out")
        .arg(d.path("y.npy"))
        .output()
        .unwrap();
    assert_eq!(
        stderr(&o),
        "qlab: error: --x-scheme does not apply to --x-format f32\n"
    );
    let o = qlab()
        .arg("matmul")
        .arg(&w)
        .arg(&x)
        .arg("--out")
        .arg(d.path("y.npy"))
        .output()
        .unwrap();
    assert_eq!(
        stderr(&o),
        "qlab: error: matmul needs --format F (both operands), or --w-format F and --x-format G\n"
    );
}

#[test]
fn formats_lists_the_registry_and_prints_a_code_table() {
    let o = qlab().arg("formats").output().unwrap();
    let out = String::from_utf8(o.stdout).unwrap();
    for f in REGISTRY {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("{} ", f.name()))),
            "{}:\n{out}",
            f.name()
        );
    }
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap()
            .to_string()
    };
    // 4 bits + 8 per 32; E4M3's 8 + 8 per 32; NVFP4's 4 + 8 per 16 + 32 per tensor.
    assert!(line("mxfp4").contains(" 4.2500 "), "{}", line("mxfp4"));
    assert!(line("mxfp8-e4m3").contains(" 8.2500 "));
    assert!(line("mxfp6-e2m3").contains(" 6.2500 "));
    assert!(line("nvfp4").contains(" 4.5001 "));
    let table = |name: &str| {
        let o = qlab().args(["formats", name]).output().unwrap();
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let t = table("mxfp8-e4m3");
    assert_eq!(t.lines().filter(|l| l.starts_with("0x")).count(), 256);
    assert!(
        t.lines()
            .any(|l| l.starts_with("0x7E") && l.contains(" 448.0 ")),
        "{t}"
    );
    assert!(
        t.lines()
            .any(|l| l.starts_with("0x7F") && l.contains("NaN")),
        "{t}"
    );
    let t = table("e3m2");
    assert_eq!(t.lines().filter(|l| l.starts_with("0x")).count(), 64);
    assert!(
        t.lines()
            .any(|l| l.starts_with("0x1F") && l.contains(" 28.0 ")),
        "{t}"
    );
    let o = qlab().args(["formats", "fp7"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("qlab: error: unknown format 'fp7'; expected int8, "));
}

#[test]
fn scenarios_choose_w_and_x_formats_apart() {
    let d = Dir::new();
    let s = d.write(
        "s.toml",
        "m = 4\nk = 64\nn = 2\n[[variants]]\nw_format = \"mxfp4\"\nx_format = \"mxfp8\"\n\
         [[variants]]\nformat = \"mxfp4\"\nw_block_size = 32\nx_block_size = 16\n\
         [[variants]]\nw_format = \"int4\"\nx_format = \"bf16\"\nw_group_size = 32\n\
         [[variants]]\nformat = \"nvfp4\"\ntwo_level = false\n",
    );
    let o = qlab()
        .arg("run")
        .arg(&s)
        .arg("--csv")
        .arg(d.path("r.csv"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let mut reader = csv::Reader::from_path(d.path("r.csv")).unwrap();
    let head = reader.headers().unwrap().clone();
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let labels: Vec<&str> = rows.iter().map(|r| &r[col("variant")]).collect();
    assert_eq!(
        labels,
        [
            "w mxfp4 · x mxfp8-e4m3",
            "w mxfp4 · x mxfp4 b16",
            "w int4 g32 · x bf16",
            "nvfp4 single-level"
        ]
    );
    let first = &rows[0];
    assert_eq!(
        [
            &first[col("format")],
            &first[col("w_format")],
            &first[col("x_format")]
        ],
        ["mxfp4·mxfp8-e4m3", "mxfp4", "mxfp8-e4m3"]
    );
    assert_eq!(&rows[2][col("w_group_size")], "32");
    assert_eq!(&rows[3][col("two_level")], "false");
    // A setting neither format has is refused by name.
    let bad = d.write(
        "bad.toml",
        "[[variants]]\nw_format = \"bf16\"\nx_format = \"f32\"\nblock_size = 16\n",
    );
    let o = qlab().arg("run").arg(&bad).output().unwrap();
    assert!(
        stderr(&o).ends_with("variants[0]: 'block_size' does not apply to format 'bf16·f32'\n"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_sweep_can_sweep_the_format_itself() {
    let d = Dir::new();
    let spec = d.write(
        "f.sweep.toml",
        "[scenario]\nm = 4\nk = 64\nn = 2\n[[scenario.variants]]\nformat = \"mxfp4\"\n\
         block_size = 16\n[[axis]]\nname = \"variant.x_format\"\nvalues = [\"mxfp4\", \
         \"mxfp8\", \"f32\"]\n",
    );
    let o = qlab()
        .arg("sweep")
        .arg(&spec)
        .args(["--out", "-", "--quiet"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    for label in [
        "mxfp4 b16 floor",
        "w mxfp4 b16 · x mxfp8-e4m3 b16",
        "w mxfp4 b16 · x f32",
    ] {
        assert!(out.contains(&format!(",{label},")), "{label}:\n{out}");
    }
}
