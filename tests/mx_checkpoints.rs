//! MXFP4 weights as shipped: the Hugging Face gpt-oss layout in `.safetensors`
//! (`NAME_blocks` + `NAME_scales`) and GGUF's `block_mxfp4`, decoded to the values `qlab
//! quantize` gives for the same codes and scale bytes; both scanned like any checkpoint.

mod common;

use common::*;

fn vals(n: usize) -> Vec<f32> {
    // Spread over several binades, with a few exact ties and a zero.
    (0..n)
        .map(|i| {
            let x = ((i as f32 + 1.0) * 0.731).sin() * 2f32.powi((i % 7) as i32 - 3);
            if i % 29 == 0 { 0.0 } else { x }
        })
        .collect()
}

/// `qlab quantize` of a (rows, 64) matrix to MXFP4: the dequantized values, and the packed
/// (linear), scale and ggml bytes.
fn quantized(d: &Dir, rows: usize) -> (Vec<f32>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let w = vals(rows * 64);
    d.f32("w.npy", &[rows, 64], &w);
    let o = qlab()
        .current_dir(d.root())
        .args([
            "quantize", "w.npy", "--format", "mxfp4", "--out", "deq.npy", "--packed", "p.npy",
            "--scales", "s.npy", "--ggml", "g.npy",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // The payload of a u8 .npy (version 1: 10 bytes, then the header).
    let payload = |name: &str| {
        let b = d.read(name);
        assert_eq!(b[6], 1, "{name}: npy version 1");
        let header = usize::from(u16::from_le_bytes([b[8], b[9]]));
        b[10 + header..].to_vec()
    };
    let deq = qlab::data::npy::read(&d.path("deq.npy")).unwrap().data;
    (deq, payload("p.npy"), payload("s.npy"), payload("g.npy"))
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn gpt_oss_blocks_and_scales_decode_to_qlabs_own_values() {
    let d = Dir::new();
    let (deq, packed, scales, _) = quantized(&d, 6);
    // As gpt-oss ships experts: [experts 2, rows 3, blocks 2, 16] and [2, 3, 2].
    d.bytes(
        "oss.safetensors",
        &safetensors(&[
            ("mlp.experts.down_proj_blocks", "U8", &[2, 3, 2, 16], packed),
            ("mlp.experts.down_proj_scales", "U8", &[2, 3, 2], scales),
            ("norm.weight", "F32", &[4], f32_bytes(&[1.0; 4])),
        ]),
    );
    let (m, _) = qlab::data::tensors::read_safetensors(
        &d.path("oss.safetensors"),
        Some("mlp.experts.down_proj"),
    )
    .unwrap();
    assert_eq!(m.shape(), (6, 64));
    assert_eq!(bits(m.data()), bits(&deq));
    // A scan lists it as one MXFP4 tensor of 6 × 64 values; requantized with MXFP4's floor
    // rule, the shipped values come back unchanged.
    let o = qlab()
        .current_dir(d.root())
        .args([
            "scan",
            "oss.safetensors",
            "--formats",
            "mxfp4",
            "--out",
            "s.csv",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(d.read("s.csv")).unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let h: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let row: Vec<String> = r
        .records()
        .next()
        .unwrap()
        .unwrap()
        .iter()
        .map(String::from)
        .collect();
    let col = |c: &str| row[h.iter().position(|x| x == c).unwrap()].clone();
    assert_eq!(col("w.tensor"), "mlp.experts.down_proj");
    assert_eq!(col("dtype"), "MXFP4");
    assert_eq!((col("m"), col("k")), ("6".into(), "64".into()));
    assert_eq!(col("w_sqnr_db"), "inf");
    // With the original (experts stacked, [2, 3, 64]), the shipped bytes are floor's.
    let w = qlab::data::npy::read(&d.path("w.npy")).unwrap().data;
    d.bytes(
        "orig.safetensors",
        &safetensors(&[("mlp.experts.down_proj", "F32", &[2, 3, 64], f32_bytes(&w))]),
    );
    let o = qlab()
        .current_dir(d.root())
        .args([
            "scan",
            "oss.safetensors",
            "--formats",
            "mxfp4",
            "--original",
            "orig.safetensors",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let line = out
        .lines()
        .find(|l| l.starts_with("mlp.experts.down_proj: "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("floor 100.00% / 100.00%"), "{line}");
    assert!(line.ends_with("best: floor"), "{line}");
    assert!(!line.contains("rceil 100.00% / 100.00%"), "{line}");
    let o = qlab()
        .current_dir(d.root())
        .args([
            "scan",
            "oss.safetensors",
            "--original",
            "orig.safetensors",
            "--json",
            "--quiet",
        ])
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["shipped"][0]["rules"][0]["rule"], "floor");
    assert_eq!(j["shipped"][0]["rules"][0]["scales"], 1.0);
}

/// A GGUF v3 file: `general.alignment` = 32, the given tensors (name, ggml type, extents
/// innermost first, bytes), each at an aligned offset.
fn gguf(tensors: &[(&str, u32, &[u64], Vec<u8>)]) -> Vec<u8> {
    let s = |v: &mut Vec<u8>, t: &str| {
        v.extend((t.len() as u64).to_le_bytes());
        v.extend(t.as_bytes());
    };
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend((tensors.len() as u64).to_le_bytes());
    out.extend(1u64.to_le_bytes());
    s(&mut out, "general.alignment");
    out.extend(4u32.to_le_bytes());
    out.extend(32u32.to_le_bytes());
    let mut data = Vec::new();
    for (name, t, ne, bytes) in tensors {
        s(&mut out, name);
        out.extend((ne.len() as u32).to_le_bytes());
        for e in *ne {
            out.extend(e.to_le_bytes());
        }
        out.extend(t.to_le_bytes());
        out.extend((data.len() as u64).to_le_bytes());
        data.extend(bytes);
        while !data.len().is_multiple_of(32) {
            data.push(0);
        }
    }
    while !out.len().is_multiple_of(32) {
        out.push(0);
    }
    out.extend(data);
    out
}

#[test]
fn gguf_mxfp4_and_float_tensors_decode_and_scan() {
    let d = Dir::new();
    let (deq, _, _, ggml) = quantized(&d, 4);
    let f: Vec<f32> = vals(3 * 32);
    let halfs = f16_bytes(&f);
    d.bytes(
        "m.gguf",
        &gguf(&[
            ("blk.0.ffn_down.weight", 39, &[64, 4], ggml),
            ("blk.0.attn_q.weight", 1, &[32, 3], halfs),
            (
                "blk.0.attn_k.weight",
                12,
                &[32, 3],
                vec![0u8; 3 * 32 / 32 * 34],
            ),
            ("output_norm.weight", 0, &[32], f32_bytes(&[1.0; 32])),
        ]),
    );
    let (m, _) =
        qlab::data::tensors::read_safetensors(&d.path("m.gguf"), Some("blk.0.ffn_down.weight"))
            .unwrap();
    assert_eq!(m.shape(), (4, 64));
    assert_eq!(bits(m.data()), bits(&deq));
    let (q, _) =
        qlab::data::tensors::read_safetensors(&d.path("m.gguf"), Some("blk.0.attn_q.weight"))
            .unwrap();
    assert_eq!(q.shape(), (3, 32));
    let want: Vec<f32> = f.iter().map(|&x| half::f16::from_f32(x).to_f32()).collect();
    assert_eq!(bits(q.data()), bits(&want));
    let o = qlab()
        .current_dir(d.root())
        .args(["scan", "m.gguf", "--formats", "int8", "--out", "s.csv"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("2 tensors × 1 variant"), "{err}");
    assert!(err.contains("1 of dtype GGUF type 12"), "{err}");
    assert!(err.contains("1 1-D"), "{err}");
    // An array that claims more items than the file holds ends at once, with one line.
    let mut lying = b"GGUF".to_vec();
    lying.extend(3u32.to_le_bytes());
    lying.extend(0u64.to_le_bytes());
    lying.extend(1u64.to_le_bytes());
    lying.extend(3u64.to_le_bytes());
    lying.extend(b"arr");
    lying.extend(9u32.to_le_bytes()); // an array
    lying.extend(0u32.to_le_bytes()); // of u8
    lying.extend((1u64 << 40).to_le_bytes());
    d.bytes("lying.gguf", &lying);
    let o = qlab()
        .current_dir(d.root())
        .args(["scan", "lying.gguf"])
        .output()
        .unwrap();
    assert_eq!(
        stderr(&o),
        "qlab: error: lying.gguf: not a valid GGUF file: it ends inside its header\n"
    );
    // A file that is not GGUF is one line.
    d.bytes("bad.gguf", b"GGUF\x09\x00\x00\x00");
    let o = qlab()
        .current_dir(d.root())
        .args(["scan", "bad.gguf"])
        .output()
        .unwrap();
    assert_eq!(
        stderr(&o),
        "qlab: error: bad.gguf: not a valid GGUF file: version 9; expected 2 or 3\n"
    );
}
