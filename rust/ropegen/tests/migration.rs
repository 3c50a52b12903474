//! The migration test of issue 11: the seed engine's RoPE contract served by a ropegen
//! kernel created at run time, against a plain Rust implementation of the same formula.
//!
//! Seed contract (ROCmForge's build.rs-compiled HIP kernel): input `[seq_len, num_heads,
//! head_dim]` row-major f32; cos/sin `[seq_len, head_dim / 2]`, one row per token; NeoX
//! pairs (i, i + head_dim / 2). ropegen: `op=rope style=neox dtype=f32 cos_sin=table`,
//! positions 0..seq_len, cos_sin_stride = head_dim / 2 (so table rows are the tokens), and
//! the row stride num_heads * head_dim. Tolerance: per element 4u(|x0 c| + |x1 s|) with
//! u = 2^-24 plus half an ulp of the result: a few fp32 roundings, nothing more.
mod common;

use common::{assert_close, random, rope_reference, tables, test_context};
use ropegen::{Args, Stream};

#[test]
fn seed_rope_contract_all_shapes() {
    // Device buffers: the runtime's memory (aligned host memory on the host runtime), so the
    // same test runs on a GPU with ROPEGEN_TEST_RUNTIME=cuda.
    let ctx = test_context();
    let mut cases = 0;
    for &head_dim in &[64usize, 128] {
        for &num_heads in &[1usize, 8, 32] {
            // Q and K as the engine rotates them: the same contract, K with its own heads
            // (GQA for the multi-head shapes).
            let kv_heads = if num_heads >= 8 { num_heads / 4 } else { num_heads };
            let spec = format!(
                "op=rope head_dim={} style=neox q_heads={} kv_heads={} dtype=f32 index=i32 cos_sin=table",
                head_dim, num_heads, kv_heads
            );
            let kernel = ctx.kernel(&spec).unwrap_or_else(|e| panic!("{}: {}", spec, e));
            assert_eq!(kernel.info().target, ctx.target());
            for &seq_len in &[1usize, 7, 64] {
                let half = head_dim / 2;
                let q0 = random(seq_len * num_heads * head_dim, (seq_len * 1000 + num_heads * 10 + head_dim) as u64);
                let k0 = random(seq_len * kv_heads * head_dim, (seq_len * 77 + num_heads + head_dim) as u64);
                let (cos, sin) = tables(seq_len, head_dim);
                let positions: Vec<i32> = (0..seq_len as i32).collect();

                let mut q_buf = ctx.alloc_from(&q0).unwrap();
                let mut k_buf = ctx.alloc_from(&k0).unwrap();
                let (cos_a, sin_a) = (ctx.alloc_from(&cos).unwrap(), ctx.alloc_from(&sin).unwrap());
                let pos_buf = ctx.alloc_from(&positions).unwrap();
                let args = Args::new(seq_len)
                    .q(&mut q_buf, num_heads * head_dim)
                    .k(&mut k_buf, kv_heads * head_dim)
                    .positions(&pos_buf)
                    .cos_sin(&cos_a, &sin_a, half);
                kernel.launch(&args, Stream::DEFAULT).unwrap_or_else(|e| panic!("{} seq {}: {}", spec, seq_len, e));
                drop(args);
                ctx.synchronize().unwrap();
                let q: Vec<f32> = q_buf.to_vec().unwrap();
                let k: Vec<f32> = k_buf.to_vec().unwrap();

                let pos: Vec<usize> = (0..seq_len).collect();
                let (q_ref, q_bound) = rope_reference(&q0, &pos, num_heads, head_dim, &cos, &sin);
                let (k_ref, k_bound) = rope_reference(&k0, &pos, kv_heads, head_dim, &cos, &sin);
                let what = format!("seq_len {} heads {} head_dim {}", seq_len, num_heads, head_dim);
                assert_close(&format!("q, {}", what), &q, &q_ref, &q_bound);
                assert_close(&format!("k, {}", what), &k, &k_ref, &k_bound);
                // Position 0 is the identity: cos 1, sin 0.
                assert_eq!(&q[..head_dim], &q0[..head_dim]);
                if seq_len > 1 {
                    assert_ne!(&q[num_heads * head_dim..][..head_dim], &q0[num_heads * head_dim..][..head_dim]);
                }
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 18);
}

/// The engine's Q-only call (one tensor): the kernel takes q and k, so K is a one-head
/// scratch row here; Q is checked alone. Also the same kernel on device buffers.
#[test]
fn seed_rope_q_only_and_device_buffers() {
    let ctx = test_context();
    let (seq_len, num_heads, head_dim) = (64usize, 32usize, 128usize);
    let kernel =
        ctx.kernel(&format!("op=rope head_dim={} q_heads={} kv_heads=1 dtype=f32", head_dim, num_heads)).unwrap();
    let q0 = random(seq_len * num_heads * head_dim, 5);
    let (cos, sin) = tables(seq_len, head_dim);
    let positions: Vec<i32> = (0..seq_len as i32).collect();
    let pos: Vec<usize> = (0..seq_len).collect();
    let (q_ref, bound) = rope_reference(&q0, &pos, num_heads, head_dim, &cos, &sin);

    // DeviceBuffer: the runtime's memory (aligned host memory on the host runtime).
    let mut q = ctx.alloc_from(&q0).unwrap();
    let mut k_scratch = ctx.alloc(seq_len * head_dim * 4).unwrap();
    let (c, s, p) = (ctx.alloc_from(&cos).unwrap(), ctx.alloc_from(&sin).unwrap(), ctx.alloc_from(&positions).unwrap());
    let args = Args::new(seq_len).q(&mut q, num_heads * head_dim).k(&mut k_scratch, head_dim).positions(&p).cos_sin(
        &c,
        &s,
        head_dim / 2,
    );
    kernel.launch(&args, Stream::DEFAULT).unwrap();
    ctx.synchronize().unwrap();
    let got: Vec<f32> = q.to_vec().unwrap();
    assert_close("q (device buffers)", &got, &q_ref, &bound);
}
