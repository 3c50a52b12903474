//! The fused RoPE + KV-append kernel on the engine's contiguous cache `[kv_heads, max_seq,
//! head_dim]` (`cache=contiguous(order=hnd)`), against the Rust reference: Q rotated in
//! place, K rotated into the cache at each token's position (slot = position when
//! slot_mapping is null), V copied, k unchanged, every other cache slot untouched.
mod common;

use common::{assert_close, random, rope_reference, tables, Aligned};
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

    let mut q = Aligned::from_slice(&q0);
    let mut k = Aligned::from_slice(&k0);
    let v = Aligned::from_slice(&v0);
    let (c, s) = (Aligned::from_slice(&cos), Aligned::from_slice(&sin));
    let cache_len = kv_heads * max_seq * head_dim;
    let mut kc = Aligned::from_slice(&vec![SENTINEL; cache_len]);
    let mut vc = Aligned::from_slice(&vec![SENTINEL; cache_len]);
    let mut args = Args::new(n)
        .q(&mut q[..], q_heads * head_dim)
        .k(&mut k[..], kv_heads * head_dim)
        .v(&v[..], kv_heads * head_dim)
        .positions(&positions[..])
        .cos_sin(&c[..], &s[..], head_dim / 2)
        .caches(&mut kc[..], &mut vc[..])
        .max_seq(max_seq);
    if let Some(sl) = &slots {
        args = args.slot_mapping(&sl[..]);
    }
    kernel.launch(&args, Stream::DEFAULT).unwrap_or_else(|e| panic!("{}: {}", spec, e));

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
    let ctx = Context::new("host", -1).unwrap();
    // Prefill at the start of the cache, then decode steps further on.
    run(&ctx, 128, 32, 8, 0, 64, 256, None);
    run(&ctx, 128, 32, 8, 64, 1, 256, None);
    run(&ctx, 64, 8, 8, 200, 7, 256, None);
    run(&ctx, 64, 1, 1, 0, 1, 16, None);
}

#[test]
fn fused_contiguous_hnd_with_slot_mapping() {
    let ctx = Context::new("host", -1).unwrap();
    // Explicit slots, one negative (padding: Q still rotated, nothing written).
    run(&ctx, 128, 8, 2, 10, 5, 64, Some(vec![40, 3, -1, 63, 0]));
}
