//! `layers = many` from Rust (issue 22): one launch over three layers (q, k, v one buffer
//! each, `Args::layer_strides`; each layer's caches in its record, `Context::alloc_layers` and
//! `Args::layers`) writes what the single-layer kernel writes for each layer alone.
mod common;

use common::test_context;
use ropegen::{sys, Args, Stream};

#[test]
fn one_launch_writes_each_layer_as_single_layer_launches_do() {
    let ctx = test_context();
    let (layers, n, qh, kvh, d, slots_n) = (3usize, 6usize, 4usize, 2usize, 64usize, 32usize);
    let spec = format!("dtype=f32 head_dim={} q_heads={} kv_heads={} cache=paged(block=16)", d, qh, kvh);
    let one = ctx.kernel(&spec).unwrap();
    let many = ctx.kernel(&format!("{} layers=many", spec)).unwrap();
    let (qn, kn) = (n * qh * d, n * kvh * d);
    let q0 = common::random(layers * qn, 31);
    let k0 = common::random(layers * kn, 32);
    let v0 = common::random(layers * kn, 33);
    let (cos, sin) = common::tables(64, d);
    let pos: Vec<i32> = vec![3, 9, 0, 63, 17, 5];
    let slots: Vec<i32> = vec![0, 5, -1, 31, 16, 2];
    let (cos, sin, pos, slots) = (
        ctx.alloc_from(&cos).unwrap(),
        ctx.alloc_from(&sin).unwrap(),
        ctx.alloc_from(&pos).unwrap(),
        ctx.alloc_from(&slots).unwrap(),
    );
    let v = ctx.alloc_from(&v0).unwrap();
    let cache_len = slots_n * kvh * d;
    let zeros = vec![0f32; cache_len];

    // The single-layer kernel, layer by layer, on copies of each layer's q, k, v.
    let mut want = Vec::new();
    for l in 0..layers {
        let mut kc = ctx.alloc_from(&zeros).unwrap();
        let mut vc = ctx.alloc_from(&zeros).unwrap();
        let mut q_l = ctx.alloc_from(&q0[l * qn..(l + 1) * qn]).unwrap();
        let mut k_l = ctx.alloc_from(&k0[l * kn..(l + 1) * kn]).unwrap();
        let v_l = ctx.alloc_from(&v0[l * kn..(l + 1) * kn]).unwrap();
        let args = Args::new(n)
            .q(&mut q_l, qh * d)
            .k(&mut k_l, kvh * d)
            .v(&v_l, kvh * d)
            .positions(&pos)
            .slot_mapping(&slots)
            .cos_sin(&cos, &sin, d / 2)
            .caches(&mut kc, &mut vc)
            .limits(slots_n, 64);
        one.launch(&args, Stream::DEFAULT).unwrap();
        drop(args);
        ctx.synchronize().unwrap();
        want.push((q_l.to_vec::<f32>().unwrap(), kc.to_vec::<f32>().unwrap(), vc.to_vec::<f32>().unwrap()));
    }

    // One launch over the layers.
    let mut caches: Vec<_> = (0..2 * layers).map(|_| ctx.alloc_from(&zeros).unwrap()).collect();
    let records: Vec<sys::ropegen_layer_args> = (0..layers)
        .map(|l| sys::ropegen_layer_args {
            k_cache: caches[2 * l].as_raw(),
            v_cache: caches[2 * l + 1].as_raw(),
            ..Default::default()
        })
        .collect();
    let rec = ctx.alloc_layers(&records).unwrap();
    let mut q1 = ctx.alloc_from(&q0).unwrap();
    let mut k_all = ctx.alloc_from(&k0).unwrap();
    let args = Args::new(n)
        .q(&mut q1, qh * d)
        .k(&mut k_all, kvh * d)
        .v(&v, kvh * d)
        .positions(&pos)
        .slot_mapping(&slots)
        .cos_sin(&cos, &sin, d / 2)
        .limits(slots_n, 64)
        .layers(&rec, layers)
        .layer_strides(qn, kn, kn);
    many.launch(&args, Stream::DEFAULT).unwrap();
    drop(args);
    ctx.synchronize().unwrap();
    let q_got: Vec<f32> = q1.to_vec().unwrap();
    for l in 0..layers {
        assert_eq!(&q_got[l * qn..(l + 1) * qn], &want[l].0[..], "q of layer {}", l);
        assert_eq!(caches[2 * l].to_vec::<f32>().unwrap(), want[l].1, "k_cache of layer {}", l);
        assert_eq!(caches[2 * l + 1].to_vec::<f32>().unwrap(), want[l].2, "v_cache of layer {}", l);
    }
    assert!(want[1].1.iter().any(|&x| x != 0.0));
    caches.clear();
}
