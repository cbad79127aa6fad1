//! `qlab formats`: the E2M1 table, the E8M0 range and what each format costs.

use crate::core::format::{self, e2m1, e8m0};

/// The `formats` command's text: E2M1 table, E8M0 range, storage costs.
pub fn formats_text() -> String {
    let mut s = String::from("E2M1 (MXFP4 element): 1 sign, 2 exponent, 1 mantissa bit, bias 1\n");
    s.push_str("code  bits     value   2·value\n");
    for code in 0u8..16 {
        let (sign, exp, man) = e2m1::fields(code);
        s.push_str(&format!(
            "0x{code:X}   {sign} {exp:02b} {man}  {:>6}   {:>4}\n",
            format!("{:?}", e2m1::decode(code)),
            e2m1::doubled(code)
        ));
    }
    s.push_str(&format!(
        "\nE8M0 (MXFP4 block scale): byte b means 2^(b-127); 0x00 = 2^-127 = {:e}, 0x7F = 1, \
         0xFE = 2^127 = {:e}; 0xFF = NaN; no zero, no sign\n",
        e8m0::to_f64(0),
        e8m0::to_f64(0xFE)
    ));
    s.push_str("\nstorage                         bits/element  vs f32\n");
    let mut row = |name: String, bits: f64| {
        s.push_str(&format!("{name:<32}{bits:>12.4}  {:>5.2}×\n", 32.0 / bits));
    };
    row("f32".into(), 32.0);
    row(
        "INT8, per tensor (1M elements)".into(),
        format::int8_bits_per_element(1 << 20),
    );
    row(
        "INT8, per channel (K = 4096)".into(),
        format::int8_bits_per_element(4096),
    );
    for b in [8, 16, 32, 64] {
        row(
            format!("MXFP4, block {b}"),
            format::mxfp4_bits_per_element(b),
        );
    }
    s
}
