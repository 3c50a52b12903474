//! Error paths: bad spec text, launches with a null required pointer, too-short or
//! wrongly typed slices, indices past the tables or the cache, the ABI check. Every one is
//! an Err with a status, a fault and a message; none crashes.
mod common;

use common::{random, tables, Aligned};
use ropegen::{Args, Context, Fault, Status, Stream};

const SPEC: &str = "op=rope head_dim=64 q_heads=8 kv_heads=2 dtype=f32";

#[test]
fn bad_spec_text_is_a_parse_error_with_location() {
    let ctx = Context::new("host", -1).unwrap();
    // Text that does not parse: a value missing after '='.
    let e = ctx.kernel("op=rope head_dim= dtype=f32").unwrap_err();
    assert_eq!(e.status(), Status::Parse, "{}", e);
    assert_eq!(e.fault(), Fault::Caller);
    assert!(e.message().contains("<spec>:1:"), "no file:line:col in {}", e.message());
    assert!(e.to_string().starts_with("ROPEGEN_ERROR_PARSE: "), "{}", e);

    // An unknown key parses but is not a field: ROPEGEN_ERROR_SPEC, located at the key,
    // with the nearest valid key.
    let e = ctx.kernel("op=rope head_dimm=64 dtype=f32").unwrap_err();
    assert_eq!(e.status(), Status::Spec, "{}", e);
    assert_eq!(e.fault(), Fault::Caller);
    assert!(e.message().contains("<spec>:1:9"), "no file:line:col in {}", e.message());
    assert!(e.message().contains("'head_dimm'") && e.message().contains("did you mean 'head_dim'"), "{}", e.message());

    let e = ctx.kernel("op=rope head_dim=64 dtype=f33").unwrap_err();
    assert_eq!(e.status(), Status::Spec, "{}", e);
    assert!(e.message().contains("f33") && e.message().contains("bf16"), "{}", e.message());

    let e = ctx.kernel("op=rope head_dim=63").unwrap_err();
    assert_eq!(e.status(), Status::Spec, "{}", e);
    assert!(e.message().contains("head_dim"), "{}", e.message());

    let e = ctx.kernel("op=rope\0head_dim=64").unwrap_err();
    assert_eq!(e.status(), Status::InvalidArgument);
}

#[test]
fn unknown_runtime_is_a_load_error() {
    let e = Context::new("vulkan", -1).unwrap_err();
    assert_eq!(e.status(), Status::Load);
    assert!(e.message().contains("vulkan"), "{}", e.message());
}

#[test]
fn abi_layout_matches() {
    ropegen::check_abi().unwrap();
    assert_eq!(ropegen::version().split('.').count(), 3);
}

struct Bufs {
    q: Aligned<f32>,
    k: Aligned<f32>,
    cos: Aligned<f32>,
    sin: Aligned<f32>,
    pos: Vec<i32>,
}

fn bufs(n: usize) -> Bufs {
    let (cos, sin) = tables(n, 64);
    Bufs {
        q: Aligned::from_slice(&random(n * 8 * 64, 1)),
        k: Aligned::from_slice(&random(n * 2 * 64, 2)),
        cos: Aligned::from_slice(&cos),
        sin: Aligned::from_slice(&sin),
        pos: (0..n as i32).collect(),
    }
}

#[test]
fn null_required_pointer_is_refused() {
    let ctx = Context::new("host", -1).unwrap();
    let kernel = ctx.kernel(SPEC).unwrap();
    let mut b = bufs(4);
    // No q at all: the library refuses the null pointer and says why.
    let args = Args::new(4).k(&mut b.k[..], 128).positions(&b.pos[..]).cos_sin(&b.cos[..], &b.sin[..], 32);
    let e = kernel.launch(&args, Stream::DEFAULT).unwrap_err();
    assert_eq!(e.status(), Status::Launch, "{}", e);
    assert_eq!(e.fault(), Fault::Caller);
    assert!(e.message().contains("'q' is null"), "{}", e.message());
    // Nothing was touched.
    assert_eq!(&b.k[..], &random(4 * 2 * 64, 2)[..]);
}

#[test]
fn short_or_mistyped_slices_are_refused() {
    let ctx = Context::new("host", -1).unwrap();
    let kernel = ctx.kernel(SPEC).unwrap();
    let mut b = bufs(4);
    let q_before = b.q.to_vec();

    // q holds 4 tokens of 8 heads x 64, but 5 tokens are asked for.
    let mut pos5: Vec<i32> = b.pos.clone();
    pos5.push(0);
    let args =
        Args::new(5).q(&mut b.q[..], 512).k(&mut b.k[..], 128).positions(&pos5[..]).cos_sin(&b.cos[..], &b.sin[..], 32);
    let e = kernel.launch(&args, Stream::DEFAULT).unwrap_err();
    assert_eq!(e.status(), Status::Launch);
    assert!(e.message().contains("'q' holds 2048 elements") && e.message().contains("2560"), "{}", e.message());

    // A stride past the slice's end for the last token.
    let args = Args::new(4).q(&mut b.q[..], 576).k(&mut b.k[..], 128).positions(&b.pos[..]).cos_sin(
        &b.cos[..],
        &b.sin[..],
        32,
    );
    let e = kernel.launch(&args, Stream::DEFAULT).unwrap_err();
    assert!(e.message().contains("'q'"), "{}", e.message());

    // A stride so large that (tokens - 1) * stride overflows: still refused.
    let args = Args::new(4).q(&mut b.q[..], usize::MAX / 2).k(&mut b.k[..], 128).positions(&b.pos[..]).cos_sin(
        &b.cos[..],
        &b.sin[..],
        32,
    );
    let e = kernel.launch(&args, Stream::DEFAULT).unwrap_err();
    assert!(e.message().contains("'q'"), "{}", e.message());
    // A table stride so large that only row 0 fits: table_rows = 1, so positions 1, 2 and
    // i32::MAX are skipped (q untouched there) instead of read far past the table.
    let huge: Vec<i32> = vec![0, 1, 2, i32::MAX];
    let mut q = Aligned::from_slice(&q_before);
    let args = Args::new(4).q(&mut q[..], 512).k(&mut b.k[..], 128).positions(&huge[..]).cos_sin(
        &b.cos[..],
        &b.sin[..],
        (usize::MAX / 4) & !15,
    );
    kernel.launch(&args, Stream::DEFAULT).unwrap();
    assert_eq!(&q[512..], &q_before[512..], "tokens past the table's one row were touched");

    // Too few positions.
    let args = Args::new(4).q(&mut b.q[..], 512).k(&mut b.k[..], 128).positions(&b.pos[..3]).cos_sin(
        &b.cos[..],
        &b.sin[..],
        32,
    );
    let e = kernel.launch(&args, Stream::DEFAULT).unwrap_err();
    assert!(e.message().contains("'positions'"), "{}", e.message());

    // i64 positions for an index=i32 kernel, u16 data for an f32 kernel.
    let pos64: Vec<i64> = vec![0, 1, 2, 3];
    let args = Args::new(4).q(&mut b.q[..], 512).k(&mut b.k[..], 128).positions(&pos64[..]).cos_sin(
        &b.cos[..],
        &b.sin[..],
        32,
    );
    let e = kernel.launch(&args, Stream::DEFAULT).unwrap_err();
    assert!(e.message().contains("slice of i64") && e.message().contains("i32"), "{}", e.message());
    let mut half = Aligned::from_slice(&vec![0u16; 4 * 512]);
    let args = Args::new(4).q(&mut half[..], 512).k(&mut b.k[..], 128).positions(&b.pos[..]).cos_sin(
        &b.cos[..],
        &b.sin[..],
        32,
    );
    let e = kernel.launch(&args, Stream::DEFAULT).unwrap_err();
    assert!(e.message().contains("slice of u16") && e.message().contains("f32"), "{}", e.message());

    // Misaligned q (one element in): the library's alignment check.
    let args = Args::new(3).q(&mut b.q[1..], 512).k(&mut b.k[..], 128).positions(&b.pos[..]).cos_sin(
        &b.cos[..],
        &b.sin[..],
        32,
    );
    let e = kernel.launch(&args, Stream::DEFAULT).unwrap_err();
    assert!(e.message().contains("aligned"), "{}", e.message());

    // A stride that is not a whole row: the library's stride check.
    let args = Args::new(2).q(&mut b.q[..], 100).k(&mut b.k[..], 128).positions(&b.pos[..]).cos_sin(
        &b.cos[..],
        &b.sin[..],
        32,
    );
    let e = kernel.launch(&args, Stream::DEFAULT).unwrap_err();
    assert!(e.message().contains("q_stride"), "{}", e.message());

    assert_eq!(&b.q[..], &q_before[..], "a refused launch wrote q");
}

#[test]
fn positions_outside_the_table_are_skipped() {
    // Positions 4 and -1 lie outside the 4-row tables: the launch passes table_rows = 4
    // (from the slices' sizes) and the kernel skips those tokens whole, in the default
    // checks = none, instead of reading past the tables.
    let ctx = Context::new("host", -1).unwrap();
    let kernel = ctx.kernel(SPEC).unwrap();
    let mut b = bufs(4);
    let (q0, k0) = (b.q.to_vec(), b.k.to_vec());
    let far: Vec<i32> = vec![0, 4, 2, -1];
    let args =
        Args::new(4).q(&mut b.q[..], 512).k(&mut b.k[..], 128).positions(&far[..]).cos_sin(&b.cos[..], &b.sin[..], 32);
    kernel.launch(&args, Stream::DEFAULT).unwrap();
    for t in [1usize, 3] {
        assert_eq!(&b.q[t * 512..(t + 1) * 512], &q0[t * 512..(t + 1) * 512], "q of token {}", t);
        assert_eq!(&b.k[t * 128..(t + 1) * 128], &k0[t * 128..(t + 1) * 128], "k of token {}", t);
    }
    assert_ne!(&b.q[2 * 512..3 * 512], &q0[2 * 512..3 * 512], "token 2 (position 2) is rotated");
}

#[test]
fn slots_outside_the_cache_are_skipped() {
    let ctx = Context::new("host", -1).unwrap();
    let spec = "op=rope_kv_append cache=contiguous(order=hnd) dtype=f32 head_dim=64 q_heads=2 kv_heads=1";
    let kernel = ctx.kernel(spec).unwrap();
    let (cos, sin) = tables(32, 64);
    let (c, s) = (Aligned::from_slice(&cos), Aligned::from_slice(&sin));
    let mut q = Aligned::from_slice(&random(2 * 128, 3));
    let mut k = Aligned::from_slice(&random(2 * 64, 4));
    let v = Aligned::from_slice(&random(2 * 64, 5));
    let mut kc = Aligned::from_slice(&vec![0f32; 16 * 64]);
    let mut vc = Aligned::from_slice(&vec![0f32; 16 * 64]);
    // Token 1's slot (its position, 20) is inside the 32-row table but past the 16-slot cache:
    // in the default checks = none the launch passes cache_slots = 16 (max_seq here) and the
    // kernel skips the token whole (q untouched, nothing written to the cache).
    let pos: Vec<i32> = vec![3, 20];
    let q0 = q.to_vec();
    let args = Args::new(2)
        .q(&mut q[..], 128)
        .k(&mut k[..], 64)
        .v(&v[..], 64)
        .positions(&pos[..])
        .cos_sin(&c[..], &s[..], 32)
        .caches(&mut kc[..], &mut vc[..])
        .max_seq(16);
    kernel.launch(&args, Stream::DEFAULT).unwrap();
    assert_eq!(&q[128..], &q0[128..], "token 1 (slot 20) left q as it was");
    assert_ne!(&q[..128], &q0[..128], "token 0 (slot 3) is rotated");
    for slot in 0..16 {
        let written = vc[slot * 64..(slot + 1) * 64].iter().any(|&x| x != 0.0);
        assert_eq!(written, slot == 3, "v_cache slot {}", slot);
    }
    assert_eq!(&vc[3 * 64..4 * 64], &v[..64]);
    assert_eq!(kc.iter().filter(|&&x| x != 0.0).count(), kc[3 * 64..4 * 64].iter().filter(|&&x| x != 0.0).count());
    kc.iter_mut().for_each(|x| *x = 0.0);

    // max_seq larger than the cache slice holds.
    let args = Args::new(2)
        .q(&mut q[..], 128)
        .k(&mut k[..], 64)
        .v(&v[..], 64)
        .positions(&pos[..])
        .cos_sin(&c[..], &s[..], 32)
        .caches(&mut kc[..], &mut vc[..])
        .max_seq(32);
    let e = kernel.launch(&args, Stream::DEFAULT).unwrap_err();
    assert!(e.message().contains("'k_cache' holds 1024 elements"), "{}", e.message());

    // max_seq missing: the library's check.
    let args = Args::new(2)
        .q(&mut q[..], 128)
        .k(&mut k[..], 64)
        .v(&v[..], 64)
        .positions(&pos[..1])
        .num_tokens(1)
        .cos_sin(&c[..], &s[..], 32)
        .caches(&mut kc[..], &mut vc[..]);
    let e = kernel.launch(&args, Stream::DEFAULT).unwrap_err();
    assert!(e.message().contains("max_seq"), "{}", e.message());
    assert!(kc.iter().all(|&x| x == 0.0));
}

#[test]
fn paged_slot_past_the_cache_is_skipped() {
    // A paged cache of 2 blocks of 4 slots, slot_mapping 1, 8, 7: slot 8 lies one past the
    // cache, where the kernel would write past the slices without a limit. The launch passes
    // cache_slots = 8 from the slices in the default checks = none; the token is skipped whole.
    let ctx = Context::new("host", -1).unwrap();
    let kernel =
        ctx.kernel("op=rope_kv_append cache=paged(block=4) dtype=f32 head_dim=64 q_heads=2 kv_heads=1").unwrap();
    let (cos, sin) = tables(8, 64);
    let (c, s) = (Aligned::from_slice(&cos), Aligned::from_slice(&sin));
    let mut q = Aligned::from_slice(&random(3 * 128, 9));
    let mut k = Aligned::from_slice(&random(3 * 64, 10));
    let v = Aligned::from_slice(&random(3 * 64, 11));
    let mut kc = Aligned::from_slice(&vec![0f32; 8 * 64]);
    let mut vc = Aligned::from_slice(&vec![0f32; 8 * 64]);
    let pos: Vec<i32> = vec![1, 2, 3];
    let slots: Vec<i32> = vec![1, 8, 7];
    let q0 = q.to_vec();
    let args = Args::new(3)
        .q(&mut q[..], 128)
        .k(&mut k[..], 64)
        .v(&v[..], 64)
        .positions(&pos[..])
        .slot_mapping(&slots[..])
        .cos_sin(&c[..], &s[..], 32)
        .caches(&mut kc[..], &mut vc[..]);
    kernel.launch(&args, Stream::DEFAULT).unwrap();
    assert_eq!(&q[128..256], &q0[128..256], "token 1 (slot 8) left q as it was");
    assert_ne!(&q[256..], &q0[256..], "token 2 (slot 7) is rotated");
    assert_eq!(&vc[64..128], &v[..64]);
    assert_eq!(&vc[7 * 64..], &v[2 * 64..]);
    assert_eq!(vc.iter().filter(|&&x| x != 0.0).count(), 2 * 64, "only slots 1 and 7 written");

    // An explicit limit below the slices' (Args::limits) wins: slot 7 is skipped too.
    let mut vc2 = Aligned::from_slice(&vec![0f32; 8 * 64]);
    let args = Args::new(3)
        .q(&mut q[..], 128)
        .k(&mut k[..], 64)
        .v(&v[..], 64)
        .positions(&pos[..])
        .slot_mapping(&slots[..])
        .cos_sin(&c[..], &s[..], 32)
        .caches(&mut kc[..], &mut vc2[..])
        .limits(4, 0);
    kernel.launch(&args, Stream::DEFAULT).unwrap();
    assert_eq!(vc2.iter().filter(|&&x| x != 0.0).count(), 64, "only slot 1 written");
}

#[test]
fn mla_slot_past_the_cache_is_skipped() {
    // MLA (one cache of kv_c || k_pe rows) in the default checks = none: the launch derives
    // cache_slots from the cache slice (2 blocks of 4 rows = 8 slots); slot 9 is skipped whole.
    let ctx = Context::new("host", -1).unwrap();
    let kernel = ctx
        .kernel(
            "op=mla_rope_append head_dim=96 rotary_dim=32 rotary_offset=64 q_heads=2 kv_lora_rank=64 dtype=f32 \
             style=gptj cache=paged(block=4)",
        )
        .unwrap();
    let (cos, sin) = tables(8, 32);
    let (c, s) = (Aligned::from_slice(&cos), Aligned::from_slice(&sin));
    let mut q = Aligned::from_slice(&random(2 * 2 * 96, 6));
    let mut kpe = Aligned::from_slice(&random(2 * 32, 7));
    let kvc = Aligned::from_slice(&random(2 * 64, 8));
    let mut cache = Aligned::from_slice(&vec![0f32; 2 * 4 * 96]);
    let pos: Vec<i32> = vec![1, 2];
    let slots: Vec<i32> = vec![5, 9];
    let q0 = q.to_vec();
    let args = Args::new(2)
        .q(&mut q[..], 192)
        .k(&mut kpe[..], 32)
        .v(&kvc[..], 64)
        .positions(&pos[..])
        .slot_mapping(&slots[..])
        .cos_sin(&c[..], &s[..], 16)
        .k_cache(&mut cache[..]);
    kernel.launch(&args, Stream::DEFAULT).unwrap();
    assert_eq!(&q[192..], &q0[192..], "token 1 (slot 9) left q as it was");
    assert_ne!(&q[..192], &q0[..192], "token 0 is rotated");
    assert_eq!(&cache[5 * 96..5 * 96 + 64], &kvc[..64], "token 0's kv_c at slot 5");
    assert_eq!(
        cache.iter().filter(|&&x| x != 0.0).count(),
        cache[5 * 96..6 * 96].iter().filter(|&&x| x != 0.0).count()
    );
}

#[test]
fn device_buffer_indices_are_checked_on_the_host() {
    // On the host runtime a DeviceBuffer is host memory: its positions are read and checked
    // like a slice's, and its size bounds the tables.
    let ctx = Context::new("host", -1).unwrap();
    let kernel = ctx.kernel(SPEC).unwrap();
    let b = bufs(4);
    let mut q = ctx.alloc_from(&b.q[..]).unwrap();
    let mut k = ctx.alloc_from(&b.k[..]).unwrap();
    let (cos, sin) = (ctx.alloc_from(&b.cos[..]).unwrap(), ctx.alloc_from(&b.sin[..]).unwrap());
    // Position 9 is past the 4-row tables, whose size the DeviceBuffers give: skipped.
    let far = ctx.alloc_from(&[0i32, 1, 2, 9][..]).unwrap();
    let args = Args::new(4).q(&mut q, 512).k(&mut k, 128).positions(&far).cos_sin(&cos, &sin, 32);
    kernel.launch(&args, Stream::DEFAULT).unwrap();
    assert_eq!(&q.to_vec::<f32>().unwrap()[3 * 512..], &b.q[3 * 512..], "token 3 (position 9) untouched");
    // A buffer of another host context is host memory too: accepted.
    let other = Context::new("host", -1).unwrap();
    let pos = other.alloc_from(&b.pos[..]).unwrap();
    let args = Args::new(4).q(&mut q, 512).k(&mut k, 128).positions(&pos).cos_sin(&cos, &sin, 32);
    kernel.launch(&args, Stream::DEFAULT).unwrap();
    // A short DeviceBuffer is refused by its size.
    let short = ctx.alloc(100).unwrap();
    let args = Args::new(4).q(&mut q, 512).k(&mut k, 128).positions(&pos).cos_sin(&short, &sin, 32);
    let e = kernel.launch(&args, Stream::DEFAULT).unwrap_err();
    assert!(e.message().contains("'cos' holds 25 elements"), "{}", e.message());
}

#[test]
fn mrope_positions_hold_every_token() {
    // positions = mrope: [3, tokens] rows num_tokens apart; 3 x 2 positions for 5 tokens are
    // refused before the launch (the kernel would read past them).
    let ctx = Context::new("host", -1).unwrap();
    let kernel =
        ctx.kernel("op=rope head_dim=64 q_heads=2 kv_heads=1 dtype=f32 positions=mrope(sections=[8,12,12])").unwrap();
    let (cos, sin) = tables(16, 64);
    let (c, s) = (Aligned::from_slice(&cos), Aligned::from_slice(&sin));
    let mut q = Aligned::from_slice(&random(5 * 128, 12));
    let short: Vec<i32> = vec![0; 6];
    let args = Args::new(5).q(&mut q[..], 128).positions(&short[..]).cos_sin(&c[..], &s[..], 32);
    let e = kernel.launch(&args, Stream::DEFAULT).unwrap_err();
    assert!(e.message().contains("'positions' holds 6 elements but 5 tokens need at least 15"), "{}", e.message());
    // Rows 8 apart (positions_stride): 2 * 8 + 5 = 21 elements.
    let wide: Vec<i32> = vec![0; 20];
    let args = Args::new(5).q(&mut q[..], 128).positions(&wide[..]).positions_stride(8).cos_sin(&c[..], &s[..], 32);
    let e = kernel.launch(&args, Stream::DEFAULT).unwrap_err();
    assert!(e.message().contains("need at least 21"), "{}", e.message());
    let full: Vec<i32> = vec![0; 15];
    let args = Args::new(5).q(&mut q[..], 128).positions(&full[..]).cos_sin(&c[..], &s[..], 32);
    kernel.launch(&args, Stream::DEFAULT).unwrap();
}
