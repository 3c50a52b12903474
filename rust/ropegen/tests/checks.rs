//! `checks = bounds` through the Rust API: an out-of-range slot and position are skipped
//! (their rows untouched) and the first is recorded; in-range tokens are written.
mod common;

use ropegen::{Args, Stream, BOUNDS_ERROR_BYTES};

#[test]
fn checks_bounds_skips_and_records() {
    let ctx = common::test_context();
    let kernel = ctx
        .kernel(
            "op=rope_kv_append head_dim=32 q_heads=1 kv_heads=1 dtype=f32 cache=contiguous(order=nhd) checks=bounds",
        )
        .unwrap();
    let (d, rows, slots) = (32usize, 4usize, 4usize);
    let q0 = vec![1.0f32; 3 * d];
    let k0 = vec![2.0f32; 3 * d];
    let v0 = vec![3.0f32; 3 * d];
    let mut q = ctx.alloc_from(&q0).unwrap();
    let mut k = ctx.alloc_from(&k0).unwrap();
    let v = ctx.alloc_from(&v0).unwrap();
    let pos = ctx.alloc_from(&[0i32, 1, 9]).unwrap(); // token 2: position 9 past the 4-row table
    let slot = ctx.alloc_from(&[0i32, 4, 2]).unwrap(); // token 1: slot 4 past the 4-slot cache
    let cos = ctx.alloc_from(&vec![1.0f32; rows * d / 2]).unwrap();
    let sin = ctx.alloc_from(&vec![0.0f32; rows * d / 2]).unwrap();
    let mut kc = ctx.alloc_from(&vec![0.0f32; slots * d]).unwrap();
    let mut vc = ctx.alloc_from(&vec![0.0f32; slots * d]).unwrap();
    let mut err = ctx.alloc_from(&[0u8; BOUNDS_ERROR_BYTES]).unwrap();
    assert_eq!(ctx.check_bounds(&err).unwrap(), None);
    {
        let args = Args::new(3)
            .q(&mut q, d)
            .k(&mut k, d)
            .v(&v, d)
            .positions(&pos)
            .slot_mapping(&slot)
            .cos_sin(&cos, &sin, d / 2)
            .caches(&mut kc, &mut vc)
            .bounds_error(&mut err, slots, rows);
        kernel.launch(&args, Stream::DEFAULT).unwrap();
    }
    let e = ctx.check_bounds(&err).unwrap().expect("a violation is recorded");
    assert_eq!((e.token, e.value, e.limit, e.kind), (1, 4, 4, 2));
    let kcv: Vec<f32> = kc.to_vec().unwrap();
    assert!(kcv[..d].iter().all(|&x| x == 2.0), "token 0 written to slot 0");
    assert!(kcv[d..].iter().all(|&x| x == 0.0), "slot 2 (token 2, bad position) untouched");
    let qv: Vec<f32> = q.to_vec().unwrap();
    assert_eq!(qv, q0, "cos 1, sin 0: q unchanged either way");

    // Without the buffer a checked kernel is refused, naming it.
    let args = Args::new(3)
        .q(&mut q, d)
        .k(&mut k, d)
        .v(&v, d)
        .positions(&pos)
        .slot_mapping(&slot)
        .cos_sin(&cos, &sin, d / 2)
        .caches(&mut kc, &mut vc);
    let msg = kernel.launch(&args, Stream::DEFAULT).unwrap_err().to_string();
    assert!(msg.contains("argument 'bounds_error' is null"), "{}", msg);
}
