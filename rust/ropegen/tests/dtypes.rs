//! The other element types: bf16 and f16 as u16 bit patterns, i64 indices (device buffers:
//! host memory on the host runtime, GPU memory with ROPEGEN_TEST_RUNTIME=cuda).
//! Reference: the same NeoX formula in f64 on the decoded inputs; tolerance: the fp32
//! bound plus one ulp of the storage type at the result (README "Numerics").
mod common;

use common::{random, rope_reference, tables, test_context};
use ropegen::{Args, Stream};

fn bf16_from_f32(x: f32) -> u16 {
    let b = x.to_bits();
    ((b + 0x7fff + ((b >> 16) & 1)) >> 16) as u16 // round to nearest even
}
fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

fn f16_from_f32(x: f32) -> u16 {
    // Inputs here are in [-2, 2) and rounded first, so only normal numbers and zero occur.
    if x == 0.0 {
        return 0;
    }
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
    let mant = b & 0x7f_ffff;
    let mut h = ((exp as u32) << 10) | (mant >> 13);
    let rest = mant & 0x1fff;
    if rest > 0x1000 || (rest == 0x1000 && (h & 1) == 1) {
        h += 1;
    }
    sign | h as u16
}
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h & 0x8000) as u32) << 16;
    let exp = ((h >> 10) & 0x1f) as u32;
    let mant = (h & 0x3ff) as u32;
    if exp == 0 && mant == 0 {
        return f32::from_bits(sign);
    }
    assert!(exp != 0 && exp != 31, "subnormal or special f16 in the test data");
    f32::from_bits(sign | ((exp + 127 - 15) << 23) | (mant << 13))
}

fn check_half(dtype: &str, enc: fn(f32) -> u16, dec: fn(u16) -> f32, ulp_bits: i32) {
    let ctx = test_context();
    let (n, heads, hd) = (7usize, 4usize, 64usize);
    let kernel = ctx
        .kernel(&format!("op=rope head_dim={} q_heads={} kv_heads={} dtype={} index=i64", hd, heads, heads, dtype))
        .unwrap();
    let q_bits: Vec<u16> = random(n * heads * hd, 21).into_iter().map(enc).collect();
    let k_bits: Vec<u16> = random(n * heads * hd, 22).into_iter().map(enc).collect();
    let (cos, sin) = tables(n, hd);
    let positions: Vec<i64> = (0..n as i64).collect();
    let mut q_buf = ctx.alloc_from(&q_bits).unwrap();
    let mut k_buf = ctx.alloc_from(&k_bits).unwrap();
    let (c, s) = (ctx.alloc_from(&cos).unwrap(), ctx.alloc_from(&sin).unwrap());
    let p = ctx.alloc_from(&positions).unwrap();
    let args = Args::new(n).q(&mut q_buf, heads * hd).k(&mut k_buf, heads * hd).positions(&p).cos_sin(&c, &s, hd / 2);
    kernel.launch(&args, Stream::DEFAULT).unwrap();
    drop(args);
    ctx.synchronize().unwrap();
    let q: Vec<u16> = q_buf.to_vec().unwrap();
    let k: Vec<u16> = k_buf.to_vec().unwrap();

    let pos: Vec<usize> = (0..n).collect();
    for (what, before, after) in [("q", &q_bits, &q), ("k", &k_bits, &k)] {
        let x: Vec<f32> = before.iter().map(|&h| dec(h)).collect();
        let (want, bound) = rope_reference(&x, &pos, heads, hd, &cos, &sin);
        for i in 0..x.len() {
            let got = dec(after[i]) as f64;
            // One ulp of the storage type at the result: 2^(exponent - mantissa bits).
            let ulp = 2f64.powi((want[i].abs().max(1e-30) as f64).log2().floor() as i32 - ulp_bits);
            let err = (got - want[i] as f64).abs();
            assert!(
                err <= bound[i] + ulp,
                "{} {} element {}: {} vs {} (error {:e}, ulp {:e})",
                dtype,
                what,
                i,
                got,
                want[i],
                err,
                ulp
            );
        }
    }
}

#[test]
fn bf16_bits_and_i64_positions() {
    check_half("bf16", bf16_from_f32, bf16_to_f32, 7);
}

#[test]
fn f16_bits_and_i64_positions() {
    check_half("f16", f16_from_f32, f16_to_f32, 10);
}
