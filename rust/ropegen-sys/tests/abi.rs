//! ropegen-sys against the C header.
//!
//! `kernel_args_layout`: the argument block against what the library reports at run time
//! (ropegen_kernel_args_layout: names, offsets, sizes, kinds, total size, ABI version);
//! `a_field_on_one_side_only_fails`: that comparison names a field added on either side.
//! `structs_match_c_probe`: every struct's size, alignment and field offsets/sizes, the
//! status and field-kind values and the INIT macros against `ropegen_abi_probe`, a C
//! program CMake builds from ropegen.h next to libropegen_c (or $ROPEGEN_ABI_PROBE); it
//! lists the argument block's fields from the library's table, so a field added to
//! kernel_args.h needs only ropegen-sys's struct and list to follow. A missing probe fails.
use ropegen_sys::*;
use std::ffi::CStr;
use std::mem::{align_of, size_of, MaybeUninit};
use std::path::PathBuf;
use std::process::Command;

#[test]
fn kernel_args_layout() {
    if let Err(e) = check_kernel_args_layout() {
        panic!("{}", e);
    }
    let (fields, size, version) = kernel_args_layout_c();
    assert_eq!(fields.len(), kernel_args_layout_rust().len());
    assert_eq!(size, size_of::<ropegen_kernel_args>());
    assert_eq!(version, ROPEGEN_KERNEL_ABI_VERSION);
    let a = ropegen_kernel_args::init();
    assert_eq!(a.size as usize, size);
    assert_eq!(a.abi_version, version);
    // The kind column: the header is integers; typed pointers (cos: *const f32, bounds_error:
    // *mut u64) are pointers; pointers are pointer-sized.
    let kind = |n: &str| fields.iter().find(|f| f.0 == n).map(|f| f.3).unwrap();
    for n in ["size", "abi_version", "num_tokens", "q_stride", "max_seq", "positions_stride"] {
        assert_eq!(kind(n), ROPEGEN_FIELD_INTEGER, "{}", n);
    }
    for n in ["positions", "q", "cos", "k_cache", "bounds_error", "seq_lens", "k_scale", "k_norm_weight"] {
        assert_eq!(kind(n), ROPEGEN_FIELD_POINTER, "{}", n);
    }
    for f in &fields {
        assert!(matches!(f.3, ROPEGEN_FIELD_POINTER | ROPEGEN_FIELD_INTEGER | ROPEGEN_FIELD_FLOAT), "{:?}", f);
        if f.3 == ROPEGEN_FIELD_POINTER {
            assert_eq!(f.2, size_of::<*const u8>(), "{:?}", f);
        }
    }
}

#[test]
fn a_field_on_one_side_only_fails() {
    let theirs = kernel_args_layout_c().0;
    let ours: Vec<FieldLayout> =
        kernel_args_layout_rust().iter().map(|&(n, o, s, k)| (n.to_string(), o, s, k)).collect();
    assert!(diff_layouts(&ours, &theirs).is_empty(), "{:?}", diff_layouts(&ours, &theirs));
    let end = ours.last().map(|f| f.1 + f.2).unwrap();
    // A pointer field appended to kernel_args.h but not to ropegen-sys (and the reverse).
    let mut added = theirs.clone();
    added.push(("k_pe_scale".to_string(), end, 8, ROPEGEN_FIELD_POINTER));
    let d = diff_layouts(&ours, &added);
    assert_eq!(d.len(), 1, "{:?}", d);
    assert!(d[0].contains("'k_pe_scale'") && d[0].contains("not in ropegen-sys's"), "{}", d[0]);
    let d = diff_layouts(&added, &theirs);
    assert!(d.len() == 1 && d[0].contains("'k_pe_scale'") && d[0].contains("not in the library's"), "{:?}", d);
    // Same name, offset and size, another kind.
    let mut retyped = theirs.clone();
    let i = retyped.iter().position(|f| f.0 == "max_seq").unwrap();
    retyped[i].3 = ROPEGEN_FIELD_FLOAT;
    let d = diff_layouts(&ours, &retyped);
    assert!(d.len() == 1 && d[0].contains("'max_seq'") && d[0].contains("float"), "{:?}", d);
    // Two fields swapped.
    let mut swapped = theirs.clone();
    swapped.swap(3, 4);
    assert!(!diff_layouts(&ours, &swapped).is_empty());
}

#[test]
fn status_values_match_library_names() {
    let names = [
        (ROPEGEN_OK, "ROPEGEN_OK"),
        (ROPEGEN_ERROR_INVALID_ARGUMENT, "ROPEGEN_ERROR_INVALID_ARGUMENT"),
        (ROPEGEN_ERROR_PARSE, "ROPEGEN_ERROR_PARSE"),
        (ROPEGEN_ERROR_SPEC, "ROPEGEN_ERROR_SPEC"),
        (ROPEGEN_ERROR_TARGET, "ROPEGEN_ERROR_TARGET"),
        (ROPEGEN_ERROR_COMPILE, "ROPEGEN_ERROR_COMPILE"),
        (ROPEGEN_ERROR_LOAD, "ROPEGEN_ERROR_LOAD"),
        (ROPEGEN_ERROR_LAUNCH, "ROPEGEN_ERROR_LAUNCH"),
        (ROPEGEN_ERROR_CACHE, "ROPEGEN_ERROR_CACHE"),
        (ROPEGEN_ERROR_IO, "ROPEGEN_ERROR_IO"),
        (ROPEGEN_ERROR_INTERNAL, "ROPEGEN_ERROR_INTERNAL"),
    ];
    for &(v, name) in names.iter() {
        let s = unsafe { CStr::from_ptr(ropegen_status_string(v)) }.to_str().unwrap();
        assert_eq!(s, name, "status value {}", v);
    }
    let s = unsafe { CStr::from_ptr(ropegen_status_string(11)) }.to_str().unwrap();
    assert_eq!(s, "unknown status", "a status past ROPEGEN_ERROR_INTERNAL exists in the library but not here");
}

macro_rules! layout {
    ($out:ident, $t:ident { $($f:ident),* }) => {{
        $out.push(format!("struct {} size {} align {}", stringify!($t), size_of::<$t>(), align_of::<$t>()));
        let a = MaybeUninit::<$t>::uninit();
        let base = a.as_ptr() as usize;
        $({
            let p = unsafe { std::ptr::addr_of!((*a.as_ptr()).$f) };
            $out.push(format!("field {}.{} offset {} size {}", stringify!($t), stringify!($f),
                              p as usize - base, size_of_pointee(p)));
        })*
    }};
}

fn size_of_pointee<T>(_: *const T) -> usize {
    size_of::<T>()
}

/// What the probe must print, from the Rust declarations.
fn rust_lines() -> Vec<String> {
    let mut out = Vec::new();
    // The argument block's fields come from the crate's own list (kernel_args_layout_rust), so
    // the probe checks that list too.
    out.push(format!(
        "struct ropegen_kernel_args size {} align {}",
        size_of::<ropegen_kernel_args>(),
        align_of::<ropegen_kernel_args>()
    ));
    for (name, offset, size, _) in kernel_args_layout_rust() {
        out.push(format!("field ropegen_kernel_args.{} offset {} size {}", name, offset, size));
    }
    layout!(
        out,
        ropegen_layer_args {
            k_cache,
            v_cache,
            k_cache_scales,
            v_cache_scales,
            k_scale,
            v_scale,
            q_scale,
            q_out,
            k_out,
            q_out_scales,
            gate_out,
            q_norm_weight,
            k_norm_weight,
            q_bias,
            k_bias,
            v_bias
        }
    );
    layout!(
        out,
        ropegen_kernel_info {
            block_threads,
            wave,
            vec,
            tensor_align,
            table_align,
            entry,
            target,
            tokens_per_block,
            head_groups,
            origin
        }
    );
    layout!(out, ropegen_kernel_args_field { name, offset, size, kind });
    layout!(out, ropegen_context_options { size, cache_dir, cache_path, compiler, dump_dir, no_compile, verbose });
    layout!(out, ropegen_bounds_error { violated, token, value, limit, kind });
    layout!(out, ropegen_tune_options { size, buckets, num_buckets, reps, set, store, stream });
    layout!(
        out,
        ropegen_tune_result {
            tokens,
            default_tokens_per_block,
            default_head_groups,
            default_us,
            best_tokens_per_block,
            best_head_groups,
            best_us,
            candidates
        }
    );
    out.push(format!(
        "struct ropegen_status size {} align {}",
        size_of::<ropegen_status>(),
        align_of::<ropegen_status>()
    ));
    out.push(format!(
        "struct ropegen_field_kind size {} align {}",
        size_of::<ropegen_field_kind>(),
        align_of::<ropegen_field_kind>()
    ));
    for (name, v) in [
        ("ROPEGEN_KERNEL_ABI_VERSION", ROPEGEN_KERNEL_ABI_VERSION as i64),
        ("ROPEGEN_OK", ROPEGEN_OK as i64),
        ("ROPEGEN_ERROR_INVALID_ARGUMENT", ROPEGEN_ERROR_INVALID_ARGUMENT as i64),
        ("ROPEGEN_ERROR_PARSE", ROPEGEN_ERROR_PARSE as i64),
        ("ROPEGEN_ERROR_SPEC", ROPEGEN_ERROR_SPEC as i64),
        ("ROPEGEN_ERROR_TARGET", ROPEGEN_ERROR_TARGET as i64),
        ("ROPEGEN_ERROR_COMPILE", ROPEGEN_ERROR_COMPILE as i64),
        ("ROPEGEN_ERROR_LOAD", ROPEGEN_ERROR_LOAD as i64),
        ("ROPEGEN_ERROR_LAUNCH", ROPEGEN_ERROR_LAUNCH as i64),
        ("ROPEGEN_ERROR_CACHE", ROPEGEN_ERROR_CACHE as i64),
        ("ROPEGEN_ERROR_IO", ROPEGEN_ERROR_IO as i64),
        ("ROPEGEN_ERROR_INTERNAL", ROPEGEN_ERROR_INTERNAL as i64),
        ("ROPEGEN_BOUNDS_ERROR_BYTES", ROPEGEN_BOUNDS_ERROR_BYTES as i64),
        ("ROPEGEN_FIELD_POINTER", ROPEGEN_FIELD_POINTER as i64),
        ("ROPEGEN_FIELD_INTEGER", ROPEGEN_FIELD_INTEGER as i64),
        ("ROPEGEN_FIELD_FLOAT", ROPEGEN_FIELD_FLOAT as i64),
    ] {
        out.push(format!("const {} {}", name, v));
    }
    let o = ropegen_context_options::init();
    out.push(format!(
        "init ropegen_context_options size {} no_compile {} verbose {} nulls {}",
        o.size,
        o.no_compile,
        o.verbose,
        (o.cache_dir.is_null() && o.cache_path.is_null() && o.compiler.is_null() && o.dump_dir.is_null()) as i32
    ));
    let t = ropegen_tune_options::init();
    out.push(format!(
        "init ropegen_tune_options size {} reps {} set {} store {} nulls {}",
        t.size,
        t.reps,
        t.set,
        t.store,
        (t.buckets.is_null() && t.num_buckets == 0 && t.stream.is_null()) as i32
    ));
    let a = ropegen_kernel_args::init();
    out.push(format!("init ropegen_kernel_args size {} abi_version {}", a.size, a.abi_version));
    out
}

fn probe_path() -> PathBuf {
    match std::env::var("ROPEGEN_ABI_PROBE") {
        Ok(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(LIB_DIR).join("ropegen_abi_probe"),
    }
}

#[test]
fn structs_match_c_probe() {
    let probe = probe_path();
    let out = Command::new(&probe).output().unwrap_or_else(|e| {
        panic!(
            "cannot run the C layout probe {} ({}): build it with `cmake --build build --target ropegen_abi_probe` \
             or point ROPEGEN_ABI_PROBE at it",
            probe.display(),
            e
        )
    });
    assert!(out.status.success(), "{} failed: {:?}", probe.display(), out.status);
    let text = String::from_utf8(out.stdout).unwrap();
    let c: Vec<&str> = text.lines().collect();
    let rust = rust_lines();
    let mut diffs = Vec::new();
    for i in 0..c.len().max(rust.len()) {
        let (a, b) = (c.get(i).copied().unwrap_or("<none>"), rust.get(i).map(|s| s.as_str()).unwrap_or("<none>"));
        if a != b {
            diffs.push(format!("  C:    {}\n  Rust: {}", a, b));
        }
    }
    assert!(diffs.is_empty(), "ropegen-sys differs from ropegen.h:\n{}", diffs.join("\n"));
    assert!(c.len() > 40, "the probe printed too little:\n{}", text);
}

#[test]
fn version_and_last_error() {
    let v = unsafe { CStr::from_ptr(ropegen_version_string()) }.to_str().unwrap();
    assert!(v.split('.').count() == 3, "version {}", v);
    let mut ctx: *mut ropegen_context = std::ptr::null_mut();
    let status = unsafe { ropegen_context_create(b"no-such-runtime\0".as_ptr() as *const _, -1, &mut ctx) };
    assert_eq!(status, ROPEGEN_ERROR_LOAD);
    assert!(ctx.is_null());
    let msg = unsafe { CStr::from_ptr(ropegen_last_error()) }.to_string_lossy().into_owned();
    assert!(msg.contains("no-such-runtime"), "{}", msg);
    assert_eq!(unsafe { ropegen_status_fault(ROPEGEN_OK) }, 0);
    assert_eq!(unsafe { ropegen_status_fault(ROPEGEN_ERROR_PARSE) }, 1);
}
