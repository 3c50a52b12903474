//! The fused RoPE + KV-append kernel on the engine's contiguous cache `[kv_heads, max_seq,
//! head_dim]` (`cache=contiguous(order=hnd)`), against the Rust reference: Q rotated in
//! place, K rotated into the cache at each token's position (slot = position when
//! slot_mapping is null), V copied, k unchanged, every other cache slot untouched.
mod common;

use common::{assert_close, random, rope_reference, tables, test_context};
use ropegen::{Args, Context, Stream};

const SENTINEL: f32 = -12345.5;

#[allow(clippy::too_many_arguments)]
fn run(
    ctx: &Context,
    head_dim: usize,
    q_heads: usize,
    kv_heads: usize,
    start: usize,
    n: usize,
    max_seq: usize,
    slots: Option<Vec<i32>>,
) {
    let spec = format!(
        "op=rope_kv_append cache=contiguous(order=hnd) dtype=f32 head_dim={} q_heads={} kv_heads={}",
        head_dim, q_heads, kv_heads
    );
    let kernel = ctx.kernel(&spec).unwrap();
    let q0 = random(n * q_heads * head_dim, 11 + n as u64);
    let k0 = random(n * kv_heads * head_dim, 12 + n as u64);
    let v0 = random(n * kv_heads * head_dim, 13 + n as u64);
    let (cos, sin) = tables(max_seq, head_dim);
    let pos: Vec<usize> = (start..start + n).collect();
    let positions: Vec<i32> = pos.iter().map(|&p| p as i32).collect();

    // Device buffers (aligned host memory on the host runtime): the same test runs on a GPU.
    let mut q_buf = ctx.alloc_from(&q0).unwrap();
    let mut k_buf = ctx.alloc_from(&k0).unwrap();
    let v = ctx.alloc_from(&v0).unwrap();
    let (c, s) = (ctx.alloc_from(&cos).unwrap(), ctx.alloc_from(&sin).unwrap());
    let p = ctx.alloc_from(&positions).unwrap();
    let cache_len = kv_heads * max_seq * head_dim;
    let mut kc_buf = ctx.alloc_from(&vec![SENTINEL; cache_len]).unwrap();
    let mut vc_buf = ctx.alloc_from(&vec![SENTINEL; cache_len]).unwrap();
    let slot_buf = slots.as_ref().map(|sl| ctx.alloc_from(sl).unwrap());
    let mut args = Args::new(n)
        .q(&mut q_buf, q_heads * head_dim)
        .k(&mut k_buf, kv_heads * head_dim)
        .v(&v, kv_heads * head_dim)
        .positions(&p)
        .cos_sin(&c, &s, head_dim / 2)
        .caches(&mut kc_buf, &mut vc_buf)
        .max_seq(max_seq);
    if let Some(sb) = &slot_buf {
        args = args.slot_mapping(sb);
    }
    kernel.launch(&args, Stream::DEFAULT).unwrap_or_else(|e| panic!("{}: {}", spec, e));
    drop(args);
    ctx.synchronize().unwrap();
    let (q, k): (Vec<f32>, Vec<f32>) = (q_buf.to_vec().unwrap(), k_buf.to_vec().unwrap());
    let (kc, vc): (Vec<f32>, Vec<f32>) = (kc_buf.to_vec().unwrap(), vc_buf.to_vec().unwrap());

    let (q_ref, q_bound) = rope_reference(&q0, &pos, q_heads, head_dim, &cos, &sin);
    let (k_rot, k_bound) = rope_reference(&k0, &pos, kv_heads, head_dim, &cos, &sin);
    assert_close("q", &q, &q_ref, &q_bound);
    assert_eq!(&k[..], &k0[..], "k must not be modified");

    let mut kc_ref = vec![SENTINEL; cache_len];
    let mut vc_ref = vec![SENTINEL; cache_len];
    let mut kc_bound = vec![0f64; cache_len];
    for t in 0..n {
        let slot = match &slots {
            Some(sl) if sl[t] < 0 => continue,
            Some(sl) => sl[t] as usize,
            None => pos[t],
        };
        for h in 0..kv_heads {
            let src = (t * kv_heads + h) * head_dim;
            let dst = (h * max_seq + slot) * head_dim;
            kc_ref[dst..dst + head_dim].copy_from_slice(&k_rot[src..src + head_dim]);
            kc_bound[dst..dst + head_dim].copy_from_slice(&k_bound[src..src + head_dim]);
            vc_ref[dst..dst + head_dim].copy_from_slice(&v0[src..src + head_dim]);
        }
    }
    assert_close("k_cache", &kc, &kc_ref, &kc_bound);
    // V is copied bit for bit; untouched slots keep the sentinel (bound 0: exact).
    assert_eq!(&vc[..], &vc_ref[..], "v_cache");
    let touched = kc.iter().filter(|&&x| x != SENTINEL).count();
    let expect = slots.as_ref().map_or(n, |sl| sl.iter().filter(|&&s| s >= 0).count()) * kv_heads * head_dim;
    assert_eq!(touched, expect, "cache elements written");
}

#[test]
fn fused_contiguous_hnd_slot_is_position() {
    let ctx = test_context();
    // Prefill at the start of the cache, then decode steps further on.
    run(&ctx, 128, 32, 8, 0, 64, 256, None);
    run(&ctx, 128, 32, 8, 64, 1, 256, None);
    run(&ctx, 64, 8, 8, 200, 7, 256, None);
    run(&ctx, 64, 1, 1, 0, 1, 16, None);
}

#[test]
fn fused_contiguous_hnd_with_slot_mapping() {
    let ctx = test_context();
    // Explicit slots, one negative (padding: Q still rotated, nothing written).
    run(&ctx, 128, 8, 2, 10, 5, 64, Some(vec![40, 3, -1, 63, 0]));
}
