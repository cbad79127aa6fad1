//! Integration tests of the `qlab` binary: every subcommand end to end, the DESIGN §2 / §3
//! vectors through the CLI, and every bad input with its exact one-line message.

mod common;
#[allow(unused_imports)]
use common::*;

use std::fs;
use std::path::Path;

use predicates::prelude::*;
use qlab::data::npy::{NpyData, decode, encode};

// ---------------------------------------------------------------------------------------------
// Fixtures and helpers
// ---------------------------------------------------------------------------------------------

/// The seed walkthrough's W (DESIGN §3).
const SEED_W: [f32; 4] = [0.7, -0.2, -0.5, 0.1];
/// The seed walkthrough's x.
const SEED_X: [f32; 2] = [0.8, 0.6];

/// DESIGN §2, first block.
const SPEC_BLOCK: [f32; 32] = [
    0.7, -0.2, -0.5, 0.1, 0.3, -0.05, 0.0, 0.65, -0.7, 0.45, 0.2, -0.33, 0.125, -0.0625, 0.55,
    0.06, -0.15, 0.24, 0.26, -0.6, 0.4, -0.45, 0.35, 0.09, -0.01, 0.69, -0.25, 0.18, 0.5, -0.375,
    0.0, 0.15,
];
/// DESIGN §2, the codes of the first block.
const SPEC_CODES: [u8; 32] = [
    0x7, 0xB, 0xE, 0x2, 0x4, 0x9, 0x0, 0x7, 0xF, 0x6, 0x3, 0xD, 0x2, 0x9, 0x6, 0x1, 0xA, 0x4, 0x4,
    0xE, 0x5, 0xE, 0x5, 0x1, 0x8, 0x7, 0xC, 0x3, 0x6, 0xD, 0x0, 0x2,
];
/// DESIGN §2, the packed (linear layout) bytes of the first block.
const SPEC_PACKED_HEX: &str = "b72e94706fd392164ae4e515783cd620";

/// The value of an E2M1 code.
fn e2m1(code: u8) -> f32 {
    const MAG: [f32; 8] = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];
    let m = MAG[usize::from(code & 7)];
    if code & 8 != 0 { -m } else { m }
}

/// A temporary directory holding a test's inputs and outputs.
/// A `.npy` (version 1.0) with a hand-written header dict and raw payload.
fn npy_with_header(dict: &str, payload: &[u8]) -> Vec<u8> {
    let mut header = dict.to_string();
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&u16::try_from(header.len()).unwrap().to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
    out
}

/// A .npy output read back raw, whatever its dtype.
struct RawNpy {
    descr: String,
    shape: Vec<usize>,
    payload: Vec<u8>,
}

fn read_raw(path: &Path) -> RawNpy {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x93NUMPY\x01\x00"),
        "not a .npy 1.0 file"
    );
    let end = 10 + usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    assert_eq!(end % 64, 0, "header not padded to 64 bytes");
    let header = std::str::from_utf8(&bytes[10..end]).expect("utf-8 header");
    let field = |key: &str, open: char, close: char| -> String {
        let start = header
            .find(key)
            .unwrap_or_else(|| panic!("no {key} in {header}"))
            + key.len();
        let rest = header[start..].trim_start();
        assert!(rest.starts_with(open), "{header}");
        rest[1..rest[1..].find(close).unwrap() + 1].to_string()
    };
    assert!(header.contains("'fortran_order': False"), "{header}");
    RawNpy {
        descr: field("'descr':", '\'', '\''),
        shape: field("'shape':", '(', ')')
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect(),
        payload: bytes[end..].to_vec(),
    }
}

/// A u8 output (MXFP4 codes, scales, packed, ggml): shape and bytes.
fn read_u8(path: &Path) -> (Vec<usize>, Vec<u8>) {
    let raw = read_raw(path);
    assert_eq!(raw.descr, "|u1");
    (raw.shape, raw.payload)
}

/// An i8 output (INT8 codes).
fn read_i8(path: &Path) -> (Vec<usize>, Vec<i8>) {
    let raw = read_raw(path);
    assert_eq!(raw.descr, "|i1");
    (raw.shape, raw.payload.iter().map(|&b| b as i8).collect())
}

/// An i32 output (INT8 zero points).
fn read_i32(path: &Path) -> (Vec<usize>, Vec<i32>) {
    let raw = read_raw(path);
    assert_eq!(raw.descr, "<i4");
    let data = raw
        .payload
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (raw.shape, data)
}

/// A float32 output, through the library's decoder.
fn read_f32(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let arr = decode(&fs::read(path).expect("read output")).expect("decode output");
    assert_eq!(arr.descr, "<f4");
    (arr.shape, arr.data)
}

/// Runs `qlab args…`, expects success, and returns (stdout, stderr).
fn ok(args: &[&str]) -> (String, String) {
    let out = qlab().args(args).assert().success().get_output().clone();
    (
        String::from_utf8(out.stdout).expect("utf-8 stdout"),
        String::from_utf8(out.stderr).expect("utf-8 stderr"),
    )
}

/// Runs `qlab args…` and expects exit code 1 with exactly `qlab: error: <message>` on stderr,
/// nothing on stdout.
fn fails(args: &[&str], message: &str) {
    qlab()
        .args(args)
        .assert()
        .code(1)
        .stdout("")
        .stderr(format!("qlab: error: {message}\n"));
}

/// Like [`fails`], and checks that `out` was not created and no temporary file was left.
fn fails_without_output(dir: &Dir, args: &[&str], message: &str, out: &Path) {
    let before = dir.listing();
    fails(args, message);
    assert!(
        !out.exists(),
        "{} was created despite the error",
        out.display()
    );
    assert_eq!(dir.listing(), before, "files appeared in the directory");
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// Help, walkthrough, formats
// ---------------------------------------------------------------------------------------------

#[test]
fn help_succeeds_for_the_program_and_every_subcommand() {
    let (out, _) = ok(&["--help"]);
    for cmd in ["quantize", "matmul", "walkthrough", "formats"] {
        assert!(
            out.contains(cmd),
            "top-level help does not list {cmd}:\n{out}"
        );
        let (sub, _) = ok(&[cmd, "--help"]);
        assert!(sub.contains("Usage: qlab"), "{cmd} --help:\n{sub}");
    }
    let (q, _) = ok(&["quantize", "--help"]);
    for opt in [
        "--format",
        "--block-size",
        "--scale-rule",
        "--packed",
        "--ggml",
        "--zero-points",
    ] {
        assert!(q.contains(opt), "quantize --help lacks {opt}");
    }
    let (m, _) = ok(&["matmul", "--help"]);
    for opt in ["--w-scheme", "--x-granularity", "--accumulator", "--out"] {
        assert!(m.contains(opt), "matmul --help lacks {opt}");
    }
}

const DOCUMENT_NUMBERS: [&str; 5] = [
    "-21",
    "[127, -64, -128, 0]",
    "[10049, -16256]",
    "4662",
    "[14711, -11594]",
];
const SPEC_NUMBERS: [&str; 2] = ["(0.46875, -0.3125)", "-22"];

#[test]
fn walkthrough_document_mode_prints_the_documents_integers() {
    let (out, err) = ok(&["walkthrough", "--mode", "document"]);
    assert_eq!(err, "");
    for n in DOCUMENT_NUMBERS {
        assert!(out.contains(n), "document mode lacks {n}:\n{out}");
    }
    assert!(out.contains("zero-point     computed -21"), "{out}");
}

#[test]
fn walkthrough_spec_mode_prints_the_spec_result_and_half_even_zero_point() {
    let (out, err) = ok(&["walkthrough", "--mode", "spec"]);
    assert_eq!(err, "");
    for n in SPEC_NUMBERS {
        assert!(out.contains(n), "spec mode lacks {n}:\n{out}");
    }
    assert!(out.contains("zero-point     computed -22"), "{out}");
}

#[test]
fn walkthrough_both_is_the_default_mode() {
    let (both, _) = ok(&["walkthrough", "--mode", "both"]);
    let (default, err) = ok(&["walkthrough"]);
    assert_eq!(err, "");
    assert_eq!(both, default);
    for n in DOCUMENT_NUMBERS.iter().chain(&SPEC_NUMBERS) {
        assert!(both.contains(n), "both modes lack {n}:\n{both}");
    }
}

#[test]
fn without_a_terminal_the_explorer_explains_the_headless_commands() {
    // Under the test harness stdin and stdout are pipes, not a terminal.
    for args in [&[][..], &["tui"][..]] {
        qlab().args(args).assert().code(1).stdout("").stderr(
            "qlab: error: the interactive explorer needs a terminal; for headless use try \
                 `qlab run`, `qlab walkthrough` or `qlab --help`\n",
        );
    }
}

#[test]
fn walkthrough_refuses_an_unknown_mode() {
    qlab()
        .args(["walkthrough", "--mode", "nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "invalid value 'nope' for '--mode <MODE>'",
        ));
}

#[test]
fn formats_prints_every_e2m1_code_and_the_mxfp4_cost() {
    let (out, _) = ok(&["formats"]);
    for code in 0u8..16 {
        let v = e2m1(code);
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("0x{code:X} ")))
            .unwrap_or_else(|| panic!("no line for code 0x{code:X}:\n{out}"));
        let fields: Vec<&str> = line.split_whitespace().collect();
        // code, sign, exponent bits, mantissa bit, value, 2·value
        assert_eq!(fields.len(), 6, "{line}");
        assert_eq!(
            fields[4].parse::<f32>().unwrap().to_bits(),
            v.to_bits(),
            "{line}"
        );
        assert_eq!(fields[5].parse::<f32>().unwrap(), 2.0 * v, "{line}");
        assert_eq!(fields[1], if code & 8 != 0 { "1" } else { "0" }, "{line}");
    }
    assert!(out.contains("4.25"), "{out}");
    assert!(out.contains("0xFF = NaN"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// quantize --format mxfp4
// ---------------------------------------------------------------------------------------------

#[test]
fn mxfp4_quantize_reproduces_the_spec_block() {
    let d = Dir::new();
    let input = d.f32("block.npy", &[32], &SPEC_BLOCK);
    let (out, codes, scales, packed) = (
        d.path("deq.npy"),
        d.path("codes.npy"),
        d.path("scales.npy"),
        d.path("packed.npy"),
    );
    let (stdout, stderr) = ok(&[
        "quantize",
        s(&input),
        "--format",
        "mxfp4",
        "--out",
        s(&out),
        "--codes",
        s(&codes),
        "--scales",
        s(&scales),
        "--packed",
        s(&packed),
    ]);
    assert_eq!((stdout.as_str(), stderr.as_str()), ("", ""));

    assert_eq!(read_u8(&codes), (vec![32], SPEC_CODES.to_vec()));
    assert_eq!(read_u8(&scales), (vec![1], vec![0x7C]));
    let (shape, bytes) = read_u8(&packed);
    assert_eq!(shape, vec![16]);
    assert_eq!(hex(&bytes), SPEC_PACKED_HEX);

    let (shape, deq) = read_f32(&out);
    assert_eq!(shape, vec![32]);
    let expected: Vec<f32> = SPEC_CODES.iter().map(|&c| e2m1(c) * 0.125).collect();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&deq),
        bits(&expected),
        "dequantized (sign of zero included)"
    );
}

#[test]
fn mxfp4_quantize_2d_input_gives_one_scale_per_row_and_block() {
    let d = Dir::new();
    // Row r holds the spec block (amax 0.7, byte 0x7C) scaled by 2^r, then 8 values of 2^r.
    let mut data = Vec::new();
    for r in 0..3 {
        let f = f32::powi(2.0, r);
        data.extend(SPEC_BLOCK.iter().map(|v| v * f));
        data.extend([f; 8]);
    }
    let input = d.f32("m.npy", &[3, 40], &data);
    let (out, codes, scales, packed) = (
        d.path("deq.npy"),
        d.path("codes.npy"),
        d.path("scales.npy"),
        d.path("packed.npy"),
    );
    ok(&[
        "quantize",
        s(&input),
        "--format",
        "mxfp4",
        "--block-size",
        "32",
        "--out",
        s(&out),
        "--codes",
        s(&codes),
        "--scales",
        s(&scales),
        "--packed",
        s(&packed),
    ]);
    // Second block: amax 2^r = 1·2^r, e = r − 2, byte 125 + r; all elements code 0x6 (4).
    assert_eq!(
        read_u8(&scales),
        (vec![3, 2], vec![0x7C, 0x7D, 0x7D, 0x7E, 0x7E, 0x7F])
    );
    let (shape, c) = read_u8(&codes);
    assert_eq!(shape, vec![3, 40]);
    for r in 0..3 {
        assert_eq!(&c[r * 40..r * 40 + 32], SPEC_CODES, "row {r}");
        assert_eq!(&c[r * 40 + 32..r * 40 + 40], [0x6; 8], "row {r}");
    }
    let (shape, p) = read_u8(&packed);
    assert_eq!(shape, vec![3, 20]);
    assert_eq!(hex(&p[..16]), SPEC_PACKED_HEX);
    let (shape, deq) = read_f32(&out);
    assert_eq!(shape, vec![3, 40]);
    assert_eq!(&deq[32..40], [1.0; 8]);
    assert_eq!(&deq[112..120], [4.0; 8]);
}

#[test]
fn mxfp4_quantize_rceil_scale_rule() {
    let d = Dir::new();
    let input = d.f32("v.npy", &[4], &[7.9, -7.0, 6.5, 1.0]);
    let (out, codes, scales) = (d.path("deq.npy"), d.path("codes.npy"), d.path("scales.npy"));
    let base = ["quantize", s(&input), "--format", "mxfp4", "--out", s(&out)];
    let outputs = ["--codes", s(&codes), "--scales", s(&scales)];

    ok(&[&base[..], &outputs[..], &["--scale-rule", "rceil"]].concat());
    assert_eq!(read_u8(&scales), (vec![1], vec![0x80]));
    assert_eq!(read_u8(&codes), (vec![4], vec![0x6, 0xE, 0x5, 0x1]));
    assert_eq!(read_f32(&out).1, [8.0, -8.0, 6.0, 1.0]);

    // The default (floor) rule clips instead: DESIGN §2 row 3.
    ok(&[&base[..], &outputs[..]].concat());
    assert_eq!(read_u8(&scales), (vec![1], vec![0x7F]));
    assert_eq!(read_u8(&codes), (vec![4], vec![0x7, 0xF, 0x7, 0x2]));
}

#[test]
fn mxfp4_quantize_ggml_layout() {
    let d = Dir::new();
    // Two rows of two blocks: the spec block, then the spec block negated and halved.
    let mut row = SPEC_BLOCK.to_vec();
    row.extend(SPEC_BLOCK.iter().map(|v| -v / 2.0));
    let mut data = row.clone();
    data.extend(row.iter().map(|v| v * 4.0));
    let input = d.f32("m.npy", &[2, 64], &data);
    let (out, codes, scales, ggml) = (
        d.path("deq.npy"),
        d.path("codes.npy"),
        d.path("scales.npy"),
        d.path("ggml.npy"),
    );
    ok(&[
        "quantize",
        s(&input),
        "--format",
        "mxfp4",
        "--out",
        s(&out),
        "--codes",
        s(&codes),
        "--scales",
        s(&scales),
        "--ggml",
        s(&ggml),
    ]);
    let (_, c) = read_u8(&codes);
    let (_, sc) = read_u8(&scales);
    assert_eq!(sc, [0x7C, 0x7B, 0x7E, 0x7D]);
    let (shape, g) = read_u8(&ggml);
    assert_eq!(shape, vec![2, 2 * 17]);
    assert_eq!(g.len(), 4 * 17);
    for (b, block) in g.chunks(17).enumerate() {
        assert_eq!(block[0], sc[b], "block {b}: scale byte first");
        let cb = &c[b * 32..b * 32 + 32];
        for j in 0..16 {
            assert_eq!(block[1 + j], cb[j] | cb[j + 16] << 4, "block {b}, qs[{j}]");
        }
    }
    // The first block spelled out: never the linear layout.
    assert_eq!(hex(&g[..17]), "7ca74b4ee254e950178f76c33d62d90621");
}

#[test]
fn mxfp4_quantize_with_nan_succeeds_and_reports_nan_blocks() {
    let d = Dir::new();
    let mut data = vec![1.0f32; 64];
    data[40] = f32::NAN;
    let input = d.f32("nan.npy", &[64], &data);
    let (out, scales) = (d.path("deq.npy"), d.path("scales.npy"));
    let (stdout, stderr) = ok(&[
        "quantize",
        s(&input),
        "--format",
        "mxfp4",
        "--out",
        s(&out),
        "--scales",
        s(&scales),
    ]);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "qlab: 1 of 2 blocks held NaN or Inf and dequantize to NaN (scale byte 0xFF)\n"
    );
    // amax 1 = 1·2^0: e = 0 − 2, byte 0x7D.
    assert_eq!(read_u8(&scales), (vec![2], vec![0x7D, 0xFF]));
    let (_, deq) = read_f32(&out);
    assert!(deq[..32].iter().all(|&v| v == 1.0));
    assert!(deq[32..].iter().all(|v| v.is_nan()));
}

// ---------------------------------------------------------------------------------------------
// quantize --format int8
// ---------------------------------------------------------------------------------------------

/// What `quantize --format int8` wrote.
#[derive(Debug, PartialEq)]
struct Int8Out {
    shape: Vec<usize>,
    codes: Vec<i8>,
    scales: Vec<f32>,
    zero_points: Vec<i32>,
    dequantized: Vec<f32>,
}

/// Runs `quantize --format int8` on `input` with `extra` options, writing every output.
fn int8_quantize(d: &Dir, input: &Path, extra: &[&str]) -> Int8Out {
    let (out, codes, scales, zps) = (
        d.path("deq.npy"),
        d.path("codes.npy"),
        d.path("scales.npy"),
        d.path("zps.npy"),
    );
    let args = [
        "quantize",
        s(input),
        "--format",
        "int8",
        "--out",
        s(&out),
        "--codes",
        s(&codes),
        "--scales",
        s(&scales),
        "--zero-points",
        s(&zps),
    ];
    let (stdout, stderr) = ok(&[&args[..], extra].concat());
    assert_eq!((stdout.as_str(), stderr.as_str()), ("", ""));
    let (shape, codes) = read_i8(&codes);
    let (scale_shape, scales) = read_f32(&scales);
    let (zp_shape, zero_points) = read_i32(&zps);
    let (deq_shape, dequantized) = read_f32(&out);
    assert_eq!(scale_shape, vec![scales.len()]);
    assert_eq!(zp_shape, scale_shape);
    assert_eq!(deq_shape, shape, "dequantized output has the input's shape");
    Int8Out {
        shape,
        codes,
        scales,
        zero_points,
        dequantized,
    }
}

#[test]
fn int8_quantize_floor_reproduces_the_document() {
    let d = Dir::new();
    let input = d.f32("w.npy", &[2, 2], &SEED_W);
    let q = int8_quantize(&d, &input, &["--rounding", "floor"]);
    assert_eq!(q.shape, [2, 2]);
    assert_eq!(q.codes, [127, -64, -128, 0]);
    assert_eq!(q.zero_points, [-21]);
    assert_eq!(q.scales, [(0.7f32 - -0.5f32) / 255.0]);
    // real = scale · (q − zp)
    let expected: Vec<f32> = [127, -64, -128, 0]
        .iter()
        .map(|c| q.scales[0] * (c + 21) as f32)
        .collect();
    assert_eq!(q.dequantized, expected);
}

#[test]
fn int8_quantize_default_is_half_even() {
    let d = Dir::new();
    let input = d.f32("w.npy", &[2, 2], &SEED_W);
    let q = int8_quantize(&d, &input, &[]);
    assert_eq!(q.codes, [127, -64, -128, -1]);
    assert_eq!(q.zero_points, [-22]);
    assert_eq!(int8_quantize(&d, &input, &["--rounding", "half-even"]), q);
}

#[test]
fn int8_quantize_symmetric_uses_the_restricted_range() {
    let d = Dir::new();
    let input = d.f32("v.npy", &[4], &[-1.0, 0.4, 0.3, 0.0]);
    let q = int8_quantize(&d, &input, &["--scheme", "symmetric"]);
    assert_eq!(q.shape, [4]);
    assert_eq!(q.zero_points, [0]);
    assert_eq!(q.scales, [1.0f32 / 127.0]);
    assert_eq!(q.codes, [-127, 51, 38, 0]);
    // Asymmetric on the same data reaches −128.
    assert_eq!(int8_quantize(&d, &input, &[]).codes[0], -128);
}

#[test]
fn int8_quantize_per_channel_writes_one_scale_per_row() {
    let d = Dir::new();
    let data = [0.7, -0.2, -0.5, 0.1, 3.0, -1.0, 1.0, 0.0, -4.0];
    let input = d.f32("m.npy", &[3, 3], &data);
    let q = int8_quantize(&d, &input, &["--granularity", "channel"]);
    assert_eq!(q.shape, [3, 3]);
    assert_eq!(
        q.scales,
        [(0.7f32 - -0.5f32) / 255.0, 4.0 / 255.0, 5.0 / 255.0]
    );
    assert_eq!(q.zero_points, [-22, -64, 76]);
    // Each row's own minimum maps to −128 and its maximum to 127.
    for (r, (hi, lo)) in [(0, 2), (4, 5), (6, 8)].into_iter().enumerate() {
        assert_eq!((q.codes[hi], q.codes[lo]), (127, -128), "row {r}");
    }
    let tensor = int8_quantize(&d, &input, &[]);
    assert_eq!(tensor.scales, [7.0f32 / 255.0]);
    assert_eq!(tensor.zero_points.len(), 1);
}

#[test]
fn int8_quantize_stochastic_rounding_is_seeded() {
    let d = Dir::new();
    let data: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin()).collect();
    let input = d.f32("v.npy", &[64], &data);
    let run =
        |seed: &str| int8_quantize(&d, &input, &["--rounding", "stochastic", "--seed", seed]).codes;
    assert_eq!(run("7"), run("7"));
    assert_ne!(run("7"), run("8"));
}

// ---------------------------------------------------------------------------------------------
// matmul
// ---------------------------------------------------------------------------------------------

/// Runs `matmul W x --format <format> --out y.npy extra…`; returns (y shape, y, stderr).
fn matmul(
    d: &Dir,
    w: &Path,
    x: &Path,
    format: &str,
    extra: &[&str],
) -> (Vec<usize>, Vec<f32>, String) {
    let out = d.path("y.npy");
    let args = ["matmul", s(w), s(x), "--format", format, "--out", s(&out)];
    let (stdout, stderr) = ok(&[&args[..], extra].concat());
    assert_eq!(stdout, "");
    let (shape, y) = read_f32(&out);
    (shape, y, stderr)
}

fn assert_summary(stderr: &str, prefix: &str) {
    assert_eq!(
        stderr.lines().count(),
        1,
        "one-line summary expected:\n{stderr}"
    );
    assert!(stderr.starts_with(prefix), "{stderr}");
    assert!(stderr.contains("SQNR"), "{stderr}");
    assert!(stderr.contains("max abs error"), "{stderr}");
    assert!(
        stderr.trim_end().ends_with("vs the f64 reference"),
        "{stderr}"
    );
}

#[test]
fn matmul_mxfp4_on_the_seed_is_exact() {
    let d = Dir::new();
    let (w, x) = (
        d.f32("w.npy", &[2, 2], &SEED_W),
        d.f32("x.npy", &[2], &SEED_X),
    );
    let (shape, y, err) = matmul(&d, &w, &x, "mxfp4", &[]);
    assert_eq!(shape, vec![2]);
    assert_eq!(y, [0.46875, -0.3125]);
    assert_summary(&err, "mxfp4: W (2, 2) · x (2,) → y (2,): SQNR ");
    // One block over the whole tensor gives the same numbers here (one row per block anyway).
    let (_, y64, _) = matmul(
        &d,
        &w,
        &x,
        "mxfp4",
        &["--accumulator", "f64", "--block-size", "tensor"],
    );
    assert_eq!(y64, [0.46875, -0.3125]);
}

#[test]
fn matmul_f64_is_the_reference() {
    let d = Dir::new();
    let (w, x) = (
        d.f32("w.npy", &[2, 2], &SEED_W),
        d.f32("x.npy", &[2], &SEED_X),
    );
    let (shape, y, err) = matmul(&d, &w, &x, "f64", &[]);
    assert_eq!(shape, vec![2]);
    for (got, want) in y.iter().zip([0.44f32, -0.34]) {
        assert!(
            (got - want).abs() <= 4.0 * f32::EPSILON * want.abs(),
            "{got} vs {want}"
        );
    }
    assert_summary(&err, "f64: W (2, 2) · x (2,) → y (2,): SQNR ");
}

#[test]
fn matmul_int8_on_the_seed_matches_the_spec_walkthrough() {
    let d = Dir::new();
    let (w, x) = (
        d.f32("w.npy", &[2, 2], &SEED_W),
        d.f32("x.npy", &[2], &SEED_X),
    );
    let (shape, y, err) = matmul(&d, &w, &x, "int8", &[]);
    assert_eq!(shape, vec![2]);
    // corrected [14933, −11467] · (sW · sx), DESIGN §3 (0.4427, −0.3399).
    let s = ((0.7f32 - -0.5f32) / 255.0) * (0.8f32 / 127.0);
    assert_eq!(y, [14933.0 * s, -11467.0 * s]);
    assert_summary(&err, "int8: W (2, 2) · x (2,) → y (2,): SQNR ");
    // Floor rounding gives the document's corrected integers.
    let (_, y, _) = matmul(&d, &w, &x, "int8", &["--rounding", "floor"]);
    assert_eq!(y, [14711.0 * s, -11594.0 * s]);
}

#[test]
fn matmul_with_a_2d_x_gives_m_by_n() {
    let d = Dir::new();
    let w = d.f32("w.npy", &[2, 2], &SEED_W);
    // Columns: the seed x, and its negation, and (1, 0).
    let x = d.f32("x.npy", &[2, 3], &[0.8, -0.8, 1.0, 0.6, -0.6, 0.0]);
    for format in ["int8", "mxfp4", "f64"] {
        let (shape, y, err) = matmul(&d, &w, &x, format, &[]);
        assert_eq!(shape, vec![2, 3], "{format}");
        assert_summary(
            &err,
            &format!("{format}: W (2, 2) · x (2, 3) → y (2, 3): SQNR "),
        );
        if format == "mxfp4" {
            assert_eq!(y, [0.46875, -0.46875, 0.75, -0.3125, 0.3125, -0.5]);
        }
    }
}

#[test]
fn matmul_mxfp4_reports_nan_blocks() {
    let d = Dir::new();
    let w = d.f32("w.npy", &[2, 2], &[0.7, f32::NAN, -0.5, 0.1]);
    let x = d.f32("x.npy", &[2], &SEED_X);
    let (_, y, err) = matmul(&d, &w, &x, "mxfp4", &[]);
    assert!(y[0].is_nan());
    assert_eq!(y[1], -0.3125);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.trim_end()
            .contains("; NaN blocks (NaN/Inf inputs): 1 of 2 in W, 0 of 1 in x"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Bad inputs
// ---------------------------------------------------------------------------------------------

/// `quantize <input> --format <format> --out <dir>/out.npy`, expected to fail with `message`
/// (in which `{}` stands for the input's path).
fn quantize_fails(d: &Dir, input: &Path, format: &str, extra: &[&str], message: &str) {
    let out = d.path("out.npy");
    let args = ["quantize", s(input), "--format", format, "--out", s(&out)];
    let message = message.replace("{}", s(input));
    fails_without_output(d, &[&args[..], extra].concat(), &message, &out);
}

#[test]
fn missing_input_file() {
    let d = Dir::new();
    let missing = d.path("missing.npy");
    for format in ["int8", "mxfp4"] {
        quantize_fails(
            &d,
            &missing,
            format,
            &[],
            "{}: No such file or directory (os error 2)",
        );
    }
}

#[test]
fn text_file_is_not_an_npy() {
    let d = Dir::new();
    let input = d.bytes("data.npy", b"0.7,-0.2\n-0.5,0.1\n");
    quantize_fails(
        &d,
        &input,
        "int8",
        &[],
        r"{}: not a .npy file (missing the \x93NUMPY magic)",
    );
}

#[test]
fn int64_dtype_is_named() {
    let d = Dir::new();
    let payload: Vec<u8> = [1i64, 2].iter().flat_map(|v| v.to_le_bytes()).collect();
    let input = d.bytes(
        "i8.npy",
        &npy_with_header(
            "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
            &payload,
        ),
    );
    quantize_fails(
        &d,
        &input,
        "mxfp4",
        &[],
        "{}: dtype '<i8' (int64) is not supported; expected float16 ('<f2'), bfloat16 ('<V2', as ml_dtypes saves it), float32 ('<f4') or float64 ('<f8')",
    );
}

#[test]
fn fortran_order_float16_and_bfloat16_are_read_as_their_values() {
    // Fortran order (2, 3): memory holds column after column; the C-order array is
    // [[1, 3, 5], [2, 4, 6]]. float16 and ml_dtypes' bfloat16 (`<V2`) of the same values.
    let d = Dir::new();
    let c = d.f32("c.npy", &[2, 3], &[1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
    let f = d.bytes(
        "f.npy",
        &npy_with_header(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
            &f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        ),
    );
    let halfs: Vec<u8> = [1.0f32, 3.0, 5.0, 2.0, 4.0, 6.0]
        .iter()
        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
        .collect();
    let h = d.bytes(
        "h.npy",
        &npy_with_header(
            "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }",
            &halfs,
        ),
    );
    // bfloat16 1.0 = 0x3F80, 3.0 = 0x4040, 5.0 = 0x40A0, 2.0 = 0x4000, 4.0 = 0x4080, 6.0 = 0x40C0.
    let bf: Vec<u8> = [0x3F80u16, 0x4040, 0x40A0, 0x4000, 0x4080, 0x40C0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let b = d.bytes(
        "b.npy",
        &npy_with_header(
            "{'descr': '<V2', 'fortran_order': False, 'shape': (2, 3), }",
            &bf,
        ),
    );
    for (input, out) in [
        (&c, "qc.npy"),
        (&f, "qf.npy"),
        (&h, "qh.npy"),
        (&b, "qb.npy"),
    ] {
        let o = qlab()
            .args([
                "quantize",
                s(input),
                "--format",
                "f32",
                "--out",
                s(&d.path(out)),
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let want = qlab::data::npy::read(&d.path("qc.npy")).unwrap();
    assert_eq!(want.data, [1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
    for out in ["qf.npy", "qh.npy", "qb.npy"] {
        assert_eq!(qlab::data::npy::read(&d.path(out)).unwrap(), want, "{out}");
    }
}

#[test]
fn three_dimensions_are_refused() {
    let d = Dir::new();
    let input = d.bytes(
        "3d.npy",
        &npy_with_header(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 2), }",
            &f32_bytes(&[0.0; 8]),
        ),
    );
    quantize_fails(
        &d,
        &input,
        "mxfp4",
        &[],
        "{}: array has 3 dimensions (shape (2, 2, 2)); expected 1 or 2",
    );
}

#[test]
fn empty_array_is_refused() {
    let d = Dir::new();
    let input = d.bytes(
        "empty.npy",
        &npy_with_header(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }",
            &[],
        ),
    );
    quantize_fails(
        &d,
        &input,
        "int8",
        &[],
        "{}: array of shape (0, 3) is empty; expected at least one element",
    );
    let x = d.f32("x.npy", &[3], &[1.0; 3]);
    let out = d.path("y.npy");
    fails_without_output(
        &d,
        &[
            "matmul",
            s(&input),
            s(&x),
            "--format",
            "f64",
            "--out",
            s(&out),
        ],
        &format!(
            "{}: array of shape (0, 3) is empty; expected at least one element",
            s(&input)
        ),
        &out,
    );
}

#[test]
fn truncated_data_is_refused() {
    let d = Dir::new();
    let mut bytes = encode(&[4], &NpyData::F32(&[1.0; 4]));
    bytes.truncate(bytes.len() - 3);
    let input = d.bytes("t.npy", &bytes);
    quantize_fails(
        &d,
        &input,
        "mxfp4",
        &[],
        "{}: header declares shape (4,) of <f4 (16 bytes of data) but the file holds 13 bytes after the header",
    );
    // Cut inside the header.
    let input = d.bytes("h.npy", &bytes[..20]);
    quantize_fails(&d, &input, "int8", &[], "{}: truncated .npy header");
}

#[test]
fn int8_quantize_refuses_nan_naming_its_index() {
    let d = Dir::new();
    let input = d.f32("nan.npy", &[2, 3], &[0.0, 1.0, 2.0, 3.0, f32::NAN, 5.0]);
    quantize_fails(
        &d,
        &input,
        "int8",
        &[],
        "{}: INT8 cannot quantize NaN at index (1, 1); remove NaN/Inf or use an MX format",
    );
    let input = d.f32("inf.npy", &[2, 2], &[0.0, f32::NEG_INFINITY, 1.0, 2.0]);
    quantize_fails(
        &d,
        &input,
        "int8",
        &[],
        "{}: INT8 cannot quantize -inf at index (0, 1); remove NaN/Inf or use an MX format",
    );
}

#[test]
fn int8_matmul_refuses_nan_naming_the_operand_and_index() {
    let d = Dir::new();
    let w = d.f32("w.npy", &[2, 2], &SEED_W);
    let x = d.f32("x.npy", &[2, 2], &[0.8, 0.1, f32::NAN, 0.2]);
    let out = d.path("y.npy");
    fails_without_output(
        &d,
        &["matmul", s(&w), s(&x), "--format", "int8", "--out", s(&out)],
        &format!(
            "{}: INT8 cannot quantize NaN at index (1, 0); remove NaN/Inf or use an MX format",
            s(&x)
        ),
        &out,
    );
}

#[test]
fn options_of_the_other_format_are_refused() {
    let d = Dir::new();
    let input = d.f32("w.npy", &[2, 2], &SEED_W);
    let zp = d.path("zp.npy");
    quantize_fails(
        &d,
        &input,
        "mxfp4",
        &["--scheme", "symmetric"],
        "--scheme does not apply to --format mxfp4",
    );
    quantize_fails(
        &d,
        &input,
        "mxfp4",
        &["--rounding", "floor", "--zero-points", s(&zp)],
        "--rounding, --zero-points do not apply to --format mxfp4",
    );
    assert!(!zp.exists());
    quantize_fails(
        &d,
        &input,
        "int8",
        &["--block-size", "16"],
        "--block-size does not apply to --format int8",
    );
    quantize_fails(
        &d,
        &input,
        "int8",
        &["--scale-rule", "ceil"],
        "--scale-rule does not apply to --format int8",
    );

    let x = d.f32("x.npy", &[2], &SEED_X);
    let out = d.path("y.npy");
    let matmul = |format: &str, extra: &[&str], message: &str| {
        let args = [
            "matmul",
            s(&input),
            s(&x),
            "--format",
            format,
            "--out",
            s(&out),
        ];
        fails_without_output(&d, &[&args[..], extra].concat(), message, &out);
    };
    matmul(
        "mxfp4",
        &["--w-scheme", "symmetric"],
        "--w-scheme does not apply to --format mxfp4",
    );
    matmul(
        "int8",
        &["--accumulator", "f64"],
        "--accumulator does not apply to --format int8",
    );
    matmul(
        "f64",
        &["--x-granularity", "channel", "--block-size", "8"],
        "--x-granularity, --block-size do not apply to --format f64",
    );
}

#[test]
fn block_size_zero_is_refused() {
    let d = Dir::new();
    let input = d.f32("w.npy", &[4], &[1.0; 4]);
    let out = d.path("out.npy");
    qlab()
        .args([
            "quantize",
            s(&input),
            "--format",
            "mxfp4",
            "--block-size",
            "0",
            "--out",
            s(&out),
        ])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(
            "invalid value '0' for '--block-size <BLOCK_SIZE>': \
             invalid block size '0'; expected an integer ≥ 1 or 'tensor'",
        ));
    assert!(!out.exists());
}

#[test]
fn unknown_scale_rule_is_a_usage_error() {
    let d = Dir::new();
    let input = d.f32("w.npy", &[4], &[1.0; 4]);
    let out = d.path("out.npy");
    qlab()
        .args([
            "quantize",
            s(&input),
            "--format",
            "mxfp4",
            "--scale-rule",
            "nearest",
            "--out",
            s(&out),
        ])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(
            "qlab: error: invalid value 'nearest' for '--scale-rule <SCALE_RULE>' \
             [possible values: floor, ceil, even, rceil] (see --help)\n",
        ));
    assert!(!out.exists());
}

#[test]
fn unknown_rounding_is_refused() {
    let d = Dir::new();
    let input = d.f32("w.npy", &[2, 2], &SEED_W);
    let out = d.path("o.npy");
    qlab()
        .args([
            "quantize",
            s(&input),
            "--format",
            "int8",
            "--rounding",
            "nearest",
            "--out",
            s(&out),
        ])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(
            "invalid value 'nearest' for '--rounding <ROUNDING>'",
        ))
        .stderr(predicate::str::contains(
            "[possible values: half-even, half-away, floor, stochastic]",
        ));
    assert!(!out.exists());
}

#[test]
fn seed_without_stochastic_rounding_is_refused() {
    let d = Dir::new();
    let input = d.f32("w.npy", &[2, 2], &SEED_W);
    quantize_fails(
        &d,
        &input,
        "int8",
        &["--seed", "3"],
        "--seed applies to --rounding stochastic only",
    );
    quantize_fails(
        &d,
        &input,
        "int8",
        &["--seed", "3", "--rounding", "floor"],
        "--seed applies to --rounding stochastic only",
    );
    let x = d.f32("x.npy", &[2], &SEED_X);
    let out = d.path("y.npy");
    fails_without_output(
        &d,
        &[
            "matmul",
            s(&input),
            s(&x),
            "--format",
            "int8",
            "--seed",
            "3",
            "--out",
            s(&out),
        ],
        "--seed applies to --rounding stochastic only",
        &out,
    );
}

#[test]
fn ggml_needs_blocks_of_32() {
    let d = Dir::new();
    let input = d.f32("m.npy", &[2, 40], &[1.0; 80]);
    let ggml = d.path("ggml.npy");
    quantize_fails(
        &d,
        &input,
        "mxfp4",
        &["--ggml", s(&ggml)],
        "ggml block_mxfp4 needs block size 32 and K a multiple of 32; got block 32, K 40",
    );
    let input = d.f32("n.npy", &[64], &[1.0; 64]);
    quantize_fails(
        &d,
        &input,
        "mxfp4",
        &["--ggml", s(&ggml), "--block-size", "16"],
        "ggml block_mxfp4 needs block size 32 and K a multiple of 32; got block 16, K 64",
    );
    assert!(!ggml.exists());
}

#[test]
fn matmul_k_mismatch_names_both_shapes() {
    let d = Dir::new();
    let w = d.f32("w.npy", &[2, 2], &SEED_W);
    let x = d.f32("x.npy", &[3, 2], &[1.0; 6]);
    let out = d.path("y.npy");
    for format in ["int8", "mxfp4", "f64"] {
        fails_without_output(
            &d,
            &["matmul", s(&w), s(&x), "--format", format, "--out", s(&out)],
            &format!(
                "K mismatch: W ({}) has shape (2, 2) and x ({}) has shape (3, 2); W's columns must equal x's rows",
                s(&w),
                s(&x)
            ),
            &out,
        );
    }
}

#[test]
fn matmul_w_must_be_2d() {
    let d = Dir::new();
    let w = d.f32("w.npy", &[2], &[0.7, -0.2]);
    let x = d.f32("x.npy", &[2], &SEED_X);
    let out = d.path("y.npy");
    fails_without_output(
        &d,
        &["matmul", s(&w), s(&x), "--format", "f64", "--out", s(&out)],
        &format!("{}: W must be 2-D (M, K); got shape (2,)", s(&w)),
        &out,
    );
}

#[test]
fn matmul_bad_x_file_names_x() {
    let d = Dir::new();
    let w = d.f32("w.npy", &[2, 2], &SEED_W);
    let x = d.bytes("x.npy", b"not numpy");
    let out = d.path("y.npy");
    fails_without_output(
        &d,
        &[
            "matmul",
            s(&w),
            s(&x),
            "--format",
            "mxfp4",
            "--out",
            s(&out),
        ],
        &format!(r"{}: not a .npy file (missing the \x93NUMPY magic)", s(&x)),
        &out,
    );
}

#[test]
fn unwritable_output_names_the_output_path() {
    let d = Dir::new();
    let input = d.f32("w.npy", &[2, 2], &SEED_W);
    let out = d.path("no-such-dir").join("out.npy");
    fails(
        &["quantize", s(&input), "--format", "int8", "--out", s(&out)],
        &format!("{}: No such file or directory (os error 2)", s(&out)),
    );
}

#[test]
fn missing_required_options_are_usage_errors() {
    let d = Dir::new();
    let input = d.f32("w.npy", &[2, 2], &SEED_W);
    qlab()
        .args(["quantize", s(&input), "--out", s(&d.path("o.npy"))])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--format <FORMAT>"));
    qlab()
        .args([
            "quantize",
            s(&input),
            "--format",
            "fp8",
            "--out",
            s(&d.path("o.npy")),
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "invalid value 'fp8' for '--format <FORMAT>'",
        ));
    assert_eq!(d.listing(), ["w.npy"]);
}

// ---------------------------------------------------------------------------------------------
// Atomic writes
// ---------------------------------------------------------------------------------------------

#[test]
fn an_error_leaves_an_existing_output_untouched() {
    let d = Dir::new();
    let sentinel = b"previous results, not to be lost";
    let out = d.bytes("out.npy", sentinel);
    let codes = d.bytes("codes.npy", sentinel);

    // A value error after the input was read and parsed.
    let nan = d.f32("nan.npy", &[2, 2], &[0.7, f32::NAN, -0.5, 0.1]);
    let before = d.listing();
    fails(
        &[
            "quantize",
            s(&nan),
            "--format",
            "int8",
            "--out",
            s(&out),
            "--codes",
            s(&codes),
        ],
        &format!(
            "{}: INT8 cannot quantize NaN at index (0, 1); remove NaN/Inf or use an MX format",
            s(&nan)
        ),
    );
    // A shape error in matmul.
    let w = d.f32("w.npy", &[2, 3], &[1.0; 6]);
    let x = d.f32("x.npy", &[2, 2], &SEED_W);
    fails(
        &[
            "matmul",
            s(&w),
            s(&x),
            "--format",
            "mxfp4",
            "--out",
            s(&out),
        ],
        &format!(
            "K mismatch: W ({}) has shape (2, 3) and x ({}) has shape (2, 2); W's columns must equal x's rows",
            s(&w),
            s(&x)
        ),
    );
    // An option error.
    fails(
        &[
            "quantize",
            s(&x),
            "--format",
            "mxfp4",
            "--scheme",
            "symmetric",
            "--out",
            s(&out),
        ],
        "--scheme does not apply to --format mxfp4",
    );
    assert_eq!(fs::read(&out).unwrap(), sentinel);
    assert_eq!(fs::read(&codes).unwrap(), sentinel);
    let mut expected = before;
    expected.extend(["w.npy".to_string(), "x.npy".to_string()]);
    expected.sort();
    assert_eq!(d.listing(), expected, "no temporary file left behind");

    // And a success replaces it, leaving no temporary file either.
    ok(&["quantize", s(&x), "--format", "int8", "--out", s(&out)]);
    assert_eq!(read_f32(&out).0, vec![2, 2]);
    assert_eq!(d.listing(), expected);
}

#[test]
fn a_failed_secondary_output_leaves_out_untouched() {
    // BUG (reported): `quantize` writes --out first, then --codes / --scales / …; when a later
    // write fails the command exits 1 but --out has already been replaced.
    let d = Dir::new();
    let sentinel = b"previous results, not to be lost";
    let input = d.f32("w.npy", &[2, 2], &SEED_W);
    let unwritable = d.path("no-such-dir").join("codes.npy");
    for format in ["int8", "mxfp4"] {
        let out = d.bytes("out.npy", sentinel);
        fails(
            &[
                "quantize",
                s(&input),
                "--format",
                format,
                "--out",
                s(&out),
                "--codes",
                s(&unwritable),
            ],
            &format!("{}: No such file or directory (os error 2)", s(&unwritable)),
        );
        assert!(
            fs::read(&out).unwrap() == sentinel,
            "--format {format}: --out was replaced although the command failed"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// qlab bench
// ---------------------------------------------------------------------------------------------

#[test]
fn bench_measures_every_path_this_cpu_has_and_the_quantizers() {
    let (out, _) = ok(&["bench", "--sizes", "40", "--runs", "1", "--json"]);
    let r: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let names: Vec<&str> = r["gemm"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "f32 sgemm (matrixmultiply)");
    for isa in qlab::simd::Isa::supported() {
        assert!(
            names.contains(&format!("int8 gemm ({})", isa.name()).as_str()),
            "{names:?}"
        );
    }
    for g in r["gemm"].as_array().unwrap() {
        assert_eq!(g["size"], 40);
        let (lo, med, hi) = (
            g["min"].as_f64().unwrap(),
            g["median"].as_f64().unwrap(),
            g["max"].as_f64().unwrap(),
        );
        assert!(0.0 < lo && lo <= med && med <= hi, "{g}");
    }
    // Every other format of the registry, and the W4A8 / W4A16 pairs, beside them, each with
    // its ratio to the INT8 path.
    for f in qlab::family::REGISTRY {
        if f.name() == "int8" || f.name() == "mxfp4" {
            continue;
        }
        assert!(
            names.contains(&format!("{} gemm", f.name()).as_str()),
            "{names:?}"
        );
    }
    assert!(
        names.contains(&"W4A8 (int4 · int8) gemm") && names.contains(&"W4A16 (int4 · bf16) gemm")
    );
    assert!(
        r["gemm"].as_array().unwrap()[1..]
            .iter()
            .all(|g| g["vs_int8"].as_f64().unwrap() > 0.0)
    );
    let quantizers = r["quantize"].as_array().unwrap();
    assert_eq!(quantizers.len(), qlab::family::REGISTRY.len());
    assert!(
        quantizers
            .iter()
            .all(|q| q["vs_int8"].as_f64().unwrap() > 0.0)
    );
    assert_eq!(r["scaling"].as_array().unwrap().len(), 0);
    // --kernels-only: the INT8 and MXFP4 rows alone.
    let (out, _) = ok(&[
        "bench",
        "--sizes",
        "40",
        "--runs",
        "1",
        "--json",
        "--kernels-only",
    ]);
    let r: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(r["quantize"].as_array().unwrap().len(), 2);
    // An INT8 and an MXFP4 row per path, but AVX2-VNNI's MXFP4 kernel is AVX2's.
    let supported = qlab::simd::Isa::supported();
    let gemms = r["gemm"].as_array().unwrap();
    assert_eq!(
        gemms.len(),
        1 + 2 * supported.len() - usize::from(supported.contains(&qlab::simd::Isa::Avx2Vnni))
    );
    let mxfp4 = |isa: qlab::simd::Isa| format!("mxfp4 gemm ({})", isa.name());
    for isa in supported
        .iter()
        .filter(|&&i| i != qlab::simd::Isa::Avx2Vnni)
    {
        assert!(
            gemms.iter().any(|g| g["name"] == mxfp4(*isa).as_str()),
            "{gemms:?}"
        );
    }
}

#[test]
fn bench_scaling_times_one_thread_against_the_pool() {
    let (out, _) = ok(&[
        "bench",
        "--sizes",
        "48",
        "--runs",
        "3",
        "--scaling",
        "--threads",
        "2",
    ]);
    assert!(out.contains("scaling (alternating runs)"), "{out}");
    assert!(out.contains("2 threads"), "{out}");
    let rows: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("scaling"))
        .skip(1)
        .collect();
    assert!(rows[0].starts_with("int8 gemm ("), "{out}");
    assert!(
        rows.iter().all(|r| r.contains('×') && r.ends_with("GOPS")),
        "{out}"
    );
    fails(
        &["bench", "--scaling", "--threads", "1"],
        "--scaling compares one thread with several; give --threads 2 or more (or leave it out \
         on a machine with more than one core)",
    );
    fails(
        &["bench", "--runs", "0"],
        "--runs 0 is invalid; expected 1 to 1000",
    );
    fails(
        &["bench", "--runs", "1000000000000"],
        "--runs 1000000000000 is invalid; expected 1 to 1000",
    );
    for size in ["0", "8193", "100000", "4294967296", "18446744073709551615"] {
        fails(
            &["bench", "--sizes", &format!("256,{size}")],
            &format!("--sizes {size} is invalid; expected sizes from 1 to 8192"),
        );
    }
}

#[test]
fn kernel_choice_is_checked_from_the_option_and_the_environment() {
    qlab()
        .args(["--kernel", "foo", "formats"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "unknown kernel 'foo'; expected scalar, avx2, avx2-vnni, avx512-vnni or amx",
        ));
    qlab()
        .env("QLAB_KERNEL", "foo")
        .arg("formats")
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            "qlab: error: QLAB_KERNEL: unknown kernel 'foo'; expected scalar, avx2, avx2-vnni, \
             avx512-vnni or amx\n",
        );
    // The scalar path is always there; bench then measures it alone.
    let out = qlab()
        .env("QLAB_KERNEL", "scalar")
        .args(["bench", "--sizes", "16", "--runs", "1"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("int8 gemm (scalar)"), "{out}");
    assert!(!out.contains("gemm (avx"), "{out}");
    // --kernel wins over the environment.
    let out = qlab()
        .env("QLAB_KERNEL", "foo")
        .args([
            "--kernel", "scalar", "bench", "--sizes", "16", "--runs", "1",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("int8 gemm (scalar)")
    );
}

// ---------------------------------------------------------------------------------------------
// A good Unix tool: `-` for standard input, completions, a man page, --version everywhere,
// the wrong kind of file named as such
// ---------------------------------------------------------------------------------------------

#[test]
fn a_dash_reads_the_input_from_standard_input() {
    let d = Dir::new();
    let input = d.f32("block.npy", &[32], &SPEC_BLOCK);
    let (from_file, from_stdin) = (d.path("a.npy"), d.path("b.npy"));
    ok(&[
        "quantize",
        s(&input),
        "--format",
        "mxfp4",
        "--out",
        s(&from_file),
    ]);
    qlab()
        .args(["quantize", "-", "--format", "mxfp4", "--out"])
        .arg(&from_stdin)
        .write_stdin(fs::read(&input).unwrap())
        .assert()
        .success();
    assert_eq!(
        fs::read(&from_file).unwrap(),
        fs::read(&from_stdin).unwrap()
    );
    // A scenario from standard input runs as it does from its file.
    let scenario = fs::read_to_string("scenarios/gaussian.toml").unwrap();
    let by_file = qlab()
        .args(["run", "scenarios/gaussian.toml", "--json"])
        .output()
        .unwrap();
    let by_stdin = qlab()
        .args(["run", "-", "--json"])
        .write_stdin(scenario)
        .output()
        .unwrap();
    assert!(by_file.status.success() && by_stdin.status.success());
    assert_eq!(by_file.stdout, by_stdin.stdout);
}

#[test]
fn standard_input_is_read_once() {
    let d = Dir::new();
    let w = d.f32("w.npy", &[2, 2], &SEED_W);
    qlab()
        .args(["matmul", "-", "-", "--format", "int8", "--out"])
        .arg(d.path("y.npy"))
        .write_stdin(fs::read(&w).unwrap())
        .assert()
        .code(1)
        .stderr(
            "qlab: error: -: standard input was already read for another argument; give this \
             one a file path\n",
        );
    assert!(!d.path("y.npy").exists());
}

#[test]
fn completions_and_the_man_page_come_from_the_parser() {
    // Each shell's script names a subcommand its own way; a bare "run" would be found in any
    // help text.
    type Names = fn(&str) -> String;
    let entry: [(&str, &str, Names); 3] = [
        ("bash", "_qlab()", |s| format!("qlab__subcmd__{s}")),
        ("zsh", "#compdef qlab", |s| format!("'{s}:")),
        ("fish", "complete -c qlab", |s| format!("-a \"{s}\"")),
    ];
    for (shell, marker, names) in entry {
        let o = qlab().args(["completions", shell]).output().unwrap();
        assert!(o.status.success(), "{shell}");
        let text = String::from_utf8(o.stdout).unwrap();
        assert!(text.contains(marker), "{shell}: no {marker}");
        // Every subcommand is completed.
        for sub in [
            "run",
            "sweep",
            "scan",
            "merge",
            "plot",
            "quantize",
            "matmul",
            "completions",
        ] {
            assert!(text.contains(&names(sub)), "{shell} completion lacks {sub}");
        }
    }
    qlab()
        .args(["completions", "tcsh"])
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with(
            "qlab: error: invalid value 'tcsh'",
        ));
    let o = qlab().arg("man").output().unwrap();
    assert!(o.status.success());
    let man = String::from_utf8(o.stdout).unwrap();
    assert!(man.contains(".TH qlab 1"), "{man}");
    assert!(man.contains("completions"));
}

#[test]
fn every_subcommand_has_version_and_usage_errors_exit_2() {
    let version = format!("{}\n", env!("CARGO_PKG_VERSION"));
    for sub in [
        "run", "sweep", "merge", "plot", "quantize", "matmul", "scan", "bench",
    ] {
        qlab()
            .args([sub, "--version"])
            .assert()
            .success()
            .stdout(predicate::str::ends_with(version.clone()));
    }
    qlab()
        .args(["run", "--frobnicate"])
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with(
            "qlab: error: unexpected argument '--frobnicate'",
        ));
}

#[test]
fn a_sweep_file_given_to_run_and_a_scenario_given_to_sweep_say_which_command() {
    qlab()
        .args(["run", "results/block-size-outliers.sweep.toml"])
        .assert()
        .code(1)
        .stderr(
            "qlab: error: results/block-size-outliers.sweep.toml: this is a sweep file (it has \
             [[axis]] or [scenario]); run it with `qlab sweep FILE --out OUT.csv`\n",
        );
    let d = Dir::new();
    qlab()
        .args(["sweep", "scenarios/gaussian.toml", "--out"])
        .arg(d.path("o.csv"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "scenarios/gaussian.toml: this is a scenario file, not a sweep; run it with `qlab run FILE`",
        ));
    assert!(!d.path("o.csv").exists());
}

#[test]
fn shipped_scenarios_run_by_name_from_any_directory() {
    let d = Dir::new();
    let by_name = qlab()
        .current_dir(d.root())
        .args(["run", "gaussian", "--json"])
        .output()
        .unwrap();
    assert!(by_name.status.success(), "{}", stderr(&by_name));
    let by_file = qlab()
        .args(["run", "scenarios/gaussian.toml", "--json"])
        .output()
        .unwrap();
    assert_eq!(by_name.stdout, by_file.stdout);
    // A file of that name, where there is one, wins over the shipped scenario.
    d.write("gaussian", "name = \"mine\"\n");
    let o = qlab()
        .current_dir(d.root())
        .args(["run", "gaussian", "--json"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"name\": \"mine\""));
}

#[test]
fn formats_defines_every_scale_rule_and_setting() {
    let o = qlab().arg("formats").output().unwrap();
    let text = String::from_utf8(o.stdout).unwrap();
    for line in [
        "  floor  e = E − emax, never bumped (OCP spec)",
        "  ceil   e = E − emax, +1 when sig > 1",
        "  even   e = E − emax, +1 when sig ≥ 1.75",
        "  rceil  e = ceil(log2(amax / 6)), i.e. +1 when sig > 1.5",
    ] {
        assert!(text.contains(line), "no '{line}' in:\n{text}");
    }
    for key in [
        "scheme",
        "granularity",
        "rounding",
        "block_size",
        "scale_rule",
        "group_size",
        "two_level",
        "accumulator",
        "element_rounding",
        "exponent",
        "signed_zero",
    ] {
        assert!(
            text.contains(&format!("\n  {key:<17} ")),
            "setting {key} undefined"
        );
    }
}

#[test]
fn an_export_never_replaces_an_earlier_one() {
    use qlab::scenario::Scenario;
    let d = Dir::new();
    let s = Scenario::shipped("seed-walkthrough").unwrap();
    let r = qlab::experiment::run(&s).unwrap();
    let first = qlab::report::export(d.root(), "qlab-x-seed1", &r, &[]).unwrap();
    let second = qlab::report::export(d.root(), "qlab-x-seed1", &r, &[]).unwrap();
    let name = |p: &std::path::PathBuf| p.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        first.iter().map(name).collect::<Vec<_>>(),
        ["qlab-x-seed1.csv", "qlab-x-seed1-histograms.csv"]
    );
    assert_eq!(
        second.iter().map(name).collect::<Vec<_>>(),
        ["qlab-x-seed1-2.csv", "qlab-x-seed1-2-histograms.csv"]
    );
    // A stray file under either name moves the pair on too.
    d.write("qlab-x-seed1-3-histograms.csv", "mine");
    let third = qlab::report::export(d.root(), "qlab-x-seed1", &r, &[]).unwrap();
    assert_eq!(name(&third[0]), "qlab-x-seed1-4.csv");
    assert_eq!(d.read("qlab-x-seed1-3-histograms.csv"), b"mine");
}

#[test]
fn the_explorer_refuses_an_export_dir_that_is_not_a_directory() {
    qlab()
        .args(["tui", "--export-dir", "Cargo.toml"])
        .assert()
        .code(1)
        .stderr(
            "qlab: error: Cargo.toml: --export-dir: not a directory; expected an existing \
             directory\n",
        );
}
