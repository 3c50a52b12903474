//! The setters against the kernel's own description (`ropegen_kernel_describe`), before the
//! library is called: a pointer the kernel does not take, a required one missing, memory
//! the kernel writes passed read-only, a field set by name (`Args::buffer` / `Args::input`),
//! each an error naming the argument. The checks walk the pointer fields of the block's
//! layout table, so a field added to kernel_args.h is covered with no change here.
use ropegen::{sys, Args, Context, Status, Stream};

const SPEC: &str = "op=rope head_dim=32 q_heads=2 kv_heads=1 dtype=f32";

struct Bufs {
    q: Vec<f32>,
    k: Vec<f32>,
    pos: Vec<i32>,
    cos: Vec<f32>,
    sin: Vec<f32>,
}

fn bufs() -> Bufs {
    Bufs { q: vec![1.0; 2 * 64], k: vec![2.0; 2 * 32], pos: vec![0, 1], cos: vec![1.0; 4 * 16], sin: vec![0.0; 4 * 16] }
}

fn refused(kernel: &ropegen::Kernel, args: &Args<'_>, needle: &str) {
    let e = kernel.check_args(args).unwrap_err();
    assert_eq!(e.status(), Status::Launch, "{}", e);
    assert!(e.message().contains(needle), "expected '{}' in: {}", needle, e.message());
    let e = kernel.launch(args, Stream::DEFAULT).unwrap_err();
    assert!(e.message().contains(needle), "{}", e.message());
}

#[test]
fn argument_not_taken_is_refused() {
    let ctx = Context::new("host", -1).unwrap();
    let kernel = ctx.kernel(SPEC).unwrap();
    let mut b = bufs();
    let v = vec![0.0f32; 2 * 32];
    let args =
        Args::new(2).q(&mut b.q[..], 64).k(&mut b.k[..], 32).positions(&b.pos[..]).cos_sin(&b.cos[..], &b.sin[..], 16);
    kernel.check_args(&args).unwrap();
    // v is read by the cache ops, not by op = rope.
    let args = args.v(&v[..], 32);
    refused(&kernel, &args, "argument 'v' is set, but this kernel does not take it");
    assert_eq!(b.q, vec![1.0; 2 * 64], "nothing was launched");
}

#[test]
fn argument_not_taken_in_the_raw_block_is_refused() {
    // A pointer written into the block directly (as_raw copies) is seen as well: the check
    // reads every pointer field the layout table lists.
    let ctx = Context::new("host", -1).unwrap();
    let kernel = ctx.kernel(SPEC).unwrap();
    let mut b = bufs();
    let scale = [1.0f32];
    let args = Args::new(2)
        .q(&mut b.q[..], 64)
        .positions(&b.pos[..])
        .cos_sin(&b.cos[..], &b.sin[..], 16)
        .input("k_scale", &scale[..]);
    refused(&kernel, &args, "argument 'k_scale' is set, but this kernel does not take it");
    assert!(!args.as_raw().k_scale.is_null());
}

#[test]
fn required_argument_missing_is_refused() {
    let ctx = Context::new("host", -1).unwrap();
    let kernel = ctx.kernel(SPEC).unwrap();
    let mut b = bufs();
    let args = Args::new(2).q(&mut b.q[..], 64).k(&mut b.k[..], 32).cos_sin(&b.cos[..], &b.sin[..], 16);
    refused(&kernel, &args, "argument 'positions' is null (not set), but this kernel needs it");
    // k is optional for op = rope (null rotates q only).
    let args = Args::new(2).q(&mut b.q[..], 64).positions(&b.pos[..]).cos_sin(&b.cos[..], &b.sin[..], 16);
    kernel.launch(&args, Stream::DEFAULT).unwrap();
    // Zero tokens read nothing: nothing is required, as in the library.
    kernel.launch(&Args::new(0), Stream::DEFAULT).unwrap();
    // A pointer the kernel does not take is refused even then.
    let v = [0.0f32; 32];
    refused(&kernel, &Args::new(0).v(&v[..], 32), "argument 'v' is set");
}

#[test]
fn every_required_argument_of_each_family_is_named() {
    // For each kernel, leaving out any one required argument of its description is refused
    // naming it; the description is the only list.
    let ctx = Context::new("host", -1).unwrap();
    for spec in [
        "op=rope_kv_append head_dim=32 q_heads=2 kv_heads=1 dtype=f32 cache=paged(block=4) cache_dtype=fp8_e4m3",
        "op=rope_kv_append head_dim=32 q_heads=2 kv_heads=1 dtype=f32 cache=paged(block=4) qk_norm=rms(eps=1e-6)",
        "op=rope head_dim=32 q_heads=2 kv_heads=1 dtype=f32 outputs=separate q_dtype=fp8_e4m3",
        "op=mla_rope_append head_dim=96 rotary_dim=32 rotary_offset=64 q_heads=2 kv_lora_rank=64 dtype=f32 style=gptj",
    ] {
        let kernel = ctx.kernel(spec).unwrap();
        let required: Vec<_> = kernel.arguments().iter().filter(|r| r.required).collect();
        assert!(!required.is_empty());
        for skip in &required {
            let mut args = Args::new(1);
            let mut keep = Vec::new();
            for r in kernel.arguments().iter().filter(|r| r.name != skip.name) {
                // Any non-null address will do: check_args reads no memory through DevicePtrs.
                let p = unsafe { ropegen::DevicePtr::new(16 as *mut std::ffi::c_void) };
                keep.push(r.field.clone());
                args = if r.access == "read" { args.input(&r.field, p) } else { args.buffer(&r.field, p) };
            }
            let e = kernel.check_args(&args).unwrap_err();
            let want = format!("argument '{}' is null (not set)", skip.name);
            assert!(e.message().contains(&want), "{}: {} (set: {:?})", spec, e.message(), keep);
        }
    }
}

#[test]
fn written_argument_passed_read_only_is_refused() {
    let ctx = Context::new("host", -1).unwrap();
    let kernel = ctx.kernel(SPEC).unwrap();
    let mut b = bufs();
    let k = vec![2.0f32; 2 * 32];
    // op = rope rotates k in place: it cannot be a read-only slice.
    let args =
        Args::new(2).q(&mut b.q[..], 64).input("k", &k[..]).positions(&b.pos[..]).cos_sin(&b.cos[..], &b.sin[..], 16);
    refused(&kernel, &args, "argument 'k' was passed read-only, but the kernel writes it");
}

#[test]
fn fields_by_name() {
    let ctx = Context::new("host", -1).unwrap();
    let kernel = ctx.kernel(SPEC).unwrap();
    let mut b = bufs();
    let args = Args::new(2)
        .buffer("q", &mut b.q[..])
        .input("positions", &b.pos[..])
        .input("cos", &b.cos[..])
        .input("sin", &b.sin[..])
        .buffer("q_stride_typo", &mut b.k[..]);
    refused(&kernel, &args, "argument 'q_stride_typo': the argument block has no pointer field of that name");
    // By name, with the strides set by their setters' counterparts in the raw block.
    let mut q = vec![1.0f32; 2 * 64];
    let pos = [0i32, 1];
    let cos = vec![0.5f32; 4 * 16];
    let sin = vec![0.25f32; 4 * 16];
    let args = Args::new(2).q(&mut q[..], 64).input("positions", &pos[..]).cos_sin(&cos[..], &sin[..], 16);
    assert_eq!(args.as_raw().positions, pos.as_ptr() as *const _);
    kernel.launch(&args, Stream::DEFAULT).unwrap();
    assert!(q[..16].iter().all(|&x| x == 0.25) && q[16..32].iter().all(|&x| x == 0.75), "{:?}", &q[..32]);
    // Every pointer field of the block can be set by name.
    let names: Vec<&str> =
        sys::kernel_args_layout_rust().into_iter().filter(|f| f.3 == sys::ROPEGEN_FIELD_POINTER).map(|f| f.0).collect();
    assert!(names.contains(&"k_norm_weight") && names.len() >= 18, "{:?}", names);
    for n in names {
        let one = [0u8; 16];
        let a = Args::new(1).input(n, &one[..]);
        let e = kernel.check_args(&a).err().map(|e| e.message().to_string()).unwrap_or_default();
        assert!(!e.contains("no pointer field"), "{}: {}", n, e);
    }
}
