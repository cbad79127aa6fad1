//! Helpers the integration tests share: the binary (with a timeout, so a hang fails a test
//! instead of stalling the suite), a temporary directory with fixture writers, and small
//! conversions. Each test file uses what it needs.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use qlab::Matrix;
use qlab::data::npy::{NpyData, encode};
use tempfile::TempDir;

/// The qlab binary, stopped after 60 seconds.
pub fn qlab() -> Command {
    let mut c = Command::cargo_bin("qlab").expect("the qlab binary");
    c.timeout(Duration::from_secs(60));
    c
}

/// A command's standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Little-endian f32 bytes, as a `.npy` payload holds them.
pub fn f32_bytes(data: &[f32]) -> Vec<u8> {
    data.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A matrix's bits, for exact comparisons (every NaN the same, so NaN outputs compare equal
/// whatever their payload).
pub fn bits(m: &Matrix) -> Vec<u32> {
    m.data()
        .iter()
        .map(|v| if v.is_nan() { u32::MAX } else { v.to_bits() })
        .collect()
}

/// A temporary directory, removed with the value.
pub struct Dir(TempDir);

impl Dir {
    pub fn new() -> Self {
        Dir(tempfile::tempdir().expect("temp dir"))
    }

    pub fn root(&self) -> &Path {
        self.0.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    /// Writes a file (creating its directories) and returns its path.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).expect("create dirs");
        }
        fs::write(&p, bytes).expect("write fixture");
        p
    }

    /// [`Dir::write`] for byte slices.
    pub fn bytes(&self, name: &str, bytes: &[u8]) -> PathBuf {
        self.write(name, bytes)
    }

    /// A float32 .npy written by the library's own encoder.
    pub fn f32(&self, name: &str, shape: &[usize], data: &[f32]) -> PathBuf {
        self.bytes(name, &encode(shape, &NpyData::F32(data)))
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        fs::read(self.path(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    }

    /// Every file under the directory, relative and sorted (catches stray outputs and temp
    /// files).
    pub fn listing(&self) -> Vec<String> {
        fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
            for e in fs::read_dir(dir).expect("read dir") {
                let p = e.expect("dir entry").path();
                if p.is_dir() {
                    walk(&p, root, out);
                } else {
                    out.push(p.strip_prefix(root).unwrap().display().to_string());
                }
            }
        }
        let mut v = Vec::new();
        walk(self.root(), self.root(), &mut v);
        v.sort();
        v
    }
}

/// Hand-written `.safetensors`: `(name, dtype, shape, little-endian bytes)`.
pub fn safetensors(tensors: &[(&str, &str, &[usize], Vec<u8>)]) -> Vec<u8> {
    let mut header = String::from("{");
    let mut data = Vec::new();
    for (i, (name, dtype, shape, bytes)) in tensors.iter().enumerate() {
        if i > 0 {
            header.push(',');
        }
        let start = data.len();
        data.extend_from_slice(bytes);
        header.push_str(&format!(
            "\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape:?},\"data_offsets\":[{start},{}]}}",
            data.len()
        ));
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    out
}

/// Little-endian float16 bytes of the values (rounded to nearest even).
pub fn f16_bytes(v: &[f32]) -> Vec<u8> {
    v.iter()
        .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
        .collect()
}

/// Little-endian bfloat16 bytes of the values (rounded to nearest even).
pub fn bf16_bytes(v: &[f32]) -> Vec<u8> {
    v.iter()
        .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
        .collect()
}
