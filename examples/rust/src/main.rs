//! A Rust engine calling ropegen through its C API, with a hand-written `extern "C"` block
//! (std only). Asks for a kernel at run time, launches it on buffers it owns, and checks it.
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_longlong, c_uint, c_ulonglong, c_void};
use std::ptr;

/// Mirror of `ropegen_kernel_args` (include/ropegen/kernel_args.h); `check_layout` compares
/// it with the layout the library reports before anything is launched.
#[repr(C)]
#[derive(Clone, Copy)]
struct KernelArgs {
    size: c_uint,
    abi_version: c_uint,
    num_tokens: c_longlong,
    positions: *const c_void,
    slot_mapping: *const c_void,
    q: *mut c_void,
    q_stride: c_longlong,
    k: *mut c_void,
    k_stride: c_longlong,
    v: *const c_void,
    v_stride: c_longlong,
    cos: *const f32,
    sin: *const f32,
    cos_sin_stride: c_longlong,
    k_cache: *mut c_void,
    v_cache: *mut c_void,
    max_seq: c_longlong,
}

#[repr(C)]
struct ArgsField {
    name: *const c_char,
    offset: usize,
    size: usize,
}

macro_rules! field_of {
    ($f:ident) => {{
        let a = std::mem::MaybeUninit::<KernelArgs>::uninit();
        let base = a.as_ptr() as usize;
        let p = unsafe { std::ptr::addr_of!((*a.as_ptr()).$f) };
        (stringify!($f).to_string(), p as usize - base, std::mem::size_of_val(unsafe { &*p }))
    }};
}

/// Our KernelArgs, field by field, against the library's; returns the ABI version.
fn check_layout() -> c_uint {
    let ours = vec![
        field_of!(size), field_of!(abi_version), field_of!(num_tokens), field_of!(positions),
        field_of!(slot_mapping), field_of!(q), field_of!(q_stride), field_of!(k), field_of!(k_stride),
        field_of!(v), field_of!(v_stride), field_of!(cos), field_of!(sin), field_of!(cos_sin_stride),
        field_of!(k_cache), field_of!(v_cache), field_of!(max_seq),
    ];
    let (mut n, mut size, mut version) = (0usize, 0usize, 0 as c_uint);
    let theirs: Vec<(String, usize, usize)> = unsafe {
        let f = ropegen_kernel_args_layout(&mut n, &mut size, &mut version);
        (0..n)
            .map(|i| {
                let e = &*f.add(i);
                (CStr::from_ptr(e.name).to_string_lossy().into_owned(), e.offset, e.size)
            })
            .collect()
    };
    if ours != theirs || size != std::mem::size_of::<KernelArgs>() {
        eprintln!("KernelArgs does not match the library's ropegen_kernel_args:\n ours   {:?}\n theirs {:?}", ours, theirs);
        std::process::exit(1);
    }
    version
}

#[repr(C)]
struct KernelInfo {
    block_threads: c_int,
    wave: c_int,
    vec: c_int,
    tensor_align: c_int,
    table_align: c_int,
    entry: [c_char; 96],
    target: [c_char; 64],
}

enum Context {}
enum Kernel {}

extern "C" {
    fn ropegen_last_error() -> *const c_char;
    fn ropegen_kernel_args_layout(count: *mut usize, size: *mut usize, abi_version: *mut c_uint) -> *const ArgsField;
    fn ropegen_context_create(runtime: *const c_char, device: c_int, out: *mut *mut Context) -> c_int;
    fn ropegen_context_destroy(ctx: *mut Context);
    fn ropegen_kernel_create(ctx: *mut Context, spec: *const c_char, out: *mut *mut Kernel) -> c_int;
    fn ropegen_kernel_destroy(k: *mut Kernel);
    fn ropegen_kernel_get_info(k: *const Kernel, out: *mut KernelInfo) -> c_int;
    fn ropegen_kernel_launch(k: *const Kernel, args: *const KernelArgs, stream: *mut c_void) -> c_int;
    fn ropegen_kernel_verify(ctx: *mut Context, k: *const Kernel, tokens: c_longlong, seed: c_ulonglong, passed: *mut c_int) -> c_int;
}

fn last_error() -> String {
    unsafe { CStr::from_ptr(ropegen_last_error()).to_string_lossy().into_owned() }
}

fn main() {
    // The host runtime: Rust owns plain memory here; on a GPU the pointers would be device memory.
    let abi_version = check_layout();
    let runtime = CString::new("host").unwrap();
    let spec = CString::new("op=rope head_dim=8 q_heads=2 kv_heads=1 dtype=f32").unwrap();
    unsafe {
        let mut ctx: *mut Context = ptr::null_mut();
        if ropegen_context_create(runtime.as_ptr(), -1, &mut ctx) != 0 {
            eprintln!("context: {}", last_error());
            std::process::exit(1);
        }
        let mut kernel: *mut Kernel = ptr::null_mut();
        if ropegen_kernel_create(ctx, spec.as_ptr(), &mut kernel) != 0 {
            eprintln!("kernel: {}", last_error());
            std::process::exit(1);
        }
        let mut info: KernelInfo = std::mem::zeroed();
        ropegen_kernel_get_info(kernel, &mut info);
        println!("kernel {} for {}", CStr::from_ptr(info.entry.as_ptr()).to_string_lossy(),
                 CStr::from_ptr(info.target.as_ptr()).to_string_lossy());

        // One token, position 1; pair j turns by theta_j = 1 * 10000^(-2j/8). Vectors need
        // 16-byte alignment: keep the data in arrays of [f32; 4] chunks.
        #[repr(C, align(16))]
        struct Row([f32; 16]);
        let mut q = Row([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        let mut k = Row([0.5; 16]);
        let mut table = Row([0.0; 16]); // [max_pos = 2, rot = 8] = [cos | sin] per row
        for j in 0..4 {
            let angle = (10000f64).powf(-2.0 * j as f64 / 8.0);
            table.0[8 + j] = angle.cos() as f32;
            table.0[12 + j] = angle.sin() as f32;
            table.0[j] = 1.0;
        }
        let positions: [i32; 1] = [1];
        let args = KernelArgs {
            size: std::mem::size_of::<KernelArgs>() as c_uint,
            abi_version,
            q: q.0.as_mut_ptr() as *mut c_void,
            k: k.0.as_mut_ptr() as *mut c_void,
            v: ptr::null(),
            k_cache: ptr::null_mut(),
            v_cache: ptr::null_mut(),
            positions: positions.as_ptr() as *const c_void,
            slot_mapping: ptr::null(),
            cos: table.0.as_ptr(),
            sin: table.0.as_ptr().add(4),
            num_tokens: 1,
            q_stride: 16,
            k_stride: 8,
            v_stride: 0,
            cos_sin_stride: 8,
            max_seq: 0,
        };
        if ropegen_kernel_launch(kernel, &args, ptr::null_mut()) != 0 {
            eprintln!("launch: {}", last_error());
            std::process::exit(1);
        }
        let c0 = (1.0f64).cos() as f32;
        let s0 = (1.0f64).sin() as f32;
        println!("q[0] = {:.6} (expect cos 1 = {:.6}), q[4] = {:.6} (expect sin 1 = {:.6})", q.0[0], c0, q.0[4], s0);
        let direct_ok = (q.0[0] - c0).abs() < 1e-6 && (q.0[4] - s0).abs() < 1e-6;

        // A bad call is an error status with a message, never a crash.
        let bad = KernelArgs { q: ptr::null_mut(), ..args };
        let status = ropegen_kernel_launch(kernel, &bad, ptr::null_mut());
        println!("launch with q = NULL: status {} ({})", status, last_error());

        let mut passed: c_int = 0;
        ropegen_kernel_verify(ctx, kernel, 37, 1, &mut passed);
        println!("verify against the reference: {}", if passed == 1 { "PASS" } else { "FAIL" });
        ropegen_kernel_destroy(kernel);
        ropegen_context_destroy(ctx);
        let ok = direct_ok && status != 0 && passed == 1;
        println!("{}", if ok { "example OK" } else { "example FAILED" });
        std::process::exit(if ok { 0 } else { 1 });
    }
}
