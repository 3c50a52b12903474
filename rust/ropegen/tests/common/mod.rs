//! Shared by the tests: the context the numerics run in, aligned host buffers, the seed
//! engine's RoPE formula in plain Rust (independent of ropegen), and the fp32 tolerance.
#![allow(dead_code)]

/// The context of the tests that run on any runtime (numerics, families, checks): the one
/// $ROPEGEN_TEST_RUNTIME names, `host` by default, `cuda` on an NVIDIA GPU
/// (rust/gpu_tests.sh, CTest rust_gpu). Asking for a GPU that is not there fails the test,
/// naming why.
pub fn test_context() -> ropegen::Context {
    let rt = std::env::var("ROPEGEN_TEST_RUNTIME").unwrap_or_else(|_| "host".to_string());
    let device = if rt == "host" { -1 } else { 0 };
    ropegen::Context::new(&rt, device).unwrap_or_else(|e| panic!("ROPEGEN_TEST_RUNTIME={}: {}", rt, e))
}

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ops::{Deref, DerefMut};

/// A host buffer aligned to 64 bytes (kernels need their vector width's alignment, which a
/// Vec<f32> does not promise).
pub struct Aligned<T: Copy> {
    ptr: *mut T,
    len: usize,
}

impl<T: Copy> Aligned<T> {
    pub fn from_slice(data: &[T]) -> Self {
        let layout = Layout::from_size_align(std::mem::size_of_val(data).max(64), 64).unwrap();
        let ptr = unsafe { alloc_zeroed(layout) } as *mut T;
        assert!(!ptr.is_null());
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), ptr, data.len()) };
        Aligned { ptr, len: data.len() }
    }
}

impl<T: Copy> Drop for Aligned<T> {
    fn drop(&mut self) {
        let layout = Layout::from_size_align((self.len * std::mem::size_of::<T>()).max(64), 64).unwrap();
        unsafe { dealloc(self.ptr as *mut u8, layout) }
    }
}

impl<T: Copy> Deref for Aligned<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl<T: Copy> DerefMut for Aligned<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

/// Deterministic values in [-2, 2) (xorshift), so failures reproduce.
pub fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect()
}

/// The seed engine's tables: cos/sin `[rows, head_dim / 2]`, row r for position r,
/// theta_j = 10000^(-2j / head_dim).
pub fn tables(rows: usize, head_dim: usize) -> (Vec<f32>, Vec<f32>) {
    let half = head_dim / 2;
    let mut cos = vec![0f32; rows * half];
    let mut sin = vec![0f32; rows * half];
    for r in 0..rows {
        for j in 0..half {
            let freq = 10000f64.powf(-2.0 * j as f64 / head_dim as f64);
            let angle = r as f64 * freq;
            cos[r * half + j] = angle.cos() as f32;
            sin[r * half + j] = angle.sin() as f32;
        }
    }
    (cos, sin)
}

/// The seed engine's RoPE on one `[seq_len, num_heads, head_dim]` tensor, NeoX pairs
/// (i, i + head_dim / 2), cos/sin row = the token's position, in f64. Returns the rotated
/// values and, per element, the error bound 4u(|x0 c| + |x1 s|), u = 2^-24: a few fp32
/// roundings of the two products and their sum (README "Numerics and tolerances").
pub fn rope_reference(
    x: &[f32],
    positions: &[usize],
    num_heads: usize,
    head_dim: usize,
    cos: &[f32],
    sin: &[f32],
) -> (Vec<f32>, Vec<f64>) {
    let half = head_dim / 2;
    let u = 2f64.powi(-24);
    let mut out = x.to_vec();
    let mut bound = vec![0f64; x.len()];
    for (t, &pos) in positions.iter().enumerate() {
        for h in 0..num_heads {
            let row = (t * num_heads + h) * head_dim;
            for i in 0..half {
                let (x0, x1) = (x[row + i] as f64, x[row + i + half] as f64);
                let (c, s) = (cos[pos * half + i] as f64, sin[pos * half + i] as f64);
                out[row + i] = (x0 * c - x1 * s) as f32;
                out[row + i + half] = (x1 * c + x0 * s) as f32;
                bound[row + i] = 4.0 * u * ((x0 * c).abs() + (x1 * s).abs());
                bound[row + i + half] = 4.0 * u * ((x1 * c).abs() + (x0 * s).abs());
            }
        }
    }
    (out, bound)
}

/// Every element within its bound (an exact match for bound 0); names the worst.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], bound: &[f64]) {
    assert_eq!(got.len(), want.len(), "{}: length", what);
    let mut worst = (0usize, 0f64);
    for i in 0..got.len() {
        let err = (got[i] as f64 - want[i] as f64).abs();
        // The reference rounds to f32 once more: allow that half ulp of the result too.
        let allowed = bound[i] + (want[i].abs() as f64) * 2f64.powi(-24);
        let ratio = if allowed > 0.0 {
            err / allowed
        } else if err > 0.0 {
            f64::INFINITY
        } else {
            0.0
        };
        if ratio > worst.1 {
            worst = (i, ratio);
        }
        assert!(
            err <= allowed,
            "{}: element {} is {} but the reference is {} (error {:e}, bound {:e})",
            what,
            i,
            got[i],
            want[i],
            err,
            allowed
        );
    }
}
