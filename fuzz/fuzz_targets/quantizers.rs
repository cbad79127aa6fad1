//! The quantizers on arbitrary f32 bit patterns (NaN, ±Inf, subnormals, ±0), with the format
//! invariants as assertions, and every SIMD path equal to the scalar one.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qlab::Matrix;
use qlab::format::{BlockSize, Int8Config, Int8Matrix, MxConfig, MxMatrix, ScaleRule, e2m1, e8m0};
use qlab::simd::Isa;

fuzz_target!(|data: &[u8]| {
    if data.len() < 6 {
        return;
    }
    let (head, body) = data.split_at(2);
    let values: Vec<f32> = body
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if values.is_empty() {
        return;
    }
    let cols = usize::from(head[0] % 40) + 1;
    let rows = values.len().div_ceil(cols);
    let mut v = values.clone();
    v.resize(rows * cols, 0.0);
    let m = Matrix::new(rows, cols, v).unwrap();
    let block = match head[1] % 6 {
        0 => BlockSize::Tensor,
        b => BlockSize::Elements([1, 7, 16, 32, 64][usize::from(b) - 1]),
    };
    let rule = ScaleRule::ALL[usize::from(head[1] / 6) % 4];
    let cfg = MxConfig { block, rule };
    let q = MxMatrix::quantize_with(Isa::Scalar, &m, cfg).unwrap();
    for isa in Isa::supported() {
        assert_eq!(MxMatrix::quantize_with(isa, &m, cfg).unwrap(), q, "{isa:?}");
    }
    assert!(q.codes().iter().all(|&c| c < 16));
    let d = q.dequantize();
    for r in 0..rows {
        let scales = q.row_scales(r);
        for (k, (&x, &y)) in m.row(r).iter().zip(d.row(r)).enumerate() {
            let byte = scales[k / q.block()];
            match e8m0::exponent(byte) {
                None => assert!(y.is_nan()),
                Some(_) => {
                    assert!(x.is_finite(), "a finite scale for a block holding {x}");
                    let p = f64::from(y) / e8m0::to_f64(byte);
                    if y.is_finite() {
                        assert!(
                            e2m1::VALUES.iter().any(|&g| f64::from(g) == p),
                            "{y} is off the grid"
                        );
                    }
                }
            }
        }
    }
    let want = Int8Matrix::quantize_with(Isa::Scalar, &m, Int8Config::WEIGHTS);
    for isa in Isa::supported() {
        let got = Int8Matrix::quantize_with(isa, &m, Int8Config::WEIGHTS);
        match (&got, &want) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            _ => panic!("{isa:?}: {got:?} vs {want:?}"),
        }
    }
    if let Ok(q) = want {
        let (lo, hi) = (-128, 127);
        assert!(q.codes().iter().all(|&c| (lo..=hi).contains(&i32::from(c))));
        assert!(q.dequantize().data().iter().all(|v| v.is_finite()));
    }
});
