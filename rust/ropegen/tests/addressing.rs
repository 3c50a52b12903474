//! Cache addressing from Rust (issue 22): a stacked `[N, 2, B, H, D]` cache passed as one
//! buffer (`Args::stacked_caches`) with its strides (`Args::cache_strides`), the slot limit
//! derived from the strides, and `window = ring(...)` through `Args::ring_base`. The
//! expected rows are computed here from the layout, independently of the library.
mod common;

use common::test_context;
use ropegen::{Args, Stream};

const SENTINEL: f32 = -7.0;

#[test]
fn stacked_strided_cache_is_written_at_its_strides() {
    let ctx = test_context();
    let (d, h, b, pages) = (32usize, 2usize, 4usize, 3usize);
    let spec = format!("op=kv_append dtype=f32 head_dim={} kv_heads={} cache=paged(block={},order=strided)", d, h, b);
    let kernel = ctx.kernel(&spec).unwrap();
    // Slot 11 is the cache's last; 12 lies past it (the limit from the strides skips it); -1 pads.
    let slots: Vec<i32> = vec![0, 5, 11, -1, 12, 6];
    let n = slots.len();
    let k0 = common::random(n * h * d, 21);
    let v0 = common::random(n * h * d, 22);
    let (page, token) = (2 * b * h * d, h * d); // [N, 2, B, H, D]: K page, then V page
    let len = pages * page;
    let mut k = ctx.alloc_from(&k0).unwrap();
    let v = ctx.alloc_from(&v0).unwrap();
    let sl = ctx.alloc_from(&slots).unwrap();
    let mut kv = ctx.alloc_from(&vec![SENTINEL; len]).unwrap();
    let args = Args::new(n)
        .k(&mut k, h * d)
        .v(&v, h * d)
        .slot_mapping(&sl)
        .stacked_caches(&mut kv, b * h * d)
        .cache_strides(page, token, d);
    kernel.launch(&args, Stream::DEFAULT).unwrap();
    drop(args);
    ctx.synchronize().unwrap();
    let got: Vec<f32> = kv.to_vec().unwrap();
    let mut want = vec![SENTINEL; len];
    for (t, &s) in slots.iter().enumerate() {
        if s < 0 || s as usize >= pages * b {
            continue;
        }
        let s = s as usize;
        for hh in 0..h {
            let at = (s / b) * page + (s % b) * token + hh * d;
            let src = (t * h + hh) * d;
            want[at..at + d].copy_from_slice(&k0[src..src + d]);
            want[at + b * h * d..at + b * h * d + d].copy_from_slice(&v0[src..src + d]);
        }
    }
    assert_eq!(got, want);
}

#[test]
fn ring_window_writes_the_ring_slot_of_each_position() {
    let ctx = test_context();
    let (d, h, b) = (32usize, 1usize, 4usize);
    let (w, s) = (10usize, 2usize); // L = 8, bubble = 2: ring slots 4 .. 11
    let spec = format!(
        "op=kv_append dtype=f32 head_dim={} kv_heads={} cache=paged(block={}) window=ring(size={},sinks={})",
        d, h, b, w, s
    );
    let kernel = ctx.kernel(&spec).unwrap();
    let positions: Vec<i32> = vec![0, 1, 2, 9, 11, 25];
    let base: Vec<i32> = vec![12, 12, 12, 12, 12, -1]; // one sequence in pages 3 .. 5; the last token pads
    let n = positions.len();
    let k0 = common::random(n * h * d, 31);
    let v0 = common::random(n * h * d, 32);
    let slots_total = 6 * b;
    let mut k = ctx.alloc_from(&k0).unwrap();
    let v = ctx.alloc_from(&v0).unwrap();
    let p = ctx.alloc_from(&positions).unwrap();
    let rb = ctx.alloc_from(&base).unwrap();
    let mut kc = ctx.alloc_from(&vec![SENTINEL; slots_total * h * d]).unwrap();
    let mut vc = ctx.alloc_from(&vec![SENTINEL; slots_total * h * d]).unwrap();
    let args = Args::new(n).k(&mut k, h * d).v(&v, h * d).positions(&p).ring_base(&rb).caches(&mut kc, &mut vc);
    kernel.launch(&args, Stream::DEFAULT).unwrap();
    drop(args);
    ctx.synchronize().unwrap();
    let (got_k, got_v): (Vec<f32>, Vec<f32>) = (kc.to_vec().unwrap(), vc.to_vec().unwrap());
    let mut want_k = vec![SENTINEL; slots_total * h * d];
    let mut want_v = want_k.clone();
    // Written out by hand: positions 0, 1 are sinks; 2 -> 4, 9 -> 11, 11 -> 5 (wrapped).
    for (t, slot) in [(0usize, 12usize), (1, 13), (2, 16), (3, 23), (4, 17)] {
        want_k[slot * d..slot * d + d].copy_from_slice(&k0[t * d..t * d + d]);
        want_v[slot * d..slot * d + d].copy_from_slice(&v0[t * d..t * d + d]);
    }
    assert_eq!(got_k, want_k);
    assert_eq!(got_v, want_v);
}

#[test]
fn amd_split_k_and_transposed_v() {
    let ctx = test_context();
    // f32: x = 4 elements (16 bytes). K [N, H, D / x, B, x], V [N, H, D, B].
    let (d, h, b, x, pages) = (16usize, 2usize, 4usize, 4usize, 2usize);
    let spec = format!("op=kv_append dtype=f32 head_dim={} kv_heads={} cache=paged(block={},order=amd)", d, h, b);
    let kernel = ctx.kernel(&spec).unwrap();
    let slots: Vec<i32> = vec![6, 1, 8]; // 8 lies past the 2 pages: skipped by the limit from the size
    let n = slots.len();
    let k0 = common::random(n * h * d, 41);
    let v0 = common::random(n * h * d, 42);
    let mut k = ctx.alloc_from(&k0).unwrap();
    let v = ctx.alloc_from(&v0).unwrap();
    let sl = ctx.alloc_from(&slots).unwrap();
    let len = pages * h * d * b;
    let mut kc = ctx.alloc_from(&vec![SENTINEL; len]).unwrap();
    let mut vc = ctx.alloc_from(&vec![SENTINEL; len]).unwrap();
    let args = Args::new(n).k(&mut k, h * d).v(&v, h * d).slot_mapping(&sl).caches(&mut kc, &mut vc);
    kernel.launch(&args, Stream::DEFAULT).unwrap();
    drop(args);
    ctx.synchronize().unwrap();
    let (got_k, got_v): (Vec<f32>, Vec<f32>) = (kc.to_vec().unwrap(), vc.to_vec().unwrap());
    let mut want_k = vec![SENTINEL; len];
    let mut want_v = want_k.clone();
    for (t, &s) in slots.iter().enumerate().take(2) {
        let (page, off) = (s as usize / b, s as usize % b);
        for hh in 0..h {
            for i in 0..d {
                let head = (page * h + hh) * d * b;
                want_k[head + (i / x) * b * x + off * x + i % x] = k0[(t * h + hh) * d + i];
                want_v[head + i * b + off] = v0[(t * h + hh) * d + i];
            }
        }
    }
    assert_eq!(got_k, want_k);
    assert_eq!(got_v, want_v);
}

#[test]
fn inline_scale_pages_of_k_and_v_in_one_buffer() {
    // cache_dtype = int8(scales_at = page): each page of a side is [codes | scales]; K's and V's
    // pages interleaved in one u8 buffer ([N, 2, page], cache_block_stride = 2 pages) hold the
    // bytes that two separate page buffers get, and the slot past the cache is skipped.
    let ctx = test_context();
    let (d, h, b, pages) = (32usize, 2usize, 4usize, 3usize);
    let spec = format!(
        "op=kv_append dtype=f32 head_dim={} kv_heads={} cache=paged(block={}) cache_dtype=int8(scales_at=page) \
         scales=per_token_head",
        d, h, b
    );
    let kernel = ctx.kernel(&spec).unwrap();
    let page = b * h * (d + 4); // codes, then one f32 scale per row
    let slots: Vec<i32> = vec![0, 5, 11, -1, 12, 6];
    let n = slots.len();
    let k0 = common::random(n * h * d, 41);
    let v0 = common::random(n * h * d, 42);
    let mut k = ctx.alloc_from(&k0).unwrap();
    let v = ctx.alloc_from(&v0).unwrap();
    let sl = ctx.alloc_from(&slots).unwrap();
    let mut kc = ctx.alloc_from(&vec![0xeeu8; pages * page]).unwrap();
    let mut vc = ctx.alloc_from(&vec![0xeeu8; pages * page]).unwrap();
    let args = Args::new(n).k(&mut k, h * d).v(&v, h * d).slot_mapping(&sl).caches(&mut kc, &mut vc);
    kernel.launch(&args, Stream::DEFAULT).unwrap();
    drop(args);
    let mut kv = ctx.alloc_from(&vec![0xeeu8; pages * 2 * page]).unwrap();
    let args =
        Args::new(n).k(&mut k, h * d).v(&v, h * d).slot_mapping(&sl).stacked_caches(&mut kv, page).cache_strides(2 * page, 0, 0);
    kernel.launch(&args, Stream::DEFAULT).unwrap();
    drop(args);
    ctx.synchronize().unwrap();
    let (kc, vc, kv): (Vec<u8>, Vec<u8>, Vec<u8>) = (kc.to_vec().unwrap(), vc.to_vec().unwrap(), kv.to_vec().unwrap());
    assert!(kc.iter().any(|&x| x != 0xee));
    for p in 0..pages {
        assert_eq!(&kv[2 * p * page..(2 * p + 1) * page], &kc[p * page..(p + 1) * page], "K page {}", p);
        assert_eq!(&kv[(2 * p + 1) * page..(2 * p + 2) * page], &vc[p * page..(p + 1) * page], "V page {}", p);
    }
}
