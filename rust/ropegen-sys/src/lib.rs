//! Raw FFI of ropegen's C API: `include/ropegen/ropegen.h` and
//! `include/ropegen/kernel_args.h`, written by hand (no bindgen, no external crates).
//!
//! Every struct here is checked against the C header by this crate's tests: the argument
//! block field by field against `ropegen_kernel_args_layout()`, and every struct's size and
//! field offsets against `ropegen_abi_probe`, a C program built by CMake from the header.
//! For a safe API use the `ropegen` crate.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_longlong, c_uint, c_ulonglong, c_void};

/// `ROPEGEN_KERNEL_ABI_VERSION`: the version of `ropegen_kernel_args` this copy mirrors.
pub const ROPEGEN_KERNEL_ABI_VERSION: c_uint = 8;

/// `ropegen_status` (a C enum: `int`-sized on every platform ropegen builds for).
pub type ropegen_status = c_int;
pub const ROPEGEN_OK: ropegen_status = 0;
/// A null pointer or bad value passed to the API.
pub const ROPEGEN_ERROR_INVALID_ARGUMENT: ropegen_status = 1;
/// Spec text did not parse.
pub const ROPEGEN_ERROR_PARSE: ropegen_status = 2;
/// Spec is contradictory or unsupported by the target.
pub const ROPEGEN_ERROR_SPEC: ropegen_status = 3;
pub const ROPEGEN_ERROR_TARGET: ropegen_status = 4;
pub const ROPEGEN_ERROR_COMPILE: ropegen_status = 5;
/// Includes "no such device / no driver".
pub const ROPEGEN_ERROR_LOAD: ropegen_status = 6;
/// Argument checks before a launch, or the launch itself.
pub const ROPEGEN_ERROR_LAUNCH: ropegen_status = 7;
pub const ROPEGEN_ERROR_CACHE: ropegen_status = 8;
pub const ROPEGEN_ERROR_IO: ropegen_status = 9;
pub const ROPEGEN_ERROR_INTERNAL: ropegen_status = 10;

/// Opaque: one device (or the host) plus a JIT.
#[repr(C)]
pub struct ropegen_context {
    _private: [u8; 0],
}

/// Opaque: a loaded kernel, owned by the caller.
#[repr(C)]
pub struct ropegen_kernel {
    _private: [u8; 0],
}

/// `ROPEGEN_BOUNDS_ERROR_BYTES`: size of the bounds_error buffer (4 u64 words).
pub const ROPEGEN_BOUNDS_ERROR_BYTES: usize = 32;

/// What a checks = bounds kernel recorded (`ropegen_kernel_check`): the first out-of-range
/// token; kind 1 = position, 2 = slot; the value had to lie in [0, limit).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ropegen_bounds_error {
    pub violated: c_int,
    pub token: c_longlong,
    pub value: c_longlong,
    pub limit: c_longlong,
    pub kind: c_int,
}

/// The kernel argument block (`kernel_args.h`), passed by value to every generated kernel.
/// Strides count elements. Start from [`ropegen_kernel_args::init`]
/// (`ROPEGEN_KERNEL_ARGS_INIT`): size and ABI version filled in, the rest zero.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ropegen_kernel_args {
    pub size: c_uint,
    pub abi_version: c_uint,
    pub num_tokens: c_longlong,
    pub positions: *const c_void,
    pub slot_mapping: *const c_void,
    pub q: *mut c_void,
    pub q_stride: c_longlong,
    pub k: *mut c_void,
    pub k_stride: c_longlong,
    pub v: *const c_void,
    pub v_stride: c_longlong,
    pub cos: *const f32,
    pub sin: *const f32,
    pub cos_sin_stride: c_longlong,
    pub k_cache: *mut c_void,
    pub v_cache: *mut c_void,
    pub max_seq: c_longlong,
    /// checks = bounds (ABI version 3): slots the caches hold, positions the table holds,
    /// and the 4-word device buffer the first violation is recorded in.
    pub cache_slots: c_longlong,
    pub table_rows: c_longlong,
    pub bounds_error: *mut c_ulonglong,
    /// ABI version 4: head strides (0: packed heads), out-of-place outputs (null: in
    /// place), the row stride of [3, tokens] positions (mrope/imrope; 0: num_tokens) and
    /// per-token sequence lengths (dynamic and longrope with choose = runtime).
    pub q_head_stride: c_longlong,
    pub k_head_stride: c_longlong,
    pub v_head_stride: c_longlong,
    pub q_out: *mut c_void,
    pub q_out_stride: c_longlong,
    pub k_out: *mut c_void,
    pub k_out_stride: c_longlong,
    pub positions_stride: c_longlong,
    pub seq_lens: *const c_void,
    /// fp8 stores: k_scale / v_scale (one float, or one per KV head) and q_scale, in device
    /// memory; qk_norm = rms(...): head_dim weights of the activation dtype for q and k.
    pub k_scale: *const f32,
    pub v_scale: *const f32,
    pub q_scale: *const f32,
    pub q_norm_weight: *const c_void,
    pub k_norm_weight: *const c_void,
    /// Quantized caches: the scales the kernel computes and writes beside the k and v caches.
    pub k_cache_scales: *mut c_void,
    pub v_cache_scales: *mut c_void,
    /// q_scales = per_token_head: q_out's scales per (token, head), written by the kernel.
    pub q_out_scales: *mut f32,
    /// cache = paged(order = strided): elements between pages, tokens of a page and heads of
    /// both caches (0: the nhd layout's); K and V in one tensor: v_cache = k_cache + distance.
    pub cache_block_stride: c_longlong,
    pub cache_token_stride: c_longlong,
    pub cache_head_stride: c_longlong,
    /// window = ring: per token, the first slot of its sequence's pages (index-typed).
    pub ring_base: *const c_void,
    /// qk_norm = rms(span = all_heads, sums = write | read): [tokens, 2] f32 sums of squares
    /// (q heads, then k heads), written (write) or read after the ranks added them (read).
    pub norm_sums: *mut f32,
    /// positions = grid(...): the token grid's height and width (0 otherwise).
    pub grid_h: c_longlong,
    pub grid_w: c_longlong,
    /// bias = qkv: biases added to q, k and v as they are read (the activation dtype).
    pub q_bias: *const c_void,
    pub k_bias: *const c_void,
    pub v_bias: *const c_void,
    /// gate = interleaved: each q head's gate half, [tokens, q_heads, head_dim].
    pub gate_out: *mut c_void,
    pub gate_out_stride: c_longlong,
    /// layers = many (ABI version 8): the layers of the launch (grid z), 1 ..= 65535.
    pub num_layers: c_longlong,
    /// layers = many: device memory, one `ropegen_layer_args` record per layer.
    pub layers: *const ropegen_layer_args,
    /// layers = many: elements from layer l's q (k, v) to layer l + 1's.
    pub q_layer_stride: c_longlong,
    pub k_layer_stride: c_longlong,
    pub v_layer_stride: c_longlong,
}

/// `ropegen_layer_args`: one layer's own pointers in a layers = many launch (device memory,
/// one record per layer); each replaces the argument block's field of the same name.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ropegen_layer_args {
    pub k_cache: *mut c_void,
    pub v_cache: *mut c_void,
    pub k_cache_scales: *mut c_void,
    pub v_cache_scales: *mut c_void,
    pub k_scale: *const f32,
    pub v_scale: *const f32,
    pub q_scale: *const f32,
    pub q_out: *mut c_void,
    pub k_out: *mut c_void,
    pub q_out_scales: *mut f32,
    pub gate_out: *mut c_void,
    pub q_norm_weight: *const c_void,
    pub k_norm_weight: *const c_void,
    pub q_bias: *const c_void,
    pub k_bias: *const c_void,
    pub v_bias: *const c_void,
}

impl Default for ropegen_layer_args {
    fn default() -> Self {
        ropegen_layer_args {
            k_cache: std::ptr::null_mut(),
            v_cache: std::ptr::null_mut(),
            k_cache_scales: std::ptr::null_mut(),
            v_cache_scales: std::ptr::null_mut(),
            k_scale: std::ptr::null(),
            v_scale: std::ptr::null(),
            q_scale: std::ptr::null(),
            q_out: std::ptr::null_mut(),
            k_out: std::ptr::null_mut(),
            q_out_scales: std::ptr::null_mut(),
            gate_out: std::ptr::null_mut(),
            q_norm_weight: std::ptr::null(),
            k_norm_weight: std::ptr::null(),
            q_bias: std::ptr::null(),
            k_bias: std::ptr::null(),
            v_bias: std::ptr::null(),
        }
    }
}

impl ropegen_kernel_args {
    /// `ROPEGEN_KERNEL_ARGS_INIT`: the header filled in, every other field zero.
    pub fn init() -> Self {
        ropegen_kernel_args {
            size: std::mem::size_of::<ropegen_kernel_args>() as c_uint,
            abi_version: ROPEGEN_KERNEL_ABI_VERSION,
            num_tokens: 0,
            positions: std::ptr::null(),
            slot_mapping: std::ptr::null(),
            q: std::ptr::null_mut(),
            q_stride: 0,
            k: std::ptr::null_mut(),
            k_stride: 0,
            v: std::ptr::null(),
            v_stride: 0,
            cos: std::ptr::null(),
            sin: std::ptr::null(),
            cos_sin_stride: 0,
            k_cache: std::ptr::null_mut(),
            v_cache: std::ptr::null_mut(),
            max_seq: 0,
            cache_slots: 0,
            table_rows: 0,
            bounds_error: std::ptr::null_mut(),
            q_head_stride: 0,
            k_head_stride: 0,
            v_head_stride: 0,
            q_out: std::ptr::null_mut(),
            q_out_stride: 0,
            k_out: std::ptr::null_mut(),
            k_out_stride: 0,
            positions_stride: 0,
            seq_lens: std::ptr::null(),
            k_scale: std::ptr::null(),
            v_scale: std::ptr::null(),
            q_scale: std::ptr::null(),
            q_norm_weight: std::ptr::null(),
            k_norm_weight: std::ptr::null(),
            k_cache_scales: std::ptr::null_mut(),
            v_cache_scales: std::ptr::null_mut(),
            q_out_scales: std::ptr::null_mut(),
            cache_block_stride: 0,
            cache_token_stride: 0,
            cache_head_stride: 0,
            ring_base: std::ptr::null(),
            norm_sums: std::ptr::null_mut(),
            grid_h: 0,
            grid_w: 0,
            q_bias: std::ptr::null(),
            k_bias: std::ptr::null(),
            v_bias: std::ptr::null(),
            gate_out: std::ptr::null_mut(),
            gate_out_stride: 0,
            num_layers: 0,
            layers: std::ptr::null(),
            q_layer_stride: 0,
            k_layer_stride: 0,
            v_layer_stride: 0,
        }
    }
}

impl Default for ropegen_kernel_args {
    fn default() -> Self {
        Self::init()
    }
}

/// Launch shape and argument requirements of a kernel, from the kernel's own build.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ropegen_kernel_info {
    pub block_threads: c_int,
    pub wave: c_int,
    /// Elements per vector; strides must be multiples.
    pub vec: c_int,
    /// Bytes: q, k, v, caches.
    pub tensor_align: c_int,
    /// Bytes: cos, sin.
    pub table_align: c_int,
    /// Kernel symbol (NUL-terminated).
    pub entry: [c_char; 96],
    /// Target id (NUL-terminated).
    pub target: [c_char; 64],
    pub tokens_per_block: c_int,
    pub head_groups: c_int,
    /// "compiled", "disk" or "bundle" (NUL-terminated).
    pub origin: [c_char; 16],
}

/// `ropegen_field_kind` (a C enum: `int`-sized): what a field of the argument block holds.
pub type ropegen_field_kind = c_int;
/// An address (a pointer of any type).
pub const ROPEGEN_FIELD_POINTER: ropegen_field_kind = 1;
/// An integer: the header's size and version, counts and strides.
pub const ROPEGEN_FIELD_INTEGER: ropegen_field_kind = 2;
/// A floating-point number.
pub const ROPEGEN_FIELD_FLOAT: ropegen_field_kind = 3;

/// One field of the argument block: name, byte offset, byte size and kind.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ropegen_kernel_args_field {
    pub name: *const c_char,
    pub offset: usize,
    pub size: usize,
    pub kind: ropegen_field_kind,
}

/// The kind of a field's Rust type, as `ropegen_field_kind`: pointers, integers and floats
/// (a field of any other type does not compile into [`kernel_args_layout_rust`]).
pub trait FieldKind {
    const KIND: ropegen_field_kind;
}
impl<T> FieldKind for *const T {
    const KIND: ropegen_field_kind = ROPEGEN_FIELD_POINTER;
}
impl<T> FieldKind for *mut T {
    const KIND: ropegen_field_kind = ROPEGEN_FIELD_POINTER;
}
macro_rules! field_kinds {
    ($kind:ident: $($t:ty),*) => { $(impl FieldKind for $t { const KIND: ropegen_field_kind = $kind; })* };
}
field_kinds!(ROPEGEN_FIELD_INTEGER: u8, i8, u16, i16, u32, i32, u64, i64, usize, isize);
field_kinds!(ROPEGEN_FIELD_FLOAT: f32, f64);

/// A kind's name as the C enum spells it ("pointer", "integer", "float"; "kind N" else).
pub fn field_kind_name(kind: ropegen_field_kind) -> String {
    match kind {
        ROPEGEN_FIELD_POINTER => "pointer".to_string(),
        ROPEGEN_FIELD_INTEGER => "integer".to_string(),
        ROPEGEN_FIELD_FLOAT => "float".to_string(),
        other => format!("kind {}", other),
    }
}

/// Per-context JIT options; a null string or a negative flag keeps the environment's value.
/// Start from [`ropegen_context_options::init`] (`ROPEGEN_CONTEXT_OPTIONS_INIT`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ropegen_context_options {
    pub size: usize,
    pub cache_dir: *const c_char,
    pub cache_path: *const c_char,
    pub compiler: *const c_char,
    pub dump_dir: *const c_char,
    pub no_compile: c_int,
    pub verbose: c_int,
}

impl ropegen_context_options {
    /// `ROPEGEN_CONTEXT_OPTIONS_INIT`: everything from the environment.
    pub fn init() -> Self {
        ropegen_context_options {
            size: std::mem::size_of::<ropegen_context_options>(),
            cache_dir: std::ptr::null(),
            cache_path: std::ptr::null(),
            compiler: std::ptr::null(),
            dump_dir: std::ptr::null(),
            no_compile: -1,
            verbose: -1,
        }
    }
}

impl Default for ropegen_context_options {
    fn default() -> Self {
        Self::init()
    }
}

/// Options of `ropegen_tune`; start from [`ropegen_tune_options::init`]
/// (`ROPEGEN_TUNE_OPTIONS_INIT`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ropegen_tune_options {
    pub size: usize,
    /// Token counts, increasing; null: 1, 32, 256, 2048, 8192 (host: 1, 32, 256).
    pub buckets: *const c_longlong,
    pub num_buckets: usize,
    /// Timed repetitions per plan (median); 0: 15 (host: 3).
    pub reps: c_int,
    /// 0 auto, 1 quick, 2 full.
    pub set: c_int,
    /// 1: keep the winners in the user cache directory.
    pub store: c_int,
    /// CUstream / hipStream_t (null: the default); never one capturing a graph.
    pub stream: *mut c_void,
}

impl ropegen_tune_options {
    /// `ROPEGEN_TUNE_OPTIONS_INIT`: default buckets, repetitions and plans; the winners kept.
    pub fn init() -> Self {
        ropegen_tune_options {
            size: std::mem::size_of::<ropegen_tune_options>(),
            buckets: std::ptr::null(),
            num_buckets: 0,
            reps: 0,
            set: 0,
            store: 1,
            stream: std::ptr::null_mut(),
        }
    }
}

impl Default for ropegen_tune_options {
    fn default() -> Self {
        Self::init()
    }
}

/// One token bucket of a tuning run: codegen's plan against the fastest one.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ropegen_tune_result {
    pub tokens: c_longlong,
    pub default_tokens_per_block: c_int,
    pub default_head_groups: c_int,
    pub default_us: f64,
    pub best_tokens_per_block: c_int,
    pub best_head_groups: c_int,
    pub best_us: f64,
    pub candidates: c_int,
}

extern "C" {
    pub fn ropegen_status_fault(status: ropegen_status) -> c_int;
    pub fn ropegen_kernel_args_layout(
        count: *mut usize,
        size: *mut usize,
        abi_version: *mut c_uint,
    ) -> *const ropegen_kernel_args_field;
    pub fn ropegen_status_string(status: ropegen_status) -> *const c_char;
    pub fn ropegen_last_error() -> *const c_char;
    pub fn ropegen_version_string() -> *const c_char;

    pub fn ropegen_context_create(
        runtime: *const c_char,
        device: c_int,
        out: *mut *mut ropegen_context,
    ) -> ropegen_status;
    pub fn ropegen_context_create_with_options(
        runtime: *const c_char,
        device: c_int,
        options: *const ropegen_context_options,
        out: *mut *mut ropegen_context,
    ) -> ropegen_status;
    pub fn ropegen_context_destroy(ctx: *mut ropegen_context);
    pub fn ropegen_bundle_write_manifest(dir: *const c_char, entries: *mut usize) -> ropegen_status;
    pub fn ropegen_context_target(ctx: *const ropegen_context, buf: *mut c_char, len: usize) -> ropegen_status;

    pub fn ropegen_kernel_create(
        ctx: *mut ropegen_context,
        spec: *const c_char,
        out: *mut *mut ropegen_kernel,
    ) -> ropegen_status;
    pub fn ropegen_kernel_destroy(kernel: *mut ropegen_kernel);
    pub fn ropegen_kernel_get_info(kernel: *const ropegen_kernel, out: *mut ropegen_kernel_info) -> ropegen_status;
    pub fn ropegen_kernel_describe(
        kernel: *const ropegen_kernel,
        buf: *mut c_char,
        len: usize,
        needed: *mut usize,
    ) -> ropegen_status;
    pub fn ropegen_kernel_launch(
        kernel: *const ropegen_kernel,
        args: *const ropegen_kernel_args,
        stream: *mut c_void,
    ) -> ropegen_status;

    pub fn ropegen_alloc(ctx: *mut ropegen_context, bytes: usize, out: *mut *mut c_void) -> ropegen_status;
    pub fn ropegen_free(ctx: *mut ropegen_context, ptr: *mut c_void) -> ropegen_status;
    pub fn ropegen_copy_to_device(
        ctx: *mut ropegen_context,
        dst: *mut c_void,
        src: *const c_void,
        bytes: usize,
    ) -> ropegen_status;
    pub fn ropegen_copy_to_host(
        ctx: *mut ropegen_context,
        dst: *mut c_void,
        src: *const c_void,
        bytes: usize,
    ) -> ropegen_status;
    pub fn ropegen_synchronize(ctx: *mut ropegen_context) -> ropegen_status;

    pub fn ropegen_kernel_check(
        ctx: *mut ropegen_context,
        bounds_error_buffer: *const c_void,
        out: *mut ropegen_bounds_error,
    ) -> ropegen_status;

    pub fn ropegen_kernel_verify(
        ctx: *mut ropegen_context,
        kernel: *const ropegen_kernel,
        tokens: c_longlong,
        seed: c_ulonglong,
        passed: *mut c_int,
    ) -> ropegen_status;

    pub fn ropegen_tune(
        ctx: *mut ropegen_context,
        spec: *const c_char,
        options: *const ropegen_tune_options,
        results: *mut ropegen_tune_result,
        capacity: usize,
        count: *mut usize,
    ) -> ropegen_status;
}

/// One field of an argument block's layout: name, byte offset, byte size, kind
/// (`ROPEGEN_FIELD_*`).
pub type FieldLayout = (String, usize, usize, ropegen_field_kind);

/// The Rust copy of the argument block, field by field: (name, byte offset, byte size,
/// kind), in declaration order; the kind comes from each field's type ([`FieldKind`]). The
/// tests (and the `ropegen` crate, before its first launch) compare it with
/// `ropegen_kernel_args_layout()`.
pub fn kernel_args_layout_rust() -> Vec<(&'static str, usize, usize, ropegen_field_kind)> {
    macro_rules! fields {
        ($($f:ident),*) => {{
            let a = std::mem::MaybeUninit::<ropegen_kernel_args>::uninit();
            let base = a.as_ptr() as usize;
            vec![$({
                // addr_of! on a field of an uninitialised value: no read, no reference.
                let p = unsafe { std::ptr::addr_of!((*a.as_ptr()).$f) };
                (stringify!($f), p as usize - base, size_of_pointee(p), kind_of_pointee(p))
            }),*]
        }};
    }
    fields!(
        size,
        abi_version,
        num_tokens,
        positions,
        slot_mapping,
        q,
        q_stride,
        k,
        k_stride,
        v,
        v_stride,
        cos,
        sin,
        cos_sin_stride,
        k_cache,
        v_cache,
        max_seq,
        cache_slots,
        table_rows,
        bounds_error,
        q_head_stride,
        k_head_stride,
        v_head_stride,
        q_out,
        q_out_stride,
        k_out,
        k_out_stride,
        positions_stride,
        seq_lens,
        k_scale,
        v_scale,
        q_scale,
        q_norm_weight,
        k_norm_weight,
        k_cache_scales,
        v_cache_scales,
        q_out_scales,
        cache_block_stride,
        cache_token_stride,
        cache_head_stride,
        ring_base,
        norm_sums,
        grid_h,
        grid_w,
        q_bias,
        k_bias,
        v_bias,
        gate_out,
        gate_out_stride,
        num_layers,
        layers,
        q_layer_stride,
        k_layer_stride,
        v_layer_stride
    )
}

fn size_of_pointee<T>(_: *const T) -> usize {
    std::mem::size_of::<T>()
}

fn kind_of_pointee<T: FieldKind>(_: *const T) -> ropegen_field_kind {
    T::KIND
}

/// The library's argument block: (fields as (name, offset, size, kind), total size, ABI
/// version).
pub fn kernel_args_layout_c() -> (Vec<FieldLayout>, usize, c_uint) {
    let (mut n, mut size, mut version) = (0usize, 0usize, 0 as c_uint);
    let mut out = Vec::new();
    unsafe {
        let f = ropegen_kernel_args_layout(&mut n, &mut size, &mut version);
        for i in 0..n {
            let e = &*f.add(i);
            let name = std::ffi::CStr::from_ptr(e.name).to_string_lossy().into_owned();
            out.push((name, e.offset, e.size, e.kind));
        }
    }
    (out, size, version)
}

/// The differences between two layouts of the argument block, one line each: a field on
/// one side only (by name), a field whose offset, size or kind differ, and the order.
/// Empty when they are the same.
pub fn diff_layouts(ours: &[FieldLayout], theirs: &[FieldLayout]) -> Vec<String> {
    let mut out = Vec::new();
    let find = |v: &[FieldLayout], n: &str| v.iter().position(|f| f.0 == n);
    for f in ours {
        if find(theirs, &f.0).is_none() {
            out.push(format!("field '{}' is in ropegen-sys's ropegen_kernel_args but not in the library's", f.0));
        }
    }
    for f in theirs {
        match find(ours, &f.0) {
            None => out.push(format!(
                "field '{}' ({}, offset {}, size {}) is in the library's ropegen_kernel_args but not in \
                 ropegen-sys's: add it to the struct and to kernel_args_layout_rust()",
                f.0,
                field_kind_name(f.3),
                f.1,
                f.2
            )),
            Some(i) => {
                let o = &ours[i];
                if (o.1, o.2, o.3) != (f.1, f.2, f.3) {
                    out.push(format!(
                        "field '{}': ropegen-sys has offset {}, size {}, {}; the library offset {}, size {}, {}",
                        f.0,
                        o.1,
                        o.2,
                        field_kind_name(o.3),
                        f.1,
                        f.2,
                        field_kind_name(f.3)
                    ));
                }
            }
        }
    }
    if out.is_empty() && ours != theirs {
        let names = |v: &[FieldLayout]| v.iter().map(|f| f.0.clone()).collect::<Vec<_>>().join(", ");
        out.push(format!("the fields are in another order:\n  ours   {}\n  theirs {}", names(ours), names(theirs)));
    }
    out
}

/// Ok when this crate's `ropegen_kernel_args` is the library's, field by field (names,
/// offsets, sizes, kinds), in total size and in ABI version; else a message naming each
/// difference.
pub fn check_kernel_args_layout() -> Result<(), String> {
    let ours: Vec<FieldLayout> =
        kernel_args_layout_rust().iter().map(|&(n, o, s, k)| (n.to_string(), o, s, k)).collect();
    let (theirs, size, version) = kernel_args_layout_c();
    let our_size = std::mem::size_of::<ropegen_kernel_args>();
    let mut diffs = diff_layouts(&ours, &theirs);
    if size != our_size || version != ROPEGEN_KERNEL_ABI_VERSION {
        diffs.push(format!(
            "ropegen-sys's block is {} bytes, ABI version {}; the library's {} bytes, ABI version {}",
            our_size, ROPEGEN_KERNEL_ABI_VERSION, size, version
        ));
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(format!("ropegen-sys's ropegen_kernel_args does not match libropegen_c's:\n  {}", diffs.join("\n  ")))
    }
}

/// Where build.rs found libropegen_c: `ROPEGEN_LIB_DIR`, pkg-config's libdir, or the CMake
/// build folder when it built the library from source (which also holds `ropegen_abi_probe`).
pub const LIB_DIR: &str = env!("ROPEGEN_LIB_DIR_USED");

/// How libropegen_c is linked: `shared (ROPEGEN_LIB_DIR)`, `shared (pkg-config)` (both with an
/// rpath for this crate's own binaries), or `static (built from <source folder>)`.
pub const LINKAGE: &str = env!("ROPEGEN_LINKAGE");
