//! Every element format bit by bit (DESIGN §7): all codes decode to the ml_dtypes table, every
//! tie between neighbours rounds to the even code from both sides, saturation at ±max (never
//! Inf or NaN), subnormals, signed zeros; the MX scale rules and published vectors.

#[path = "elements/tables.rs"]
mod tables;

use qlab::codec::minifloat::{E2M1, E2M3, E3M2, E4M3, E5M2, Element, INT8};

fn formats() -> [(Element, &'static [u32]); 5] {
    [
        (E2M1, &tables::E2M1),
        (E2M3, &tables::E2M3),
        (E3M2, &tables::E3M2),
        (E4M3, &tables::E4M3),
        (E5M2, &tables::E5M2),
    ]
}

#[test]
fn every_code_decodes_to_the_ml_dtypes_table() {
    for (el, table) in formats() {
        assert_eq!(table.len(), usize::from(el.codes()), "{}", el.name);
        for (code, &bits) in table.iter().enumerate() {
            let want = f32::from_bits(bits);
            let got = el.decode(code as u8);
            if want.is_nan() {
                assert!(got.is_nan(), "{} code {code:#04x}: {got}", el.name);
                assert!(el.is_special(code as u8));
            } else if want.is_infinite() {
                // E5M2's Inf decodes, but nothing encodes to it: finite values saturate.
                assert_eq!(got, want, "{} code {code:#04x}", el.name);
                assert!(el.is_special(code as u8));
            } else {
                assert_eq!(
                    got.to_bits(),
                    bits,
                    "{} code {code:#04x}: {got} vs {want}",
                    el.name
                );
                // Finite codes round-trip, ±0 included.
                assert_eq!(el.encode(f64::from(want)), code as u8, "{} {want}", el.name);
                // And the integer view is the value times 2^frac.
                let int = el.to_int(code as u8) as f64 * (-el.frac() as f64).exp2();
                assert_eq!(int, f64::from(want), "{} code {code:#04x}", el.name);
            }
        }
    }
}

/// The finite non-negative values of a format in code order (which is value order).
fn positives(el: &Element, table: &[u32]) -> Vec<(u8, f64)> {
    table
        .iter()
        .enumerate()
        .take(table.len() / 2)
        .map(|(c, &b)| (c as u8, f64::from(f32::from_bits(b))))
        .filter(|(_, v)| v.is_finite())
        .inspect(|&(c, _)| assert!(!el.is_special(c)))
        .collect()
}

fn next_up(v: f64) -> f64 {
    f64::from_bits(v.to_bits() + 1)
}
fn next_down(v: f64) -> f64 {
    f64::from_bits(v.to_bits() - 1)
}

#[test]
fn every_tie_goes_to_the_even_code_from_both_sides() {
    for (el, table) in formats() {
        let pos = positives(&el, table);
        let sign = el.sign_bit();
        for w in pos.windows(2) {
            let ((ca, a), (cb, b)) = (w[0], w[1]);
            let mid = (a + b) / 2.0;
            let even = if ca % 2 == 0 { ca } else { cb };
            for (v, want) in [(next_down(mid), ca), (mid, even), (next_up(mid), cb)] {
                assert_eq!(el.encode(v), want, "{} {v} between {a} and {b}", el.name);
                assert_eq!(el.encode(-v), want | sign, "{} −{v}", el.name);
            }
        }
    }
}

#[test]
fn saturation_never_gives_inf_or_nan() {
    // E4M3: 448 is 0x7E; 465 (past the 464 midpoint) and anything larger saturate to it.
    for v in [448.0, 449.0, 464.0, 465.0, 1e6, 1e300, f64::INFINITY] {
        assert_eq!(E4M3.encode(v), 0x7E, "{v}");
        assert_eq!(E4M3.encode(-v), 0xFE, "−{v}");
    }
    // E5M2: 57344 is 0x7B; never 0x7C (Inf).
    for v in [57344.0, 61440.0, 65536.0, 1e30] {
        assert_eq!(E5M2.encode(v), 0x7B, "{v}");
        assert_eq!(E5M2.encode(-v), 0xFB);
    }
    assert_eq!(E2M3.encode(100.0), 0x1F);
    assert_eq!(E3M2.encode(29.0), 0x1F);
    assert_eq!(E2M1.encode(7.0), 0x7);
    // NaN: the NaN code where the format has one.
    assert!(E4M3.decode(E4M3.encode(f64::NAN)).is_nan());
    assert!(E5M2.decode(E5M2.encode(f64::NAN)).is_nan());
}

#[test]
fn subnormals_and_signed_zeros() {
    // Smallest subnormals, and half of them (a tie with zero: to +0 / −0, the even code).
    for (el, tiny) in [
        (E2M3, 0.125),
        (E3M2, 0.0625),
        (E4M3, 2f64.powi(-9)),
        (E5M2, 2f64.powi(-16)),
    ] {
        assert_eq!(el.encode(tiny), 1, "{}", el.name);
        assert_eq!(el.encode(tiny / 2.0), 0, "{}", el.name);
        assert_eq!(el.encode(next_up(tiny / 2.0)), 1, "{}", el.name);
        assert_eq!(el.encode(-tiny / 2.0), el.sign_bit(), "{}", el.name);
        assert_eq!(el.encode(-0.001 * tiny), el.sign_bit(), "{} −0", el.name);
        assert_eq!(el.decode(el.sign_bit()).to_bits(), (-0.0f32).to_bits());
    }
}

#[test]
fn mxint8_elements_are_q_over_64() {
    assert_eq!(INT8.codes(), 256);
    for q in -127i32..=127 {
        let code = q as i8 as u8;
        assert_eq!(INT8.decode(code), q as f32 / 64.0);
        assert_eq!(INT8.encode(f64::from(q) / 64.0), code);
    }
    // Ties to even q; clamped to ±127 (−128 is never produced).
    assert_eq!(INT8.encode(0.5 / 64.0), 0);
    assert_eq!(INT8.encode(1.5 / 64.0), 2);
    assert_eq!(INT8.encode(-2.5 / 64.0), (-2i8) as u8);
    assert_eq!(INT8.encode(2.0), 127);
    assert_eq!(INT8.encode(-2.0), (-127i8) as u8);
}
