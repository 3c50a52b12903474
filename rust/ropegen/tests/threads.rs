//! Send + Sync: two threads share one Context, create kernels (the same spec and their
//! own) and launch them concurrently; results match the reference.
mod common;

use common::{assert_close, random, rope_reference, tables, Aligned};
use ropegen::{Args, Context, DeviceBuffer, Kernel, Stream};
use std::sync::Arc;

fn assert_send_sync<T: Send + Sync>() {}

fn rotate(kernel: &Kernel, heads: usize, head_dim: usize, n: usize, seed: u64) {
    let q0 = random(n * heads * head_dim, seed);
    let k0 = random(n * heads * head_dim, seed + 1);
    let (cos, sin) = tables(n, head_dim);
    let positions: Vec<i32> = (0..n as i32).collect();
    let mut q = Aligned::from_slice(&q0);
    let mut k = Aligned::from_slice(&k0);
    let (c, s) = (Aligned::from_slice(&cos), Aligned::from_slice(&sin));
    let args = Args::new(n)
        .q(&mut q[..], heads * head_dim)
        .k(&mut k[..], heads * head_dim)
        .positions(&positions[..])
        .cos_sin(&c[..], &s[..], head_dim / 2);
    kernel.launch(&args, Stream::DEFAULT).unwrap();
    let pos: Vec<usize> = (0..n).collect();
    let (q_ref, bound) = rope_reference(&q0, &pos, heads, head_dim, &cos, &sin);
    assert_close("q", &q, &q_ref, &bound);
}

#[test]
fn two_threads_share_a_context() {
    assert_send_sync::<Context>();
    assert_send_sync::<Kernel>();
    assert_send_sync::<DeviceBuffer>();
    let ctx = Context::new("host", -1).unwrap();
    let shared = ctx.kernel("op=rope head_dim=64 q_heads=4 kv_heads=4 dtype=f32").unwrap();
    std::thread::scope(|scope| {
        for t in 0..2u64 {
            let (ctx, shared) = (&ctx, &shared);
            scope.spawn(move || {
                // Each thread's own kernel (created concurrently) and the shared one.
                let head_dim = if t == 0 { 128 } else { 96 };
                let own = ctx.kernel(&format!("op=rope head_dim={} q_heads=2 kv_heads=2 dtype=f32", head_dim)).unwrap();
                for i in 0..20 {
                    rotate(&own, 2, head_dim, 1 + i, t * 100 + i as u64);
                    rotate(shared, 4, 64, 3 + i, t * 1000 + i as u64);
                }
            });
        }
    });
}

#[test]
fn context_and_kernel_move_between_threads() {
    // Arc<Context> into 'static threads; a kernel keeps its context alive after the
    // creating handle is dropped.
    let ctx = Arc::new(Context::new("host", -1).unwrap());
    let handles: Vec<_> = (0..2)
        .map(|t| {
            let ctx = Arc::clone(&ctx);
            std::thread::spawn(move || ctx.kernel("op=rope head_dim=64 q_heads=8 kv_heads=8 dtype=f32").map(|k| (t, k)))
        })
        .collect();
    drop(ctx);
    for h in handles {
        let (t, k) = h.join().unwrap().unwrap();
        let worker = std::thread::spawn(move || rotate(&k, 8, 64, 5, 7 + t));
        worker.join().unwrap();
    }
}
