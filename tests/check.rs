//! `qlab check` and the MX dialects: the DESIGN §2 vectors under every dialect with bytes
//! derived by hand, each dialect named back by `check`, every class of difference on files
//! written here, and the command's errors.

mod common;

use common::{Dir, qlab, stderr};
use qlab::Matrix;
use qlab::check::{self, Theirs};
use qlab::codec::dialect::{Dialect, Exponent, ScaleRange, SignedZero, Ties};
use qlab::codec::minifloat::{E2M1, E4M3};
use qlab::data::npy::{NpyData, encode};
use qlab::format::{BlockSize, MxConfig, MxMatrix, ScaleRule};

fn mx(values: &[f32], rule: ScaleRule, d: Dialect) -> (Vec<u8>, Vec<u8>) {
    let m = Matrix::new(1, values.len(), values.to_vec()).unwrap();
    let cfg = MxConfig {
        block: BlockSize::Elements(32),
        rule,
        dialect: d,
    };
    let q = MxMatrix::quantize(&m, cfg).unwrap();
    (q.codes().to_vec(), q.scales().to_vec())
}

fn hex(codes: &[u8]) -> String {
    codes
        .iter()
        .map(|c| format!("{c:X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn with(ties: Ties, exponent: Exponent, signed_zero: SignedZero) -> Dialect {
    Dialect {
        ties,
        exponent,
        signed_zero,
        scale_range: ScaleRange::Clamp,
    }
}

const SPEC: Dialect = Dialect::SPEC;

#[test]
fn design_vectors_under_every_dialect() {
    use Exponent::*;
    use SignedZero::*;
    use Ties::*;
    // The grid's midpoints and their negatives: every tie of E2M1 at scale 1.
    let ties = [
        6.0, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -0.25, -0.75, -1.25, -1.75, -2.5, -3.5, -5.0,
        -6.0,
    ];
    let cases: [(Dialect, &str); 5] = [
        (SPEC, "7 0 2 2 4 4 6 6 8 A A C C E E F"),
        // ggml / MLX: every midpoint to the smaller magnitude.
        (
            with(TowardZero, Bits, Keep),
            "7 0 1 2 3 4 5 6 8 9 A B C D E F",
        ),
        // microxcaling's nearest: to the larger magnitude.
        (with(Away, Bits, Keep), "7 1 2 3 4 5 6 7 9 A B C D E F F"),
        // +0 for the −0 that −0.25 rounds to.
        (
            with(TowardZero, Bits, FlushPositive),
            "7 0 1 2 3 4 5 6 0 9 A B C D E F",
        ),
        (
            with(Even, Bits, FlushPositive),
            "7 0 2 2 4 4 6 6 0 A A C C E E F",
        ),
    ];
    for (d, want) in cases {
        let (codes, scales) = mx(&ties, ScaleRule::Floor, d);
        assert_eq!(scales, [0x7F], "{d:?}");
        assert_eq!(hex(&codes), want, "{d:?}");
    }
    // 7.9999995 = 8 − 2^−21: its log2f is 3.0, one binade up: 0x80 and 8/2 → 4 (code 6).
    let near = [7.999_999_5f32, 1.0];
    assert_eq!(mx(&near, ScaleRule::Floor, SPEC), (vec![7, 2], vec![0x7F]));
    let log2f = with(Even, Log2f, Keep);
    assert_eq!(mx(&near, ScaleRule::Floor, log2f), (vec![6, 1], vec![0x80]));
    // Two floats further down, log2f is below 3: no hazard.
    let below = [8.0 - 2f32.powi(-20), 1.0];
    assert_eq!(mx(&below, ScaleRule::Floor, log2f).1, [0x7F]);
    // log2f changes nothing where the exponent bits already say 3, nor under rceil (which
    // bumps 7.9999995 anyway).
    assert_eq!(mx(&[8.0, 1.0], ScaleRule::Floor, log2f).1, [0x80]);
    assert_eq!(mx(&near, ScaleRule::Rceil, log2f).1, [0x80]);
    assert_eq!(mx(&near, ScaleRule::Rceil, SPEC).1, [0x80]);
    // [1, −0.0, −0.1, 0.1]: 0x7D, 6 8 9 1; flushed, the −0 is +0 (−0.1 is −0.5, not zero).
    let zeros = [1.0, -0.0, -0.1, 0.1];
    assert_eq!(
        mx(&zeros, ScaleRule::Floor, SPEC),
        (vec![6, 8, 9, 1], vec![0x7D])
    );
    let flush = with(Even, Bits, FlushPositive);
    assert_eq!(
        mx(&zeros, ScaleRule::Floor, flush),
        (vec![6, 0, 9, 1], vec![0x7D])
    );
    // The first §2 vector has no midpoint: only −0.01's −0 (index 24) changes, when flushed.
    let first = [
        0.7, -0.2, -0.5, 0.1, 0.3, -0.05, 0.0, 0.65, -0.7, 0.45, 0.2, -0.33, 0.125, -0.0625, 0.55,
        0.06, -0.15, 0.24, 0.26, -0.6, 0.4, -0.45, 0.35, 0.09, -0.01, 0.69, -0.25, 0.18, 0.5,
        -0.375, 0.0, 0.15,
    ];
    let spec_codes = "7 B E 2 4 9 0 7 F 6 3 D 2 9 6 1 A 4 4 E 5 E 5 1 8 7 C 3 6 D 0 2";
    for d in [with(TowardZero, Bits, Keep), with(Away, Bits, Keep), log2f] {
        let (codes, scales) = mx(&first, ScaleRule::Floor, d);
        assert_eq!(
            (hex(&codes).as_str(), scales[0]),
            (spec_codes, 0x7C),
            "{d:?}"
        );
    }
    let (codes, _) = mx(
        &first,
        ScaleRule::Floor,
        with(TowardZero, Bits, FlushPositive),
    );
    assert_eq!(hex(&codes), spec_codes.replacen("1 8 7", "1 0 7", 1));
}

#[test]
fn a_tiny_block_clamps_under_the_spec_and_wraps_to_nan_unclamped() {
    // [2^−126, −2^−127, 2^−130]: e = −128 clamps to 0x00 (codes 4 A 0); an unchecked
    // (uint8_t)(e + 127) is 0xFF, the NaN byte.
    let tiny = [2f32.powi(-126), -(2f32.powi(-127)), 2f32.powi(-130)];
    assert_eq!(
        mx(&tiny, ScaleRule::Floor, SPEC),
        (vec![4, 0xA, 0], vec![0x00])
    );
    let wrap = Dialect {
        scale_range: ScaleRange::Wrap,
        ..SPEC
    };
    assert_eq!(
        mx(&tiny, ScaleRule::Floor, wrap),
        (vec![0, 0, 0], vec![0xFF])
    );
    // 2^−140: e = −142 wraps to 0xF1, a scale of 2^114: every code is 0.
    assert_eq!(
        mx(&[2f32.powi(-140)], ScaleRule::Floor, wrap),
        (vec![0], vec![0xF1])
    );
}

/// An input on which every dialect shows: Gaussian blocks at many magnitudes, exact
/// midpoints, the topmost floats below powers of two, small negatives, a tiny block.
fn rich() -> Matrix {
    let (rows, k) = (48, 128);
    let mut count = 0u64;
    let mut next = || {
        count += 1;
        (qlab::rng::splitmix64(count) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut v = vec![0f32; rows * k];
    for (i, x) in v.iter_mut().enumerate() {
        let (a, b) = (next().max(1e-12), next());
        let g = (-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos();
        let scale = 2f64.powi((i / 32 % 9) as i32 - 4);
        *x = (g * scale) as f32;
    }
    let mids = [0.25f32, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0];
    for (j, m) in mids.iter().enumerate() {
        v[j] = *m;
        v[8 + j] = -m;
    }
    v[16] = 6.0;
    for r in 1..rows {
        // The topmost floats below 2^(r mod 5): log2f's hazard.
        let p = 2f32.powi((r % 5) as i32);
        v[r * k + 32] = f32::from_bits(p.to_bits() - 1 - (r % 3) as u32);
    }
    for x in &mut v[5 * k..5 * k + 32] {
        *x *= 1e-39;
    }
    Matrix::new(rows, k, v).unwrap()
}

fn cfg(rule: ScaleRule, d: Dialect) -> MxConfig {
    MxConfig {
        block: BlockSize::Elements(32),
        rule,
        dialect: d,
    }
}

#[test]
fn check_names_every_dialect_it_is_given() {
    let m = rich();
    for rule in ScaleRule::ALL {
        for &ties in Ties::ALL {
            for &exponent in Exponent::ALL {
                for &signed_zero in SignedZero::ALL {
                    for &scale_range in ScaleRange::ALL {
                        let d = Dialect {
                            ties,
                            exponent,
                            signed_zero,
                            scale_range,
                        };
                        let q = MxMatrix::quantize(&m, cfg(rule, d)).unwrap();
                        let theirs = Theirs {
                            codes: q.codes().to_vec(),
                            scales: q.scales().to_vec(),
                        };
                        let r = check::compare(&m, &E2M1, cfg(ScaleRule::Floor, SPEC), &theirs);
                        let det = &r.detection;
                        let got = (
                            det.scale_rule.as_str(),
                            det.element_rounding.as_str(),
                            det.exponent.as_str(),
                            det.signed_zero.as_str(),
                            det.scale_range.as_str(),
                        );
                        // log2f under rceil, even and ceil changes no byte: it is not visible.
                        let exponent_seen = if rule == ScaleRule::Floor {
                            exponent
                        } else {
                            Exponent::Bits
                        };
                        let want = (
                            rule.name(),
                            ties.name(),
                            exponent_seen.name(),
                            signed_zero.name(),
                            scale_range.name(),
                        );
                        assert_eq!(got, want, "{rule} {d:?}");
                        assert_eq!(det.blocks_matched, det.blocks, "{rule} {d:?}");
                        assert_eq!(r.matches(), rule == ScaleRule::Floor && d.is_spec());
                        assert!(
                            r.classes.iter().all(|c| !c.unexplained),
                            "{rule} {d:?}: {:?}",
                            r.classes
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn each_class_of_difference_is_named_with_its_first_positions() {
    let m = rich();
    let spec = cfg(ScaleRule::Floor, SPEC);
    let q = MxMatrix::quantize(&m, spec).unwrap();
    let classes = |t: &Theirs| {
        let r = check::compare(&m, &E2M1, spec, t);
        r.classes
            .iter()
            .map(|c| (c.class.clone(), c.count))
            .collect::<Vec<_>>()
    };
    let base = Theirs {
        codes: q.codes().to_vec(),
        scales: q.scales().to_vec(),
    };
    assert!(classes(&base).is_empty());
    // Ties toward zero, one dialect at a time.
    let tz = MxMatrix::quantize(
        &m,
        cfg(
            ScaleRule::Floor,
            with(Ties::TowardZero, Exponent::Bits, SignedZero::Keep),
        ),
    )
    .unwrap();
    let c = classes(&Theirs {
        codes: tz.codes().to_vec(),
        scales: tz.scales().to_vec(),
    });
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].0, "tie-toward-zero");
    // log2f: the hazard rows' blocks, and nothing else.
    let l2 = MxMatrix::quantize(
        &m,
        cfg(
            ScaleRule::Floor,
            with(Ties::Even, Exponent::Log2f, SignedZero::Keep),
        ),
    )
    .unwrap();
    let c = classes(&Theirs {
        codes: l2.codes().to_vec(),
        scales: l2.scales().to_vec(),
    });
    assert_eq!(
        c.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        ["scale-log2f"],
        "{c:?}"
    );
    assert!(c[0].1 >= 1, "{c:?}");
    // A zero block given 0x7F, a NaN block zeroed, a tiny block wrapped.
    let mut m2 = m.clone();
    let k = m2.cols();
    let mut data = m2.data().to_vec();
    data[2 * k + 64..2 * k + 96].fill(0.0);
    data[3 * k + 96] = f32::NAN;
    m2 = Matrix::new(m2.rows(), k, data).unwrap();
    let q2 = MxMatrix::quantize(&m2, spec).unwrap();
    let mut t = Theirs {
        codes: q2.codes().to_vec(),
        scales: q2.scales().to_vec(),
    };
    let per_row = k / 32;
    t.scales[2 * per_row + 2] = 0x7F;
    t.scales[3 * per_row + 3] = 0x7F;
    t.codes[3 * k + 96..3 * k + 128].fill(0);
    t.scales[5 * per_row] = mx(
        &m2.row(5)[..32],
        ScaleRule::Floor,
        Dialect {
            scale_range: ScaleRange::Wrap,
            ..SPEC
        },
    )
    .1[0];
    let r = check::compare(&m2, &E2M1, spec, &t);
    let names: Vec<&str> = r.classes.iter().map(|c| c.class.as_str()).collect();
    for want in ["zero-block", "nan-block", "scale-wrap"] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    assert!(r.detection.nan_blocks_zeroed);
    assert_eq!(r.detection.zero_block_byte, Some(0x7F));
    assert_eq!(
        r.classes
            .iter()
            .find(|c| c.class == "nan-block")
            .unwrap()
            .first[0]
            .row,
        3
    );
    // Signed zeros: every −0 code written +0 by hand.
    let mut t = base.clone();
    let flipped = t.codes.iter().filter(|&&c| c == 8).count();
    for c in &mut t.codes {
        if *c == 8 {
            *c = 0;
        }
    }
    assert_eq!(classes(&t), [("signed-zero".to_string(), flipped)]);
}

#[test]
fn saturation_is_told_from_overflow_in_an_fp8_element() {
    // E4M3 under floor: 460 · 2^−e clips to 448 (code 0x7E); a kernel that overflows writes
    // NaN (0x7F).
    let m = Matrix::new(1, 2, vec![500.0, 1.0]).unwrap();
    let c = cfg(ScaleRule::Floor, SPEC);
    let (_, codes, scales) = qlab::format::mx_element::quantize_parts(&E4M3, &m, c);
    assert_eq!(scales, [0x7F]);
    assert_eq!(codes, [0x7E, 0x38], "448 = S.1111.110, 1 = S.0111.000");
    let theirs = Theirs {
        codes: vec![0x7F, 0x38],
        scales,
    };
    let r = check::compare(&m, &E4M3, c, &theirs);
    assert_eq!(r.classes.len(), 1, "{:?}", r.classes);
    assert_eq!(r.classes[0].class, "saturation");
}

#[test]
fn random_flips_are_unexplained() {
    let m = rich();
    let spec = cfg(ScaleRule::Floor, SPEC);
    let q = MxMatrix::quantize(&m, spec).unwrap();
    let mut t = Theirs {
        codes: q.codes().to_vec(),
        scales: q.scales().to_vec(),
    };
    // Flip the top mantissa-exponent bits of some codes whose value is not small (so no flip
    // can pass for a tie or a signed zero).
    let mut flipped = 0;
    for i in (7..t.codes.len()).step_by(397) {
        if (t.codes[i] & 7) >= 4 {
            t.codes[i] ^= 0x2;
            flipped += 1;
        }
    }
    t.scales[17] ^= 0x40;
    let r = check::compare(&m, &E2M1, spec, &t);
    let un: usize = r
        .classes
        .iter()
        .filter(|c| c.unexplained)
        .map(|c| c.count)
        .sum();
    assert_eq!(un, flipped + 1, "{:?}", r.classes);
    assert!(!r.matches());
}

fn npy_u8(dir: &Dir, name: &str, shape: &[usize], bytes: &[u8]) -> std::path::PathBuf {
    dir.bytes(name, &encode(shape, &NpyData::U8(bytes)))
}

#[test]
fn the_command_reads_every_layout_and_exits_by_the_verdict() {
    let dir = Dir::new();
    let m = rich();
    let (rows, k) = m.shape();
    let input = dir.f32("x.npy", &[rows, k], m.data());
    // qlab's own files: identical, exit 0.
    let out = qlab()
        .args(["quantize"])
        .arg(&input)
        .args(["--format", "mxfp4", "--out"])
        .arg(dir.path("d.npy"))
        .arg("--codes")
        .arg(dir.path("c.npy"))
        .arg("--scales")
        .arg(dir.path("s.npy"))
        .arg("--packed")
        .arg(dir.path("p.npy"))
        .arg("--ggml")
        .arg(dir.path("g.npy"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let check = |extra: &[&std::ffi::OsStr]| {
        qlab()
            .arg("check")
            .arg(&input)
            .args(["--format", "mxfp4"])
            .args(extra)
            .output()
            .unwrap()
    };
    let p = |n: &str| dir.path(n).into_os_string();
    for args in [
        vec!["--codes".into(), p("c.npy"), "--scales".into(), p("s.npy")],
        vec!["--packed".into(), p("p.npy"), "--scales".into(), p("s.npy")],
        vec!["--ggml".into(), p("g.npy")],
        vec!["--dequantized".into(), p("d.npy")],
    ] {
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsString::as_os_str).collect();
        let o = check(&refs);
        let text = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {text}{}", stderr(&o));
        assert!(text.contains("verdict: identical"), "{text}");
    }
    // gpt-oss: the linear nibbles as rows × blocks × 16, scales rows × blocks.
    let packed = std::fs::read(dir.path("p.npy")).unwrap();
    let (_, bytes) = qlab::data::npy::decode_u8(&packed).unwrap();
    let blocks = npy_u8(&dir, "blocks.npy", &[rows, k / 32, 16], &bytes);
    let o = check(&[
        "--gpt-oss".as_ref(),
        blocks.as_os_str(),
        p("s.npy").as_os_str(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // The linear bytes given as ggml's split: the nibble order is named, exit 1.
    let (_, sbytes) =
        qlab::data::npy::decode_u8(&std::fs::read(dir.path("s.npy")).unwrap()).unwrap();
    let mut split = Vec::new();
    for r in 0..rows {
        for j in 0..k / 32 {
            let c = &MxMatrix::quantize(&m, MxConfig::default()).unwrap().codes()
                [r * k + j * 32..r * k + j * 32 + 32]
                .to_vec();
            split.extend((0..16).map(|i| c[i] | c[i + 16] << 4));
        }
    }
    let sp = npy_u8(&dir, "split.npy", &[rows, k / 2], &split);
    let o = check(&[
        "--packed".as_ref(),
        sp.as_os_str(),
        "--scales".as_ref(),
        p("s.npy").as_os_str(),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("nibble order: split"), "{text}");
    assert!(text.contains("elements: 0 of"), "{text}");
    assert_eq!(sbytes.len(), rows * k / 32);
    // An MLX-like dialect through the command line, as JSON.
    let o = qlab()
        .arg("quantize")
        .arg(&input)
        .args([
            "--format",
            "mxfp4",
            "--scale-rule",
            "rceil",
            "--element-rounding",
            "ties-toward-zero",
            "--signed-zero",
            "flush-positive",
            "--out",
        ])
        .arg(dir.path("d2.npy"))
        .arg("--codes")
        .arg(dir.path("c2.npy"))
        .arg("--scales")
        .arg(dir.path("s2.npy"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = check(&[
        "--codes".as_ref(),
        p("c2.npy").as_os_str(),
        "--scales".as_ref(),
        p("s2.npy").as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["matches"], false);
    let d = &v["report"]["detection"];
    assert_eq!(d["scale_rule"], "rceil");
    assert_eq!(d["element_rounding"], "ties-toward-zero");
    assert_eq!(d["signed_zero"], "flush-positive");
    assert!(d["peer"].as_str().unwrap().contains("MLX"), "{d}");
    assert_eq!(d["blocks_matched"], d["blocks"]);
    // The same from dequantized values alone.
    let o = check(&[
        "--dequantized".as_ref(),
        p("d2.npy").as_os_str(),
        "--json".as_ref(),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["report"]["detection"]["summary"],
        "rceil + ties-toward-zero + +0 for -0"
    );
}

#[test]
fn bad_invocations_get_one_line_naming_what_is_wrong() {
    let dir = Dir::new();
    let input = dir.f32("x.npy", &[2, 32], &[0.5; 64]);
    let codes = npy_u8(&dir, "c.npy", &[2, 32], &[0; 64]);
    let short = npy_u8(&dir, "s.npy", &[3], &[0x7F; 3]);
    let run = |args: &[&std::ffi::OsStr]| {
        let o = qlab().arg("check").arg(&input).args(args).output().unwrap();
        (o.status.code(), stderr(&o))
    };
    let (code, err) = run(&[
        "--format".as_ref(),
        "int8".as_ref(),
        "--codes".as_ref(),
        codes.as_os_str(),
        "--scales".as_ref(),
        short.as_os_str(),
    ]);
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with("qlab: error:") && err.contains("--format int8 is not one"),
        "{err}"
    );
    let (_, err) = run(&[
        "--format".as_ref(),
        "mxfp4".as_ref(),
        "--codes".as_ref(),
        codes.as_os_str(),
    ]);
    assert!(err.contains("need --scales"), "{err}");
    let (_, err) = run(&[
        "--format".as_ref(),
        "mxfp4".as_ref(),
        "--codes".as_ref(),
        codes.as_os_str(),
        "--scales".as_ref(),
        short.as_os_str(),
    ]);
    assert!(
        err.contains("s.npy") && err.contains("holds 3 scale bytes") && err.contains("2 blocks"),
        "{err}"
    );
    let bad = npy_u8(&dir, "bad.npy", &[2, 32], &[0x1F; 64]);
    let good = npy_u8(&dir, "s2.npy", &[2], &[0x7F; 2]);
    let (_, err) = run(&[
        "--format".as_ref(),
        "mxfp4".as_ref(),
        "--codes".as_ref(),
        bad.as_os_str(),
        "--scales".as_ref(),
        good.as_os_str(),
    ]);
    assert!(err.contains("not a code of E2M1"), "{err}");
    let (_, err) = run(&[
        "--format".as_ref(),
        "mxfp8".as_ref(),
        "--ggml".as_ref(),
        codes.as_os_str(),
    ]);
    assert!(err.contains("4-bit codes"), "{err}");
    let (_, err) = run(&[
        "--format".as_ref(),
        "mxfp4".as_ref(),
        "--codes".as_ref(),
        input.as_os_str(),
        "--scales".as_ref(),
        good.as_os_str(),
    ]);
    assert!(err.contains("x.npy") && err.contains("uint8"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn what_the_input_cannot_show_is_said_not_guessed() {
    // Gaussian values at a scale that puts no element on a midpoint and no amax just below a
    // power of two: ties-toward-zero and log2f leave no trace, so the detection says so, and
    // a peer is only "consistent with".
    let v: Vec<f32> = (0..256)
        .map(|i| ((i * 37 % 101) as f32 - 50.3) * 0.0123)
        .collect();
    let m = Matrix::new(2, 128, v).unwrap();
    let d = with(Ties::TowardZero, Exponent::Log2f, SignedZero::FlushPositive);
    let q = MxMatrix::quantize(&m, cfg(ScaleRule::Floor, d)).unwrap();
    let t = Theirs {
        codes: q.codes().to_vec(),
        scales: q.scales().to_vec(),
    };
    let det = check::compare(&m, &E2M1, cfg(ScaleRule::Floor, SPEC), &t).detection;
    assert!(!det.complete, "{det:?}");
    assert!(det.summary.contains("ties unseen"), "{}", det.summary);
    assert!(
        det.summary.contains("exponent source unseen"),
        "{}",
        det.summary
    );
    assert_eq!(det.signed_zero, "flush-positive");
    assert_eq!(det.blocks_matched, det.blocks);
}

#[test]
fn ties_that_always_go_to_the_odd_code_are_named_ties_to_odd() {
    // At scale 1: 0.25 (0 | 0.5), 0.75 (0.5 | 1), 1.25 (1 | 1.5), 1.75 (1.5 | 2). The odd code
    // is away from zero at 0.25 and 1.25, toward zero at 0.75 and 1.75.
    let mut v = vec![0.0f32; 32];
    v[..5].copy_from_slice(&[6.0, 0.25, 0.75, 1.25, 1.75]);
    let m = Matrix::new(1, 32, v).unwrap();
    let spec = cfg(ScaleRule::Floor, SPEC);
    let q = MxMatrix::quantize(&m, spec).unwrap();
    assert_eq!(q.scales(), [0x7F]);
    assert_eq!(hex(&q.codes()[..5]), "7 0 2 2 4");
    let mut codes = q.codes().to_vec();
    codes[1..5].copy_from_slice(&[0x1, 0x1, 0x3, 0x3]);
    let t = Theirs {
        codes,
        scales: q.scales().to_vec(),
    };
    let r = check::compare(&m, &E2M1, spec, &t);
    let names: Vec<(&str, usize)> = r
        .classes
        .iter()
        .map(|c| (c.class.as_str(), c.count))
        .collect();
    assert_eq!(names, [("tie-to-odd", 4)]);
}
