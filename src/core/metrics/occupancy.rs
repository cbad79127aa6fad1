//! Which codes and scales a quantized operand actually uses.

use serde::Serialize;

use crate::core::format::e8m0;

/// How often each E2M1 code (0x0..=0xF) occurs.
pub fn e2m1_counts(codes: &[u8]) -> Vec<u64> {
    let mut c = vec![0u64; 16];
    for &code in codes {
        c[usize::from(code & 0xF)] += 1;
    }
    c
}

/// How often each INT8 code occurs; index = code + 128.
/// How often each of `n` codes is used (codes at or above `n` are not counted).
pub fn code_counts(codes: &[u8], n: usize) -> Vec<u64> {
    let mut counts = vec![0u64; n];
    for &c in codes {
        if let Some(slot) = counts.get_mut(usize::from(c)) {
            *slot += 1;
        }
    }
    counts
}

pub fn int8_counts(codes: &[i8]) -> Vec<u64> {
    let mut c = vec![0u64; 256];
    for &code in codes {
        c[(i16::from(code) + 128) as usize] += 1;
    }
    c
}

/// One used E8M0 scale byte.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScaleCount {
    pub byte: u8,
    /// Unbiased exponent; `null` for the NaN byte 0xFF.
    pub exponent: Option<i32>,
    pub count: u64,
}

/// The scale bytes that occur, in byte order.
pub fn scale_counts(scales: &[u8]) -> Vec<ScaleCount> {
    let mut c = [0u64; 256];
    for &b in scales {
        c[usize::from(b)] += 1;
    }
    (0..=255u8)
        .filter(|&b| c[usize::from(b)] > 0)
        .map(|b| ScaleCount {
            byte: b,
            exponent: e8m0::exponent(b),
            count: c[usize::from(b)],
        })
        .collect()
}

/// Elements that were non-zero but quantized to zero.
pub fn flushed(original: &[f32], dequantized: &[f32]) -> usize {
    original
        .iter()
        .zip(dequantized)
        .filter(|&(&v, &d)| v != 0.0 && d == 0.0)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_hand() {
        assert_eq!(e2m1_counts(&[0x7, 0x7, 0x8])[7], 2);
        let c = int8_counts(&[-128, 127, 0, 0]);
        assert_eq!((c[0], c[255], c[128]), (1, 1, 2));
        assert_eq!(
            scale_counts(&[0x7C, 0xFF, 0x7C]),
            vec![
                ScaleCount {
                    byte: 0x7C,
                    exponent: Some(-3),
                    count: 2
                },
                ScaleCount {
                    byte: 0xFF,
                    exponent: None,
                    count: 1
                },
            ]
        );
        assert_eq!(flushed(&[0.1, 0.0, -0.2, 1.0], &[0.0, 0.0, -0.0, 1.0]), 2);
    }
}
