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
    let huge: Vec<i32> = vec![0, 1, 2, i32::MAX];
    let args = Args::new(4).q(&mut b.q[..], 512).k(&mut b.k[..], 128).positions(&huge[..]).cos_sin(
        &b.cos[..],
        &b.sin[..],
        usize::MAX / 4,
    );
    assert!(kernel.launch(&args, Stream::DEFAULT).is_err());

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

    // A position past the end of the 4-row tables (the device would read past them).
    let far: Vec<i32> = vec![0, 1, 2, 4];
    let args =
        Args::new(4).q(&mut b.q[..], 512).k(&mut b.k[..], 128).positions(&far[..]).cos_sin(&b.cos[..], &b.sin[..], 32);
    let e = kernel.launch(&args, Stream::DEFAULT).unwrap_err();
    assert!(e.message().contains("position 4 is past the end of 'cos'"), "{}", e.message());

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
fn slots_outside_the_cache_are_refused() {
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
    let pos: Vec<i32> = vec![3, 20]; // inside the 32-row table, outside a 16-slot cache
    let args = Args::new(2)
        .q(&mut q[..], 128)
        .k(&mut k[..], 64)
        .v(&v[..], 64)
        .positions(&pos[..])
        .cos_sin(&c[..], &s[..], 32)
        .caches(&mut kc[..], &mut vc[..])
        .max_seq(16);
    let e = kernel.launch(&args, Stream::DEFAULT).unwrap_err();
    assert!(e.message().contains("slot 20 is outside 'k_cache'"), "{}", e.message());

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
fn device_buffer_indices_are_checked_on_the_host() {
    // On the host runtime a DeviceBuffer is host memory: its positions are read and checked
    // like a slice's, and its size bounds the tables.
    let ctx = Context::new("host", -1).unwrap();
    let kernel = ctx.kernel(SPEC).unwrap();
    let b = bufs(4);
    let mut q = ctx.alloc_from(&b.q[..]).unwrap();
    let mut k = ctx.alloc_from(&b.k[..]).unwrap();
    let (cos, sin) = (ctx.alloc_from(&b.cos[..]).unwrap(), ctx.alloc_from(&b.sin[..]).unwrap());
    let far = ctx.alloc_from(&[0i32, 1, 2, 9][..]).unwrap();
    let args = Args::new(4).q(&mut q, 512).k(&mut k, 128).positions(&far).cos_sin(&cos, &sin, 32);
    let e = kernel.launch(&args, Stream::DEFAULT).unwrap_err();
    assert!(e.message().contains("position 9 is past the end of 'cos'"), "{}", e.message());
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
