//! The seed walkthrough (DESIGN §3): the document's integers, reproduced by the library.

use qlab::format::{Granularity, Int8Config, Int8Matrix, MxConfig, MxMatrix, Rounding, Scheme};
use qlab::kernel::{Accumulator, int8, mxfp4};
use qlab::walkthrough::{self, Mode};

fn int8(rounding: Rounding) -> (Int8Matrix, Int8Matrix, Vec<int8::Int8Cell>) {
    let cfg = |scheme| Int8Config {
        scheme,
        granularity: Granularity::Tensor,
        rounding,
    };
    let w = Int8Matrix::quantize(&walkthrough::seed_w(), cfg(Scheme::Asymmetric)).unwrap();
    let x =
        Int8Matrix::quantize(&walkthrough::seed_x().transpose(), cfg(Scheme::Symmetric)).unwrap();
    let cells = int8::gemm_cells(&w, &x);
    (w, x, cells)
}

#[test]
fn document_mode_reproduces_the_documents_integers() {
    let (w, x, cells) = int8(Rounding::Floor);
    assert_eq!(w.params()[0].zero_point, -21);
    assert_eq!(w.codes(), &[127, -64, -128, 0]);
    assert_eq!(x.codes(), &[127, 95]);
    assert_eq!([cells[0].acc, cells[1].acc], [10049, -16256]);
    assert_eq!([cells[0].correction, cells[1].correction], [4662, 4662]);
    assert_eq!([cells[0].corrected, cells[1].corrected], [14711, -11594]);
    // DESIGN §3: (0.4361, −0.3437) with the exact scales.
    assert_eq!(
        format!("{:.4} {:.4}", cells[0].y, cells[1].y),
        "0.4361 -0.3437"
    );
}

#[test]
fn spec_mode_int8_uses_round_half_even() {
    let (w, _, cells) = int8(Rounding::HalfEven);
    assert_eq!(w.params()[0].zero_point, -22);
    assert_eq!(w.codes(), &[127, -64, -128, -1]);
    assert_eq!(
        format!("{:.4} {:.4}", cells[0].y, cells[1].y),
        "0.4427 -0.3399"
    );
}

#[test]
fn spec_mode_mxfp4_is_exact() {
    let (w, x) = (walkthrough::seed_w(), walkthrough::seed_x());
    for block in ["32", "tensor"] {
        let config = MxConfig {
            block: block.parse().unwrap(),
            ..MxConfig::default()
        };
        let xt = x.transpose();
        let (qw, qx) = (
            MxMatrix::quantize(&w, config).unwrap(),
            MxMatrix::quantize(&xt, config).unwrap(),
        );
        let y = mxfp4::gemm(&qw, &qx, Accumulator::F32);
        assert_eq!(y.data(), &[0.46875, -0.3125], "block {block}");
        let q = MxMatrix::quantize(&w, config).unwrap();
        assert_eq!(
            q.codes(),
            &[0x7, 0xB, 0xE, 0x2],
            "W = [[6, −1.5], [−4, 1]] · 2^−3"
        );
        assert!(q.scales().iter().all(|&b| b == 0x7C));
    }
    let r = walkthrough::results();
    assert_eq!(r.mxfp4, [0.46875, -0.3125]);
    assert_eq!(
        r.int8_floor,
        int8(Rounding::Floor)
            .2
            .iter()
            .map(|c| c.y)
            .collect::<Vec<_>>()[..]
    );
}

#[test]
fn document_mode_checks_agree_except_the_rounded_int8_result() {
    let sections = walkthrough::sections(Mode::Document);
    let checks: Vec<_> = sections
        .iter()
        .flat_map(|s| &s.steps)
        .flat_map(|s| &s.checks)
        .collect();
    assert!(checks.len() >= 12);
    let disagreeing: Vec<&str> = checks
        .iter()
        .filter(|c| !c.agrees)
        .map(|c| c.what.as_str())
        .collect();
    assert_eq!(
        disagreeing,
        ["INT8 result"],
        "only the printed INT8 result differs"
    );
    // The MXFP4 figures the document writes with a factor 4 moved are ≈, never ✓.
    let up_to: Vec<(&str, &str)> = checks
        .iter()
        .filter_map(|c| c.up_to.map(|f| (c.what.as_str(), f)))
        .collect();
    assert_eq!(
        up_to,
        [
            ("shared scale", "×4"),
            ("W elements", "÷4"),
            ("x elements", "÷4")
        ]
    );
    let text = walkthrough::render(&sections);
    assert!(
        text.contains("≈ shared scale   computed 2^-3 = 0.125"),
        "{text}"
    );
    assert!(text.contains("document 0.5 (×4)"), "{text}");
    assert!(
        text.contains("6.4 is above E2M1's largest value: clipped to 6"),
        "{text}"
    );
    for needle in [
        "-21",
        "[127, -64, -128, 0]",
        "[10049, -16256]",
        "4662",
        "[14711, -11594]",
        "(0.46875, -0.3125)",
    ] {
        assert!(text.contains(needle), "missing {needle}");
    }
}

#[test]
fn spec_mode_says_where_it_differs_from_the_document() {
    let sections = walkthrough::sections(Mode::Spec);
    let checks: Vec<_> = sections
        .iter()
        .flat_map(|s| &s.steps)
        .flat_map(|s| &s.checks)
        .collect();
    let zp = checks.iter().find(|c| c.what == "zero-point").unwrap();
    assert!(!zp.agrees);
    assert_eq!((zp.computed.as_str(), zp.document.as_str()), ("-22", "-21"));
    let mx = checks.iter().find(|c| c.what == "MXFP4 result").unwrap();
    assert!(mx.agrees);
    assert_eq!(walkthrough::sections(Mode::Both).len(), 5);
}
