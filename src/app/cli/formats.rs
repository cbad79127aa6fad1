//! `qlab formats [NAME]`: every format of the registry with its element, scales and storage
//! cost; the E2M1 table and the E8M0 range; with a NAME, that format's whole code table.

use crate::core::codec::minifloat::{self, Element};
use crate::core::data::distribution::Role;
use crate::core::error::{Error, Result};
use crate::core::family::{self, Codec, Settings};
use crate::core::format::{e2m1, e8m0};
use crate::core::matrix::Matrix;

/// The shape whose storage cost the table gives: a 4096-wide weight of 64 rows.
const COST_SHAPE: (usize, usize) = (64, 4096);

/// Bits per element of `f` at its defaults on a [`COST_SHAPE`] operand.
fn bits_per_element(f: &dyn family::Family) -> Option<f64> {
    let (r, k) = COST_SHAPE;
    let m = Matrix::new(
        r,
        k,
        (0..r * k)
            .map(|i| ((i % 97) as f32 - 48.0) / 50.0)
            .collect(),
    )
    .ok()?;
    let s = Settings::defaults(f.knobs(), Role::W, false);
    let q = f.quantize(&m, &s).ok()?;
    Some(q.bits_per_element(r * k))
}

/// The element a format's codec names.
fn element_name(c: Codec) -> String {
    match c {
        Codec::Minifloat { name, .. } | Codec::Integer { name, .. } => name.to_string(),
        Codec::Plain { name, bits } => format!("{name} ({bits} bits)"),
    }
}

/// Every setting a variant takes (the keys of `[[variants]]`, the editor's rows), each with
/// its values and what they mean; the MX scale rules with their formulas.
pub fn settings_text() -> String {
    use crate::core::codec::mx_block::ScaleRule;
    let mut s = String::from(
        "MX scale rules (scale_rule): the block's amax = sig · 2^E, sig in [1, 2), E from its f32 \
         bits; emax = the element's largest exponent (E2M1 2, E2M3 2, E3M2 4, E4M3 8, E5M2 15)\n",
    );
    for r in ScaleRule::ALL {
        s.push_str(&format!("  {:<6} {}\n", r.name(), r.definition()));
    }
    s.push_str(
        "  (other elements: even bumps when sig ≥ 2 − 2^−(m+1), rceil when sig > max / 2^emax; \
         MXINT8 has no even)\n\nsettings (keys of [[variants]], rows of the explorer's editor; \
         which formats take each: `qlab formats NAME`)\n",
    );
    let mut seen: Vec<&str> = Vec::new();
    for f in family::REGISTRY {
        for k in f.knobs() {
            if seen.contains(&k.key) {
                continue;
            }
            seen.push(k.key);
            s.push_str(&format!("  {:<17} {}\n", k.key, k.help));
        }
    }
    s.push('\n');
    s
}

/// The `formats` command's text without a name: the registry, then E2M1 and E8M0.
pub fn formats_text() -> String {
    let (r, k) = COST_SHAPE;
    let mut s = format!(
        "format       also     element          bits/elem  vs f32  scales\n{}\n",
        "-".repeat(96)
    );
    for f in family::REGISTRY {
        let bits = bits_per_element(*f);
        s.push_str(&format!(
            "{:<12} {:<8} {:<16} {:>9}  {:>6}  {}\n",
            f.name(),
            f.aliases().join(","),
            element_name(f.codec()),
            bits.map_or("—".into(), |b| format!("{b:.4}")),
            bits.map_or("—".into(), |b| format!("{:.2}×", 32.0 / b)),
            f.scales_in_words()
        ));
    }
    s.push_str(&format!(
        "(bits per element at each format's defaults for a {r} × {k} W: codes, scales, zero \
         points; `qlab formats NAME` prints a format's code table)\n\n"
    ));
    s.push_str(&settings_text());
    s.push_str("E2M1 (MXFP4 and NVFP4 element): 1 sign, 2 exponent, 1 mantissa bit, bias 1\n");
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
        "\nE8M0 (MX block scale): byte b means 2^(b-127); 0x00 = 2^-127 = {:e}, 0x7F = 1, \
         0xFE = 2^127 = {:e}; 0xFF = NaN; no zero, no sign\n",
        e8m0::to_f64(0),
        e8m0::to_f64(0xFE)
    ));
    s.push_str(
        "E4M3 (NVFP4 block scale, FP8 element): see `qlab formats fp8-e4m3`; largest 448, \
         0x7F = NaN\n",
    );
    s
}

/// The element formats by their own names, for `qlab formats e4m3`.
const ELEMENTS: [Element; 6] = [
    minifloat::E2M1,
    minifloat::E2M3,
    minifloat::E3M2,
    minifloat::E4M3,
    minifloat::E5M2,
    minifloat::INT8,
];

/// The whole code table of a format (or of an element format, by its name: `e4m3`).
pub fn format_text(name: &str) -> Result<String> {
    let element = ELEMENTS
        .iter()
        .find(|e| e.name.eq_ignore_ascii_case(name))
        .copied();
    // A format's name wins over an element's ("int8" is the INT8 format, not MXINT8's element).
    let (title, element, codec) = match (element, family::find(name)) {
        (Some(e), None) => (e.name.to_string(), Some(e), None),
        (_, Some(f)) => {
            let c = f.codec();
            let e = match c {
                Codec::Minifloat { name, .. } => ELEMENTS.iter().find(|e| e.name == name).copied(),
                _ => None,
            };
            (
                format!("{} ({}): {}", f.name(), f.title(), f.scales_in_words()),
                e,
                Some(c),
            )
        }
        (None, None) => {
            let mut known: Vec<String> = family::names()
                .iter()
                .map(std::string::ToString::to_string)
                .collect();
            for e in ELEMENTS {
                let e = e.name.to_lowercase();
                if !known.contains(&e) {
                    known.push(e);
                }
            }
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            return Err(Error::Invalid(format!(
                "unknown format '{}'; expected {}",
                crate::core::text::echo(name),
                family::knob::one_of(&known)
            )));
        }
    };
    let mut s = format!("{title}\n");
    match (element, codec) {
        (Some(e), _) => s.push_str(&element_table(&e)),
        (None, Some(Codec::Integer { name, lo, hi })) => s.push_str(&format!(
            "{name}: integer codes {lo}…{hi} (the scheme picks its range); value = scale · (q − \
             zero point), the scale an f32 per tensor, channel or group\n"
        )),
        (None, Some(Codec::Plain { name, bits })) => s.push_str(&format!(
            "{name}: {bits}-bit IEEE values, each element rounded to nearest even on its own; \
             no scales\n"
        )),
        _ => {}
    }
    Ok(s)
}

/// Every code of an element: its bit fields, its value, and its value as an integer times
/// 2^−frac (what the GEMMs multiply).
fn element_table(e: &Element) -> String {
    let mut s = if e.exponent_bits == 0 {
        format!(
            "{}: {}-bit two's complement q in [−127, 127], value q / 64; −128 unused\n",
            e.name, e.bits
        )
    } else {
        format!(
            "{}: 1 sign, {} exponent, {} mantissa bits, bias {}; largest {}, smallest subnormal \
             {}; {}\n",
            e.name,
            e.exponent_bits,
            e.mantissa_bits,
            e.bias,
            e.max(),
            e.min_subnormal(),
            match e.specials {
                minifloat::Specials::NanOnly => "S.1111.111 is NaN, no Inf",
                minifloat::Specials::Ieee => "IEEE Inf and NaN",
                _ => "no Inf, no NaN",
            }
        )
    };
    s.push_str(&format!(
        "code  sign  exp    mant         value  integer·2^-{}\n",
        e.frac()
    ));
    for c in 0..e.codes() {
        let code = c as u8;
        let sign = code >> (e.bits - 1);
        let mag = u32::from(code & (e.sign_bit() - 1));
        let (exp, mant) = if e.exponent_bits == 0 {
            (
                String::from("-"),
                format!("{mag:0w$b}", w = e.bits as usize - 1),
            )
        } else {
            (
                format!(
                    "{:0w$b}",
                    mag >> e.mantissa_bits,
                    w = e.exponent_bits as usize
                ),
                format!(
                    "{:0w$b}",
                    mag & ((1 << e.mantissa_bits) - 1),
                    w = e.mantissa_bits as usize
                ),
            )
        };
        let v = e.decode(code);
        let (value, int) = if e.is_special(code) && e.specials == minifloat::Specials::Int {
            ("unused".to_string(), "—".to_string())
        } else if e.is_special(code) {
            (format!("{v:?}"), "—".to_string())
        } else {
            (format!("{v:?}"), e.to_int(code).to_string())
        };
        s.push_str(&format!(
            "0x{code:02X}  {sign}    {exp:>4} {mant:>7}  {value:>12}  {int}\n"
        ));
    }
    s
}
