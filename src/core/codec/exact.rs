//! One rounding from an exact product to f32: what "an exact segment dot, scaled, rounded
//! once to f32" means when the dot is an i128 of up to ~100 bits and the scale an f64 of up
//! to 53 (a product of two f32 / E4M3 / E8M0 scales needs at most 48).

/// The f32 nearest (ties to even) to `n · scale · 2^shift`, rounded once: the exact product
/// is formed in 192-bit integers, cut to 53 bits with round-to-odd (a sticky last bit), and
/// only then rounded to f32 — which gives the correctly rounded result, since 53 ≥ 24 + 2.
/// A NaN or infinite `scale` gives NaN (or ±Inf) as f64 arithmetic would.
pub fn round_once(n: i128, scale: f64, shift: i32) -> f32 {
    if !scale.is_finite() {
        return (n as f64 * scale) as f32;
    }
    fast(n, scale, shift).unwrap_or_else(|| exact(n, scale, shift))
}

/// Far from f64's range ends, for reading about them.
const SAFE: f64 = 1e270;

/// The common case quickly: with |n| < 2^53 and everything well inside f64's range, the f64
/// product p and its exact residual e = n·s − p (one FMA) give the round-to-odd f64 of the
/// exact product — p itself when e = 0 or p's last bit is odd, else its neighbour toward e —
/// whose rounding to f32 is the correctly rounded result (53 ≥ 24 + 2).
fn fast(n: i128, scale: f64, shift: i32) -> Option<f32> {
    if n == 0 || n.unsigned_abs() >= 1 << 53 || !(-600..=600).contains(&shift) {
        return None;
    }
    let s = scale * pow2(shift);
    let x = n as f64;
    let p = x * s;
    let ok = |v: f64| v.is_normal() && v.abs() < SAFE && v.abs() > 1.0 / SAFE;
    if !ok(scale) || !ok(s) || !ok(p) {
        return None;
    }
    let e = x.mul_add(s, -p);
    let bits = p.to_bits();
    let p = if e != 0.0 && bits & 1 == 0 {
        // The neighbour on e's side: one step up in magnitude when e has p's sign.
        f64::from_bits(if (e > 0.0) == (p > 0.0) {
            bits + 1
        } else {
            bits - 1
        })
    } else {
        p
    };
    Some(p as f32)
}

/// [`round_once`] by integer arithmetic alone (any n, any finite scale).
fn exact(n: i128, scale: f64, shift: i32) -> f32 {
    if n == 0 || scale == 0.0 {
        let zero = if (n < 0) != scale.is_sign_negative() && n != 0 {
            -0.0
        } else {
            0.0
        };
        return zero;
    }
    let negative = (n < 0) != scale.is_sign_negative();
    let (m, q) = split(scale.abs());
    let a = n.unsigned_abs();
    // a · m = top · 2^64 + bottom, exactly (a < 2^128, m < 2^53).
    let lo = (a & u128::from(u64::MAX)) * u128::from(m);
    let hi = (a >> 64) * u128::from(m);
    let bottom = lo as u64;
    let top = hi + (lo >> 64);
    let len = if top != 0 {
        256 - top.leading_zeros() as i32 - 64
    } else {
        64 - bottom.leading_zeros() as i32
    };
    let sh = (len - 53).max(0);
    let mantissa: u64 = if sh == 0 {
        bottom
    } else if sh >= 64 {
        let s = (sh - 64) as u32;
        let kept = (top >> s) as u64;
        let sticky = (s > 0 && top & ((1u128 << s) - 1) != 0) || bottom != 0;
        kept | u64::from(sticky)
    } else {
        let s = sh as u32;
        let kept = ((top << (64 - s)) | u128::from(bottom >> s)) as u64;
        let sticky = bottom & ((1u64 << s) - 1) != 0;
        kept | u64::from(sticky)
    };
    // mantissa < 2^53: exact in f64; the power of two stays inside f64's normal range for
    // every scale qlab forms (|exponent| < 600).
    let v = mantissa as f64 * pow2(sh + q + shift);
    let v = v as f32;
    if negative { -v } else { v }
}

/// x = m · 2^q with m an integer below 2^53 (x finite, positive).
fn split(x: f64) -> (u64, i32) {
    let bits = x.to_bits();
    let field = ((bits >> 52) & 0x7FF) as i32;
    let frac = bits & ((1 << 52) - 1);
    if field == 0 {
        (frac, -1074)
    } else {
        (frac | (1 << 52), field - 1075)
    }
}

/// 2^e as f64, split in two factors so that any e in [−2000, 2000] is exact where the result
/// is representable.
fn pow2(e: i32) -> f64 {
    let half = e / 2;
    let p = |k: i32| f64::from_bits(((k.clamp(-1022, 1023) + 1023) as u64) << 52);
    p(half) * p(e - half)
}

#[cfg(test)]
mod tests {
    use super::{exact, fast, round_once};

    #[test]
    fn the_fast_path_is_the_exact_one() {
        // 53-bit integers times 48-bit scales (two f32 scales' product), ties and near-ties
        // included: the FMA route rounds exactly as the integer one.
        let mut count = 0u64;
        let mut next = || {
            count += 1;
            crate::core::rng::splitmix64(count)
        };
        let mut taken = 0;
        for i in 0..400_000 {
            let n = match i % 4 {
                0 => (next() >> 11) as i128 - (1 << 52),
                1 => (next() >> 40) as i128 - (1 << 23),
                // Just off a 24-bit boundary: long runs of zeros or ones below the f32 bits.
                2 => ((next() >> 40) as i128) << 29 | ((next() % 3) as i128 - 1) & ((1 << 29) - 1),
                _ => ((next() >> 40) as i128) << 28 | (1 << 27),
            };
            let sa = f64::from(f32::from_bits((next() as u32 & 0x3FFF_FFFF) | 0x0080_0000));
            let sb = f64::from(f32::from_bits((next() as u32 & 0x3FFF_FFFF) | 0x0080_0000));
            let scale = if i % 3 == 0 { sa } else { sa * sb };
            let scale = if i % 5 == 0 { -scale } else { scale };
            let shift = (next() % 300) as i32 - 150;
            if let Some(f) = fast(n, scale, shift) {
                taken += 1;
                assert_eq!(
                    f.to_bits(),
                    exact(n, scale, shift).to_bits(),
                    "{n} {scale} {shift}"
                );
            }
        }
        assert!(taken > 300_000, "the fast path was taken {taken} times");
    }

    #[test]
    fn small_products_are_the_f64_route() {
        // Below 2^53 the f64 product is exact, so one f32 rounding of it is the answer.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..100_000 {
            let n = (next() >> 40) as i128 - (1 << 23);
            let scale = f64::from(f32::from_bits((next() as u32 & 0x3FFF_FFFF) | 0x0080_0000));
            let shift = (next() % 40) as i32 - 20;
            let want = (n as f64 * scale * 2f64.powi(shift)) as f32;
            assert_eq!(
                round_once(n, scale, shift).to_bits(),
                want.to_bits(),
                "{n} {scale} {shift}"
            );
        }
    }

    #[test]
    fn long_products_round_once_not_twice() {
        // 2^60 + 2^36 + 1: to 24 bits it is just above the midpoint 2^60 + 2^36 between
        // 2^60 and 2^60 + 2^37, so it rounds up; rounding first to f64 (53 bits) would land on
        // the midpoint exactly and then tie to even, down to 2^60.
        let n: i128 = (1 << 60) + (1 << 36) + 1;
        assert_eq!(
            (n as f64) as f32,
            2f32.powi(60),
            "the double rounding this avoids"
        );
        assert_eq!(round_once(n, 1.0, 0), 2f32.powi(60) + 2f32.powi(37));
        assert_eq!(round_once(-n, 1.0, 0), -(2f32.powi(60) + 2f32.powi(37)));
        // The same through the scale's mantissa: (2^58 + 2^34 + 1/4) · 4 → the same value.
        assert_eq!(round_once(n, 0.25, 2), 2f32.powi(60) + 2f32.powi(37));
        // A tie exactly stays a tie, to even.
        assert_eq!(round_once((1 << 60) + (1 << 36), 1.0, 0), 2f32.powi(60));
        // 100-bit products times a 48-bit scale, below f32's smallest normal: the subnormal
        // result is rounded once too.
        let big: i128 = (1 << 100) + 3;
        // 2^-140 from its bits: `2f32.powi(-140)` is 0 in a debug build (compiler-rt forms
        // 1 / 2^140, and 2^140 overflows f32), its exact value only when constant-folded.
        assert_eq!(round_once(big, 1.0, -240), f32::from_bits(1 << 9));
        assert_eq!(round_once(big, 1.0, -300), 0.0);
        assert_eq!(round_once(big, 1.0, 40), f32::INFINITY);
        assert!(round_once(5, f64::NAN, 0).is_nan());
        assert_eq!(round_once(0, 2.0, 0).to_bits(), 0);
    }
}
