//! The fused families of the ABI-4 arguments through the Rust API: an fp8 cache with its
//! scales, QK-RMSNorm weights, DeepSeek MLA rows (one cache), and the errors when they are
//! missing or not taken.
mod common;

use ropegen::{Args, Stream};

#[test]
fn fp8_cache_and_qk_norm() {
    let ctx = common::test_context();
    let kernel = ctx
        .kernel("op=rope_kv_append head_dim=32 q_heads=1 kv_heads=1 dtype=f32 cache=contiguous(order=nhd) cache_dtype=fp8_e4m3 qk_norm=rms(eps=1e-6)")
        .unwrap();
    let d = 32usize;
    let mut q = ctx.alloc_from(&vec![3.0f32; 2 * d]).unwrap();
    let mut k = ctx.alloc_from(&vec![2.0f32; 2 * d]).unwrap();
    let v = ctx.alloc_from(&vec![3.0f32; 2 * d]).unwrap();
    let pos = ctx.alloc_from(&[0i32, 1]).unwrap();
    let slot = ctx.alloc_from(&[0i32, 2]).unwrap();
    let cos = ctx.alloc_from(&vec![1.0f32; 4 * d / 2]).unwrap();
    let sin = ctx.alloc_from(&vec![0.0f32; 4 * d / 2]).unwrap();
    let mut kc = ctx.alloc_from(&vec![0u8; 4 * d]).unwrap();
    let mut vc = ctx.alloc_from(&vec![0u8; 4 * d]).unwrap();
    let scale = ctx.alloc_from(&[0.5f32]).unwrap();
    let ones = ctx.alloc_from(&vec![1.0f32; d]).unwrap();
    {
        let args = Args::new(2)
            .q(&mut q, d)
            .k(&mut k, d)
            .v(&v, d)
            .positions(&pos)
            .slot_mapping(&slot)
            .cos_sin(&cos, &sin, d / 2)
            .caches(&mut kc, &mut vc)
            .scales(&scale, &scale)
            .norm_weights(&ones, &ones);
        kernel.launch(&args, Stream::DEFAULT).unwrap();
    }
    // Normalized rows are 1.0 (q in place; k / 0.5 = 2.0 is e4m3 0x40); v / 0.5 = 6.0 is 0x4c.
    let qv: Vec<f32> = q.to_vec().unwrap();
    assert!(qv.iter().all(|&x| (x - 1.0).abs() < 1e-5), "{:?}", &qv[..4]);
    let kcv: Vec<u8> = kc.to_vec().unwrap();
    let vcv: Vec<u8> = vc.to_vec().unwrap();
    assert!(kcv[..d].iter().all(|&c| c == 0x40) && kcv[2 * d..3 * d].iter().all(|&c| c == 0x40));
    assert!(vcv[..d].iter().all(|&c| c == 0x4c) && vcv[d..2 * d].iter().all(|&c| c == 0));
    // Without the scales the launch is refused, naming them.
    let args = Args::new(2)
        .q(&mut q, d)
        .k(&mut k, d)
        .v(&v, d)
        .positions(&pos)
        .slot_mapping(&slot)
        .cos_sin(&cos, &sin, d / 2)
        .caches(&mut kc, &mut vc)
        .norm_weights(&ones, &ones);
    let msg = kernel.launch(&args, Stream::DEFAULT).unwrap_err().to_string();
    assert!(msg.contains("argument 'k_scale' is null"), "{}", msg);
}

#[test]
fn mla_rows() {
    let ctx = common::test_context();
    let kernel = ctx
        .kernel("op=mla_rope_append head_dim=96 rotary_dim=32 rotary_offset=64 q_heads=2 kv_lora_rank=64 dtype=f32 style=gptj cache=paged(block=4)")
        .unwrap();
    let q0: Vec<f32> = (0..2 * 2 * 96).map(|i| i as f32).collect();
    let kpe0: Vec<f32> = (0..2 * 32).map(|i| 1000.0 + i as f32).collect();
    let kvc0: Vec<f32> = (0..2 * 64).map(|i| 2000.0 + i as f32).collect();
    let mut q = ctx.alloc_from(&q0).unwrap();
    let mut kpe = ctx.alloc_from(&kpe0).unwrap();
    let kvc = ctx.alloc_from(&kvc0).unwrap();
    let pos = ctx.alloc_from(&[0i32, 1]).unwrap();
    let slot = ctx.alloc_from(&[5i32, -1]).unwrap();
    let cos = ctx.alloc_from(&vec![1.0f32; 4 * 16]).unwrap();
    let sin = ctx.alloc_from(&vec![0.0f32; 4 * 16]).unwrap();
    let mut cache = ctx.alloc_from(&vec![0.0f32; 2 * 4 * 96]).unwrap();
    let mut unused = ctx.alloc_from(&[0.0f32; 1]).unwrap();
    {
        // MLA takes one cache: a v_cache is refused before the launch, naming it.
        let args = Args::new(2)
            .q(&mut q, 2 * 96)
            .k(&mut kpe, 32)
            .v(&kvc, 64)
            .positions(&pos)
            .slot_mapping(&slot)
            .cos_sin(&cos, &sin, 16)
            .caches(&mut cache, &mut unused);
        let msg = kernel.launch(&args, Stream::DEFAULT).unwrap_err().to_string();
        assert!(msg.contains("argument 'v_cache' is set, but this kernel does not take it"), "{}", msg);
    }
    {
        let args = Args::new(2)
            .q(&mut q, 2 * 96)
            .k(&mut kpe, 32)
            .v(&kvc, 64)
            .positions(&pos)
            .slot_mapping(&slot)
            .cos_sin(&cos, &sin, 16)
            .k_cache(&mut cache);
        kernel.launch(&args, Stream::DEFAULT).unwrap();
    }
    let c: Vec<f32> = cache.to_vec().unwrap();
    let row = &c[5 * 96..6 * 96];
    assert_eq!(&row[..64], &kvc0[..64], "kv_c first");
    assert_eq!(&row[64..], &kpe0[..32], "then k_pe (turned by 0)");
    assert_eq!(c.iter().filter(|&&x| x != 0.0).count(), 96, "token 1's slot is padding");
    assert_eq!(q.to_vec::<f32>().unwrap(), q0);
}
