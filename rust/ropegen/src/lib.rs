//! Safe Rust API of ropegen: RoPE and KV-cache kernels generated, compiled and cached at run
//! time for the device in hand (NVIDIA, AMD, or the host CPU), over the C API in
//! `libropegen_c` (see the `ropegen-sys` crate).
//!
//! ```no_run
//! use ropegen::{Args, Context, Stream};
//! let ctx = Context::new("host", -1)?;
//! let kernel = ctx.kernel("op=rope head_dim=128 q_heads=32 kv_heads=8 dtype=f32")?;
//! # let (mut q, mut k, pos, cos, sin) = (vec![0f32; 4096], vec![0f32; 1024], vec![0i32; 1], vec![0f32; 64], vec![0f32; 64]);
//! let args = Args::new(1)
//!     .q(&mut q[..], 32 * 128)
//!     .k(&mut k[..], 8 * 128)
//!     .positions(&pos[..])
//!     .cos_sin(&cos[..], &sin[..], 64);
//! kernel.launch(&args, Stream::DEFAULT)?;
//! # Ok::<(), ropegen::Error>(())
//! ```
//!
//! On a GPU the engine passes its own device memory (the README's example, compiled here):
//!
//! ```no_run
//! use ropegen::{Args, Context, DevicePtr, Stream};
//! # fn f(ptrs: [*mut std::ffi::c_void; 8], stream: *mut std::ffi::c_void, n: usize) -> Result<(), ropegen::Error> {
//! let ctx = Context::new("auto", -1)?;                  // the GPU this process sees, else the host
//! let k = ctx.kernel("op=rope_kv_append head_dim=128 q_heads=32 kv_heads=8 dtype=bf16 cache=contiguous(order=hnd)")?;
//! let [q, key, v, kc, vc, pos, cos, sin] = ptrs.map(|p| unsafe { DevicePtr::new(p) });   // engine's device memory
//! let args = Args::new(n).q(q, 32 * 128).k(key, 8 * 128).v(v, 8 * 128).positions(pos)
//!     .cos_sin(cos, sin, 64).caches(kc, vc).max_seq(4096).limits(4096, 8192);
//! k.launch(&args, unsafe { Stream::from_raw(stream) })?;   // Err(ropegen::Error): status, fault, message
//! println!("{:?} {}", k.info(), k.describe());             // plan, alignments, entry, target, origin; JSON
//! # Ok(()) }
//! ```
//!
//! What is checked where: this crate checks what it can see cheaply against the kernel's
//! own description (`ropegen_kernel_describe`) — that every pointer set is an argument the
//! kernel takes and every required one is set (by walking the pointer fields of the
//! argument block's layout table, so a field added to the block needs no change here),
//! that nothing the kernel writes was passed read-only, a host slice's element type and
//! length against the kernel's argument shapes, and that host slices go only to host
//! kernels. Every launch passes the limits `cache_slots` and `table_rows` from the sizes of
//! the caches and tables it knows (or [`Args::limits`]): the kernel skips a token whose slot
//! is past the cache or whose position is outside the table. The C library checks the rest
//! before every launch (null pointers, strides, alignment, the limits, the argument block's
//! ABI). Device pointers of unknown size ([`DevicePtr::new`]) are unchecked beyond that:
//! their constructor is unsafe.

use std::ffi::{CStr, CString};
use std::fmt;
use std::marker::PhantomData;
use std::os::raw::{c_char, c_void};
use std::path::Path;
use std::ptr;
use std::sync::Arc;

pub use ropegen_sys as sys;

mod json;

// ---------------------------------------------------------------------------------------
// Errors

/// Which kind of failure a status is (`ropegen_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// A null pointer or bad value passed to the API.
    InvalidArgument,
    /// Spec text did not parse.
    Parse,
    /// Spec is contradictory or unsupported by the target.
    Spec,
    Target,
    Compile,
    /// Includes "no such device / no driver".
    Load,
    /// Argument checks before a launch (in Rust or in C), or the launch itself.
    Launch,
    Cache,
    Io,
    Internal,
    /// A status this crate does not know (a newer library).
    Unknown(i32),
}

impl Status {
    pub fn from_raw(s: sys::ropegen_status) -> Option<Status> {
        Some(match s {
            sys::ROPEGEN_OK => return None,
            sys::ROPEGEN_ERROR_INVALID_ARGUMENT => Status::InvalidArgument,
            sys::ROPEGEN_ERROR_PARSE => Status::Parse,
            sys::ROPEGEN_ERROR_SPEC => Status::Spec,
            sys::ROPEGEN_ERROR_TARGET => Status::Target,
            sys::ROPEGEN_ERROR_COMPILE => Status::Compile,
            sys::ROPEGEN_ERROR_LOAD => Status::Load,
            sys::ROPEGEN_ERROR_LAUNCH => Status::Launch,
            sys::ROPEGEN_ERROR_CACHE => Status::Cache,
            sys::ROPEGEN_ERROR_IO => Status::Io,
            sys::ROPEGEN_ERROR_INTERNAL => Status::Internal,
            other => Status::Unknown(other),
        })
    }
    pub fn to_raw(self) -> sys::ropegen_status {
        match self {
            Status::InvalidArgument => sys::ROPEGEN_ERROR_INVALID_ARGUMENT,
            Status::Parse => sys::ROPEGEN_ERROR_PARSE,
            Status::Spec => sys::ROPEGEN_ERROR_SPEC,
            Status::Target => sys::ROPEGEN_ERROR_TARGET,
            Status::Compile => sys::ROPEGEN_ERROR_COMPILE,
            Status::Load => sys::ROPEGEN_ERROR_LOAD,
            Status::Launch => sys::ROPEGEN_ERROR_LAUNCH,
            Status::Cache => sys::ROPEGEN_ERROR_CACHE,
            Status::Io => sys::ROPEGEN_ERROR_IO,
            Status::Internal => sys::ROPEGEN_ERROR_INTERNAL,
            Status::Unknown(v) => v,
        }
    }
    /// The library's name for it ("ROPEGEN_ERROR_SPEC").
    pub fn name(self) -> String {
        unsafe { cstr(sys::ropegen_status_string(self.to_raw())) }
    }
}

/// Whose fault an error is (`ropegen_status_fault`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The caller's: bad spec text, arguments, an unsupported target.
    Caller,
    /// The machine's: a missing compiler or driver, an unwritable or damaged cache.
    Machine,
    /// ropegen's own: a broken internal invariant (please report it).
    Ropegen,
}

/// A failed ropegen call: its status, whose fault it is, and the library's message
/// (`ropegen_last_error`, copied right after the call on the calling thread).
#[derive(Clone, Debug)]
pub struct Error {
    status: Status,
    fault: Fault,
    message: String,
}

impl Error {
    fn from_status(s: sys::ropegen_status, message: String) -> Error {
        let status = Status::from_raw(s).unwrap_or(Status::Internal);
        let fault = match unsafe { sys::ropegen_status_fault(s) } {
            1 => Fault::Caller,
            2 => Fault::Machine,
            _ => Fault::Ropegen,
        };
        Error { status, fault, message }
    }
    /// An error found by this crate's own checks (always the caller's).
    fn caller(status: Status, message: String) -> Error {
        Error { status, fault: Fault::Caller, message }
    }
    pub fn status(&self) -> Status {
        self.status
    }
    pub fn fault(&self) -> Fault {
        self.fault
    }
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status.name(), self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

unsafe fn cstr(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// Ok, or the error with the thread-local message copied now.
fn check(status: sys::ropegen_status) -> Result<()> {
    if status == sys::ROPEGEN_OK {
        return Ok(());
    }
    let message = unsafe { cstr(sys::ropegen_last_error()) };
    Err(Error::from_status(status, message))
}

fn c_string(what: &str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::caller(Status::InvalidArgument, format!("{} contains a NUL byte", what)))
}

/// The library's version ("0.1.0").
pub fn version() -> String {
    unsafe { cstr(sys::ropegen_version_string()) }
}

/// Checks ropegen-sys's copy of the argument block against the loaded library's (names,
/// offsets, sizes, total size, ABI version). [`Context::new`] runs it before anything can
/// be launched.
pub fn check_abi() -> Result<()> {
    sys::check_kernel_args_layout().map_err(|m| Error::caller(Status::InvalidArgument, m))
}

// ---------------------------------------------------------------------------------------
// Context

/// JIT options of one context (`ropegen_context_options`). Anything not set keeps the
/// environment's value (docs/env.md).
#[derive(Clone, Debug, Default)]
pub struct ContextOptions {
    cache_dir: Option<CString>,
    cache_path: Option<CString>,
    compiler: Option<CString>,
    dump_dir: Option<CString>,
    no_compile: Option<bool>,
    verbose: Option<bool>,
    bad: Option<String>,
}

impl ContextOptions {
    pub fn new() -> Self {
        Self::default()
    }
    fn set(&mut self, what: &str, s: &str) -> Option<CString> {
        match CString::new(s) {
            Ok(c) => Some(c),
            Err(_) => {
                self.bad = Some(format!("option {} contains a NUL byte", what));
                None
            }
        }
    }
    /// User cache directory; "" disables the disk cache (`ROPEGEN_CACHE_DIR`).
    pub fn cache_dir<P: AsRef<Path>>(mut self, dir: P) -> Self {
        let s = dir.as_ref().to_string_lossy().into_owned();
        self.cache_dir = self.set("cache_dir", &s);
        self
    }
    /// Read-only bundle directories, searched in order (`ROPEGEN_CACHE_PATH`).
    pub fn cache_path<P: AsRef<Path>>(mut self, dirs: &[P]) -> Self {
        let s: Vec<String> = dirs.iter().map(|d| d.as_ref().to_string_lossy().into_owned()).collect();
        self.cache_path = self.set("cache_path", &s.join(":"));
        self
    }
    /// Force a backend: "hiprtc", "clang-amdgpu", "nvrtc", "host-cxx" (`ROPEGEN_COMPILER`).
    pub fn compiler(mut self, name: &str) -> Self {
        self.compiler = self.set("compiler", name);
        self
    }
    /// Write source, options and log of every compile here (`ROPEGEN_DUMP_DIR`).
    pub fn dump_dir<P: AsRef<Path>>(mut self, dir: P) -> Self {
        let s = dir.as_ref().to_string_lossy().into_owned();
        self.dump_dir = self.set("dump_dir", &s);
        self
    }
    /// true: a cache miss is an error instead of a compile (`ROPEGEN_NO_COMPILE`).
    pub fn no_compile(mut self, on: bool) -> Self {
        self.no_compile = Some(on);
        self
    }
    /// true: one line per build on stderr (`ROPEGEN_VERBOSE`).
    pub fn verbose(mut self, on: bool) -> Self {
        self.verbose = Some(on);
        self
    }
    fn raw(&self) -> sys::ropegen_context_options {
        let p = |s: &Option<CString>| s.as_ref().map_or(ptr::null(), |c| c.as_ptr());
        let flag = |f: Option<bool>| f.map_or(-1, |b| b as i32);
        sys::ropegen_context_options {
            cache_dir: p(&self.cache_dir),
            cache_path: p(&self.cache_path),
            compiler: p(&self.compiler),
            dump_dir: p(&self.dump_dir),
            no_compile: flag(self.no_compile),
            verbose: flag(self.verbose),
            ..sys::ropegen_context_options::init()
        }
    }
}

struct ContextInner {
    raw: *mut sys::ropegen_context,
    target: String,
}

// The C++ Context is thread-safe (kernel creation is locked, a launch is const), and the
// handle is only destroyed when the last Arc goes.
unsafe impl Send for ContextInner {}
unsafe impl Sync for ContextInner {}

impl Drop for ContextInner {
    fn drop(&mut self) {
        unsafe { sys::ropegen_context_destroy(self.raw) }
    }
}

/// One device (or the host) plus a JIT. Cheap to clone (shared); kernels and device
/// buffers keep it alive. Send + Sync: share it between threads.
#[derive(Clone)]
pub struct Context {
    inner: Arc<ContextInner>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Context({})", self.inner.target)
    }
}

impl Context {
    /// runtime: "auto", "cuda", "hip" or "host"; device -1: the default. JIT options come
    /// from the environment.
    pub fn new(runtime: &str, device: i32) -> Result<Context> {
        Self::open(runtime, device, None)
    }

    /// Like [`Context::new`], with per-context JIT options.
    pub fn with_options(runtime: &str, device: i32, options: &ContextOptions) -> Result<Context> {
        Self::open(runtime, device, Some(options))
    }

    fn open(runtime: &str, device: i32, options: Option<&ContextOptions>) -> Result<Context> {
        check_abi()?;
        let rt = c_string("runtime", runtime)?;
        let mut raw: *mut sys::ropegen_context = ptr::null_mut();
        match options {
            None => check(unsafe { sys::ropegen_context_create(rt.as_ptr(), device, &mut raw) })?,
            Some(o) => {
                if let Some(m) = &o.bad {
                    return Err(Error::caller(Status::InvalidArgument, m.clone()));
                }
                let opts = o.raw();
                check(unsafe { sys::ropegen_context_create_with_options(rt.as_ptr(), device, &opts, &mut raw) })?
            }
        }
        let mut inner = ContextInner { raw, target: String::new() };
        let mut buf = [0 as c_char; 256];
        check(unsafe { sys::ropegen_context_target(raw, buf.as_mut_ptr(), buf.len()) })?;
        inner.target = unsafe { cstr(buf.as_ptr()) };
        Ok(Context { inner: Arc::new(inner) })
    }

    /// Target id of the device ("sm_90", "gfx1100", "host").
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// The raw handle, for calls this crate does not wrap. Valid while `self` lives.
    pub fn as_raw(&self) -> *mut sys::ropegen_context {
        self.inner.raw
    }

    /// A kernel for a one-line spec (`"op=rope head_dim=128 dtype=f32"`): compiled on the
    /// first request, then from the in-process or disk cache.
    pub fn kernel(&self, spec: &str) -> Result<Kernel> {
        let s = c_string("spec", spec)?;
        let mut raw: *mut sys::ropegen_kernel = ptr::null_mut();
        check(unsafe { sys::ropegen_kernel_create(self.inner.raw, s.as_ptr(), &mut raw) })?;
        // Owned from here on: Drop destroys it if anything below fails.
        let mut k = Kernel {
            raw,
            ctx: self.inner.clone(),
            info: KernelInfo::default(),
            describe: String::new(),
            spec: String::new(),
            arguments: Vec::new(),
            host: false,
        };
        let mut info: sys::ropegen_kernel_info = unsafe { std::mem::zeroed() };
        check(unsafe { sys::ropegen_kernel_get_info(raw, &mut info) })?;
        k.info = KernelInfo::from_raw(&info);
        k.host = k.info.target == "host";
        k.describe = describe_text(raw)?;
        let parsed = json::parse(&k.describe)
            .map_err(|e| Error::caller(Status::Internal, format!("ropegen_kernel_describe gave bad JSON: {}", e)))?;
        k.spec = parsed.get("spec").and_then(|v| v.as_str()).unwrap_or("").to_string();
        k.arguments = parse_arguments(&parsed)?;
        Ok(k)
    }

    /// `size` bytes of device memory (host runtime: aligned host memory).
    pub fn alloc(&self, bytes: usize) -> Result<DeviceBuffer> {
        let mut p: *mut c_void = ptr::null_mut();
        check(unsafe { sys::ropegen_alloc(self.inner.raw, bytes, &mut p) })?;
        Ok(DeviceBuffer { ptr: p, bytes, ctx: self.inner.clone() })
    }

    /// `layers = many`: device memory holding the records (one per layer) for
    /// [`Args::layers`].
    pub fn alloc_layers(&self, records: &[sys::ropegen_layer_args]) -> Result<DeviceBuffer> {
        let bytes = std::mem::size_of_val(records);
        let b = self.alloc(bytes.max(1))?;
        check(unsafe { sys::ropegen_copy_to_device(self.inner.raw, b.ptr, records.as_ptr() as *const c_void, bytes) })?;
        Ok(b)
    }

    /// Device memory holding a copy of `data`.
    pub fn alloc_from<T: Element>(&self, data: &[T]) -> Result<DeviceBuffer> {
        let mut b = self.alloc(std::mem::size_of_val(data))?;
        b.copy_from_host(data)?;
        Ok(b)
    }

    /// Waits for the device's work.
    pub fn synchronize(&self) -> Result<()> {
        check(unsafe { sys::ropegen_synchronize(self.inner.raw) })
    }

    /// What a `checks = bounds` kernel recorded in `buffer` (after waiting for the device):
    /// `None`, or the first out-of-range token it skipped. Zero the buffer to reset it.
    pub fn check_bounds(&self, buffer: &DeviceBuffer) -> Result<Option<BoundsViolation>> {
        let mut e = sys::ropegen_bounds_error::default();
        check(unsafe { sys::ropegen_kernel_check(self.inner.raw, buffer.ptr, &mut e) })?;
        Ok(if e.violated != 0 {
            Some(BoundsViolation { token: e.token, value: e.value, limit: e.limit, kind: e.kind })
        } else {
            None
        })
    }

    /// Runs the kernel on random inputs against ropegen's reference (`ropegen --verify`).
    pub fn verify(&self, kernel: &Kernel, tokens: i64, seed: u64) -> Result<bool> {
        let mut passed = 0;
        check(unsafe { sys::ropegen_kernel_verify(self.inner.raw, kernel.raw, tokens, seed, &mut passed) })?;
        Ok(passed == 1)
    }

    /// Times the candidate plans of `spec` per token bucket on this context's device and,
    /// with `options.store`, keeps each bucket's winner in the user cache directory: kernels
    /// asked for afterwards pick their plan by `num_tokens` (`ropegen_tune`, docs/cache.md).
    /// Never inside a graph capture.
    pub fn tune(&self, spec: &str, options: &TuneOptions) -> Result<Vec<TuneResult>> {
        let text = c_string("spec", spec)?;
        let mut o = sys::ropegen_tune_options::init();
        if let Some(b) = &options.buckets {
            o.buckets = b.as_ptr();
            o.num_buckets = b.len();
        }
        o.reps = options.reps;
        o.set = match options.plans {
            TunePlans::Auto => 0,
            TunePlans::Quick => 1,
            TunePlans::Full => 2,
        };
        o.store = options.store as i32;
        o.stream = options.stream;
        let capacity = options.buckets.as_ref().map_or(5, |b| b.len());
        let mut results = vec![sys::ropegen_tune_result::default(); capacity];
        let mut count = 0usize;
        check(unsafe {
            sys::ropegen_tune(self.inner.raw, text.as_ptr(), &o, results.as_mut_ptr(), capacity, &mut count)
        })?;
        results.truncate(count);
        Ok(results
            .iter()
            .map(|r| TuneResult {
                tokens: r.tokens,
                default_plan: (r.default_tokens_per_block, r.default_head_groups),
                default_us: r.default_us,
                best_plan: (r.best_tokens_per_block, r.best_head_groups),
                best_us: r.best_us,
                candidates: r.candidates,
            })
            .collect())
    }
}

/// Which plans [`Context::tune`] times.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TunePlans {
    /// Full on a GPU, quick on the host.
    #[default]
    Auto,
    /// tokens per block 1, 4, 16 x head groups 1, codegen's, the most.
    Quick,
    /// tokens per block 1, 2, 4, 8, 16 x head groups 1, 2, 4, ... up to the head tasks.
    Full,
}

/// Options of [`Context::tune`]; `TuneOptions::default()` gives the library's defaults.
#[derive(Clone, Debug)]
pub struct TuneOptions {
    /// Token counts, increasing; None: 1, 32, 256, 2048, 8192 (host: 1, 32, 256).
    pub buckets: Option<Vec<i64>>,
    /// Timed repetitions per plan (median); 0: 15 (host: 3).
    pub reps: i32,
    pub plans: TunePlans,
    /// Keep the winners in the user cache directory.
    pub store: bool,
    /// CUstream / hipStream_t to time on (null: the default).
    pub stream: *mut std::os::raw::c_void,
}

impl Default for TuneOptions {
    fn default() -> Self {
        TuneOptions { buckets: None, reps: 0, plans: TunePlans::Auto, store: true, stream: std::ptr::null_mut() }
    }
}

/// One token bucket of a tuning run: plans as (tokens_per_block, head_groups), times in
/// microseconds (median per launch).
#[derive(Clone, Debug, PartialEq)]
pub struct TuneResult {
    pub tokens: i64,
    pub default_plan: (i32, i32),
    pub default_us: f64,
    pub best_plan: (i32, i32),
    pub best_us: f64,
    pub candidates: i32,
}

/// Bytes of a `checks = bounds` error buffer (4 u64 words).
pub const BOUNDS_ERROR_BYTES: usize = sys::ROPEGEN_BOUNDS_ERROR_BYTES;

/// The first out-of-range token a `checks = bounds` kernel skipped: its index in the
/// launch, the offending value, the range `[0, limit)` it had to lie in (0 for a position
/// with `cos_sin = compute`: only the lower bound) and the kind (1 position, 2 slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoundsViolation {
    pub token: i64,
    pub value: i64,
    pub limit: i64,
    pub kind: i32,
}

/// Seals a directory of cache entries as a bundle (what `ropegen bundle` does last): writes
/// its SHA-256 manifest, without which `cache_path` serves nothing from it. Returns the
/// number of entries listed.
pub fn write_bundle_manifest<P: AsRef<std::path::Path>>(dir: P) -> Result<usize> {
    let c = c_string("dir", &dir.as_ref().to_string_lossy())?;
    let mut n = 0usize;
    check(unsafe { sys::ropegen_bundle_write_manifest(c.as_ptr(), &mut n) })?;
    Ok(n)
}

fn describe_text(raw: *const sys::ropegen_kernel) -> Result<String> {
    let mut needed = 0usize;
    check(unsafe { sys::ropegen_kernel_describe(raw, ptr::null_mut(), 0, &mut needed) })?;
    let mut buf = vec![0u8; needed.max(1)];
    check(unsafe { sys::ropegen_kernel_describe(raw, buf.as_mut_ptr() as *mut c_char, buf.len(), &mut needed) })?;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    buf.truncate(end);
    String::from_utf8(buf).map_err(|_| Error::caller(Status::Internal, "describe text is not UTF-8".into()))
}

// ---------------------------------------------------------------------------------------
// Kernel

/// Launch shape and argument requirements (`ropegen_kernel_info`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelInfo {
    pub block_threads: i32,
    pub wave: i32,
    /// Elements per vector; strides must be multiples.
    pub vec: i32,
    /// Bytes: q, k, v, caches.
    pub tensor_align: i32,
    /// Bytes: cos, sin.
    pub table_align: i32,
    /// Tokens one block covers.
    pub tokens_per_block: i32,
    /// Thread groups per token.
    pub head_groups: i32,
    /// Kernel symbol.
    pub entry: String,
    /// Target id.
    pub target: String,
    /// Where the code object came from: "compiled", "disk", "bundle".
    pub origin: String,
}

impl KernelInfo {
    fn from_raw(i: &sys::ropegen_kernel_info) -> KernelInfo {
        let s = |a: &[c_char]| {
            let bytes: Vec<u8> = a.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        KernelInfo {
            block_threads: i.block_threads,
            wave: i.wave,
            vec: i.vec,
            tensor_align: i.tensor_align,
            table_align: i.table_align,
            tokens_per_block: i.tokens_per_block,
            head_groups: i.head_groups,
            entry: s(&i.entry),
            target: s(&i.target),
            origin: s(&i.origin),
        }
    }
}

/// One dimension of an argument's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dim {
    /// num_tokens.
    Tokens,
    /// Any size (table positions, cache slots or blocks).
    Free,
    Fixed(i64),
}

/// What a kernel reads from one pointer field of the argument block (from
/// `ropegen_kernel_describe`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgRequirement {
    /// The argument's name (the family's own, e.g. MLA's `k_pe`).
    pub name: String,
    /// The field of the argument block it is passed in (`k` for MLA's `k_pe`): the
    /// description's `"field"`, else the name.
    pub field: String,
    /// A null pointer is refused.
    pub required: bool,
    pub why: String,
    /// "bf16", "f16", "f32", "i32", "i64".
    pub dtype: String,
    /// "read", "write", "read_write"; "unused": accepted, never touched (k_cache_scales with inline scales).
    pub access: String,
    /// Bytes.
    pub align: i64,
    pub shape: Vec<Dim>,
    /// The field holding the first dimension's stride (elements).
    pub stride: Option<String>,
    pub stride_multiple: i64,
    /// The fields holding each dimension's stride (elements; None: packed), for an argument
    /// addressed by run-time strides (a cache with `order = strided`); empty: none.
    pub dim_strides: Vec<Option<String>>,
    /// `layers = many`: the byte offset of the argument in each layer's record
    /// (`sys::ropegen_layer_args`); None: it is passed in the argument block.
    pub layer_offset: Option<i64>,
    /// `layers = many`: the field of the layer stride that moves it per layer (q, k, v).
    pub layer_stride: Option<String>,
}

fn parse_arguments(v: &json::Value) -> Result<Vec<ArgRequirement>> {
    let bad = |what: &str| Error::caller(Status::Internal, format!("ropegen_kernel_describe: {}", what));
    let args = v.get("arguments").and_then(|a| a.as_array()).ok_or_else(|| bad("no \"arguments\""))?;
    let mut out = Vec::new();
    for a in args {
        let s = |k: &str| a.get(k).and_then(|x| x.as_str()).map(|x| x.to_string());
        let name = s("name").ok_or_else(|| bad("an argument without a name"))?;
        let mut shape = Vec::new();
        for d in a.get("shape").and_then(|x| x.as_array()).unwrap_or(&[]) {
            shape.push(match d {
                json::Value::Null => Dim::Free,
                json::Value::Str(t) if t == "tokens" => Dim::Tokens,
                json::Value::Num(n) => Dim::Fixed(*n as i64),
                other => return Err(bad(&format!("argument {}: unknown dimension {:?}", name, other))),
            });
        }
        let field = s("field").unwrap_or_else(|| name.clone());
        out.push(ArgRequirement {
            field,
            required: a.get("required").and_then(|x| x.as_bool()).unwrap_or(true),
            why: s("why").unwrap_or_default(),
            dtype: s("dtype").unwrap_or_default(),
            access: s("access").unwrap_or_default(),
            align: a.get("align").and_then(|x| x.as_i64()).unwrap_or(1),
            shape,
            stride: s("stride"),
            stride_multiple: a.get("stride_multiple").and_then(|x| x.as_i64()).unwrap_or(1),
            dim_strides: a
                .get("dim_strides")
                .and_then(|x| x.as_array())
                .map(|v| v.iter().map(|f| f.as_str().map(|t| t.to_string())).collect())
                .unwrap_or_default(),
            layer_offset: a.get("layer_offset").and_then(|x| x.as_i64()),
            layer_stride: s("layer_stride"),
            name,
        });
    }
    Ok(out)
}

/// A loaded kernel. Keeps its context alive. Send + Sync: a launch does not modify it.
pub struct Kernel {
    raw: *mut sys::ropegen_kernel,
    ctx: Arc<ContextInner>,
    info: KernelInfo,
    describe: String,
    spec: String,
    arguments: Vec<ArgRequirement>,
    host: bool,
}

unsafe impl Send for Kernel {}
unsafe impl Sync for Kernel {}

impl Drop for Kernel {
    fn drop(&mut self) {
        unsafe { sys::ropegen_kernel_destroy(self.raw) }
    }
}

impl fmt::Debug for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kernel({} for {}: {})", self.info.entry, self.info.target, self.spec)
    }
}

impl Kernel {
    pub fn info(&self) -> &KernelInfo {
        &self.info
    }
    /// `ropegen_kernel_describe`: the kernel as JSON (canonical spec, target, entry, plan,
    /// origin, arguments).
    pub fn describe(&self) -> &str {
        &self.describe
    }
    /// The canonical spec text (every key, defaults filled in).
    pub fn spec(&self) -> &str {
        &self.spec
    }
    /// The pointer arguments this kernel reads, in header order.
    pub fn arguments(&self) -> &[ArgRequirement] {
        &self.arguments
    }
    pub fn as_raw(&self) -> *const sys::ropegen_kernel {
        self.raw
    }
    /// The context it was created in.
    pub fn context(&self) -> Context {
        Context { inner: self.ctx.clone() }
    }

    /// Checks the arguments (here, then in the library) and launches on `stream`. On the
    /// host runtime the launch runs to completion on the calling thread; on a GPU it is
    /// enqueued, so device memory must outlive the work (DeviceBuffer's drop frees it
    /// through the runtime).
    ///
    /// The limits (`cache_slots`, `table_rows`) are always passed where the crate knows the
    /// memory's size (slices, `DeviceBuffer`s, `DevicePtr::with_len`): a token whose slot is
    /// past the cache or whose position is outside the cos/sin table is skipped whole by the
    /// kernel, in every checks mode (`Args::limits` sets them for memory of unknown size).
    pub fn launch(&self, args: &Args<'_>, stream: Stream) -> Result<()> {
        self.check_args(args)?;
        let mut raw = args.raw;
        if let (Some(off), Some(k)) = (args.v_offset, self.argument_in("v_cache")) {
            raw.v_cache = (raw.k_cache as *mut u8).wrapping_add(off.saturating_mul(elem_size(&k.dtype))) as *mut c_void;
        }
        let (cache_slots, table_rows) = self.limits(args);
        raw.cache_slots = cache_slots;
        raw.table_rows = table_rows;
        check(unsafe { sys::ropegen_kernel_launch(self.raw, &raw, stream.0) })
    }

    /// The limits a launch passes: what the caller set (`Args::limits`, `Args::bounds_error`)
    /// and what the sizes of the caches and the tables allow, the smaller where both are
    /// known; 0 (no limit) where neither is.
    fn limits(&self, args: &Args<'_>) -> (i64, i64) {
        let smaller = |a: i64, b: Option<usize>| match b {
            Some(b) if a > 0 => a.min(b as i64),
            Some(b) => b as i64,
            None => a,
        };
        let mut cache_slots = args.raw.cache_slots;
        // The caches and the scales a quantized cache writes beside them: the smallest of theirs.
        let by_slot = ["k_cache", "v_cache", "k_cache_scales", "v_cache_scales"];
        for r in by_slot.iter().filter_map(|f| self.argument_in(f)) {
            let mut len = args.buf(&r.field).and_then(|b| b.elems(elem_size(&r.dtype)));
            if r.field == "v_cache" {
                if let Some(off) = args.v_offset {
                    len = len.map(|l| l.saturating_sub(off)); // v_cache starts v_offset into the tensor
                }
            }
            cache_slots = smaller(cache_slots, len.and_then(|l| self.cache_slots(r, l, &args.raw)));
        }
        let mut table_rows = args.raw.table_rows;
        for r in ["cos", "sin"].iter().filter_map(|f| self.argument_in(f)) {
            // [positions, rotary_dim / 2] rows, cos_sin_stride elements apart: position p
            // reads elements p * stride .. p * stride + rotary_dim / 2.
            let half: usize = r.shape.iter().map(|d| if let Dim::Fixed(x) = d { *x as usize } else { 1 }).product();
            let stride = r.stride.as_deref().and_then(|s| integer_field(&args.raw, s)).unwrap_or(0).max(half).max(1);
            let len = args.buf(&r.field).and_then(|b| b.elems(4));
            table_rows = smaller(table_rows, len.map(|l| if l < half { 0 } else { (l - half) / stride + 1 }));
        }
        (cache_slots, table_rows)
    }

    /// The kernel's argument passed in block field `field`.
    fn argument_in(&self, field: &str) -> Option<&ArgRequirement> {
        self.arguments.iter().find(|r| r.field == field)
    }

    /// The argument's name as the kernel gives it (the field's name if it takes none there).
    fn label<'s>(&'s self, field: &'s str) -> &'s str {
        self.argument_in(field).map(|r| r.name.as_str()).unwrap_or(field)
    }

    /// The checks [`Kernel::launch`] makes in Rust before calling the library, against the
    /// kernel's own description: every pointer set is one the kernel takes, every required
    /// one is set (unless there are no tokens), nothing the kernel writes was passed
    /// read-only; host slices' placement, element types and lengths (every buffer with a
    /// known size holds `num_tokens` tokens). Index values are not read: the launch passes
    /// the limits instead ([`Kernel::launch`]). The library's own checks run at launch.
    pub fn check_args(&self, args: &Args<'_>) -> Result<()> {
        if let Some(m) = &args.bad {
            return Err(launch_err(m.clone()));
        }
        let n = args.raw.num_tokens;
        let takes = || self.arguments.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ");
        // Every pointer field of the block, whether set by a setter or in the raw block.
        for (field, offset) in pointer_fields() {
            if !pointer_at(&args.raw, offset).is_null() && self.argument_in(field).is_none() {
                return Err(launch_err(format!(
                    "argument '{}' is set, but this kernel does not take it ({}); it takes {}",
                    field,
                    self.spec,
                    takes()
                )));
            }
        }
        for (field, b) in &args.bufs {
            if let Some((ctx, host_target)) = b.owner {
                // Another context's memory is fine only when both are the host runtime.
                if ctx != Arc::as_ptr(&self.ctx) && !(host_target && self.host) {
                    return Err(launch_err(format!(
                        "argument '{}' is a DeviceBuffer of another Context than the kernel's ({})",
                        self.label(field),
                        self.info.target
                    )));
                }
            }
            if !self.host && b.host {
                return Err(launch_err(format!(
                    "argument '{}' is a host slice but the kernel runs on {}: pass device memory (DeviceBuffer or DevicePtr)",
                    self.label(field),
                    self.info.target
                )));
            }
            if let Some(r) = self.argument_in(field) {
                if !b.writable && (r.access == "write" || r.access == "read_write") {
                    return Err(launch_err(format!(
                        "argument '{}' was passed read-only, but the kernel writes it ({})",
                        r.name, r.access
                    )));
                }
            }
        }
        if n <= 0 {
            return Ok(()); // nothing is read; the library checks the rest
        }
        let fields = pointer_fields();
        // layers = many: a layer's own arguments are in its record (the library refuses them here).
        for r in self.arguments.iter().filter(|r| r.required && r.layer_offset.is_none()) {
            let set = fields.iter().find(|f| f.0 == r.field).map_or(false, |f| !pointer_at(&args.raw, f.1).is_null());
            if !set {
                return Err(launch_err(format!(
                    "argument '{}' is null (not set), but this kernel needs it: {}",
                    r.name, r.why
                )));
            }
        }
        let n = n as usize;
        for r in &self.arguments {
            let b = match args.buf(&r.field) {
                Some(b) => b,
                None => continue, // null: the library says whether that is allowed
            };
            if let Some(elem) = b.elem {
                if !elem.dtypes.contains(&r.dtype.as_str()) {
                    return Err(launch_err(format!(
                        "argument '{}' is a slice of {} but the kernel's {} is {}",
                        r.name, elem.rust, r.name, r.dtype
                    )));
                }
            }
            let fixed: usize = r.shape.iter().map(|d| if let Dim::Fixed(x) = d { *x as usize } else { 1 }).product();
            let stride = r.stride.as_deref().and_then(|s| integer_field(&args.raw, s)).unwrap_or(0);
            let need = match r.shape.first() {
                Some(Dim::Tokens) if r.shape.len() == 1 => n,
                // positions = mrope/imrope: [rows, tokens], positions_stride (0: num_tokens) apart
                Some(Dim::Fixed(rows)) if r.shape.len() == 2 && r.shape[1] == Dim::Tokens => {
                    let apart = integer_field(&args.raw, "positions_stride").filter(|&s| s > 0).unwrap_or(n);
                    (*rows as usize).saturating_sub(1).saturating_mul(apart).saturating_add(n)
                }
                // Saturating: a huge stride must fail the check, not wrap around it.
                Some(Dim::Tokens) => (n - 1).saturating_mul(stride.max(fixed)).saturating_add(fixed),
                // cos / sin: [positions, rotary_dim / 2]: at least one row
                Some(Dim::Free) if r.shape.len() == 2 => fixed,
                // contiguous(order = hnd): [kv_heads, max_seq, head_dim]
                _ if r.shape.get(1) == Some(&Dim::Free) => fixed.saturating_mul(args.raw.max_seq.max(0) as usize),
                _ => fixed,
            };
            // layers = many: q, k, v hold every layer, layer_stride elements apart.
            let layers = args.raw.num_layers.max(1) as usize;
            let need = match r.layer_stride.as_deref().and_then(|f| integer_field(&args.raw, f)) {
                Some(apart) => need.saturating_add((layers - 1).saturating_mul(apart)),
                None => need,
            };
            if let Some(len) = b.elems(elem_size(&r.dtype)) {
                if len < need {
                    return Err(launch_err(format!(
                        "argument '{}' holds {} elements but {} tokens need at least {} (shape {:?}{})",
                        r.name,
                        len,
                        n,
                        need,
                        r.shape,
                        r.stride.as_ref().map(|s| format!(", {} = {}", s, stride)).unwrap_or_default()
                    )));
                }
            }
        }
        // Index values are not read here: where the sizes of the caches and tables are known
        // the launch passes them as limits, and the kernel skips a token past them.
        Ok(())
    }

    /// Slots a cache buffer of `len` elements holds, for this kernel's cache layout.
    fn cache_slots(&self, r: &ArgRequirement, len: usize, raw: &sys::ropegen_kernel_args) -> Option<usize> {
        let max_seq = raw.max_seq;
        let fixed: usize = r.shape.iter().map(|d| if let Dim::Fixed(x) = d { *x as usize } else { 1 }).product();
        if r.dim_strides.len() == 4 && r.shape.len() == 4 {
            // order = strided, [pages, block, heads, head_dim] at the run-time strides (0: the
            // nhd layout's): the pages whose last element lies inside the buffer.
            let dims: Vec<usize> =
                r.shape.iter().map(|d| if let Dim::Fixed(x) = d { *x as usize } else { 1 }).collect();
            let (b, h, d) = (dims[1], dims[2], dims[3]);
            let get = |i: usize, default: usize| {
                r.dim_strides[i].as_deref().and_then(|f| integer_field(raw, f)).filter(|&v| v > 0).unwrap_or(default)
            };
            let (ps, ts, hs) = (get(0, b * h * d), get(1, h * d), get(2, d));
            let inner = (b - 1).saturating_mul(ts).saturating_add((h - 1).saturating_mul(hs)).saturating_add(d);
            return Some(if len < inner { 0 } else { ((len - inner) / ps.max(1) + 1).saturating_mul(b) });
        }
        if r.dim_strides.len() == 2 && r.shape.len() == 2 {
            // scales_at = page, [pages, page bytes]: pages cache_block_stride bytes apart (0: one
            // page; K and V pages in one allocation: two); the pages that end inside the buffer.
            let page = fixed.max(1);
            let ps = r.dim_strides[0].as_deref().and_then(|f| integer_field(raw, f)).filter(|&v| v > 0).unwrap_or(page);
            let block = spec_number(&self.spec, "block=").unwrap_or(1);
            return Some(if len < page { 0 } else { ((len - page) / ps.max(1) + 1).saturating_mul(block) });
        }
        if r.shape.get(1) == Some(&Dim::Free) {
            // contiguous(order = hnd): max_seq slots per head; the length is checked above.
            return if max_seq > 0 { Some(max_seq as usize) } else { None };
        }
        // paged: whole blocks of `block` slots (whatever the shape of a block: [block, heads,
        // head_dim], [heads, block, head_dim] or MLA's [block, row]); contiguous(order = nhd):
        // one slot per row.
        let block = if self.spec.contains("cache=paged(") { spec_number(&self.spec, "block=").unwrap_or(1) } else { 1 };
        Some((len / fixed.max(1)).saturating_mul(block))
    }
}

fn spec_number(spec: &str, key: &str) -> Option<usize> {
    let at = spec.find(key)? + key.len();
    let digits: String = spec[at..].chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

fn elem_size(dtype: &str) -> usize {
    match dtype {
        "f16" | "bf16" => 2,
        "f32" | "i32" => 4,
        "i64" | "u64" => 8,
        _ => 1,
    }
}

fn launch_err(m: String) -> Error {
    Error::caller(Status::Launch, m)
}

// ---------------------------------------------------------------------------------------
// Arguments

/// Element types a host slice may hold. f32; u16 for bf16 and f16 bit patterns; i32 and
/// i64 for positions and slots; u8 for raw bytes (copies only).
pub trait Element: Copy + sealed::Sealed {
    #[doc(hidden)]
    const KIND: ElemKind;
}

#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct ElemKind {
    rust: &'static str,
    dtypes: &'static [&'static str],
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for u16 {}
    impl Sealed for i32 {}
    impl Sealed for i64 {}
    impl Sealed for u8 {}
}

impl Element for f32 {
    const KIND: ElemKind = ElemKind { rust: "f32", dtypes: &["f32"] };
}
impl Element for u16 {
    const KIND: ElemKind = ElemKind { rust: "u16", dtypes: &["bf16", "f16"] };
}
impl Element for i32 {
    const KIND: ElemKind = ElemKind { rust: "i32", dtypes: &["i32"] };
}
impl Element for i64 {
    const KIND: ElemKind = ElemKind { rust: "i64", dtypes: &["i64"] };
}
impl Element for u8 {
    /// Bytes: the fp8 caches and fp8 q outputs, in whichever encoding the target uses, the
    /// int4 and nvfp4/mxfp4 caches (code pairs; e2m1x2) and mxfp4's e8m0 scales.
    const KIND: ElemKind = ElemKind {
        rust: "u8",
        dtypes: &["u8", "fp8_e4m3", "fp8_e5m2", "fp8_e4m3fnuz", "fp8_e5m2fnuz", "e2m1x2", "e8m0"],
    };
}

#[derive(Clone, Copy, Debug)]
struct BufInfo {
    bytes: Option<usize>,
    /// Host slices: their element type.
    elem: Option<ElemKind>,
    /// A host slice (Rust memory).
    host: bool,
    /// A DeviceBuffer: the context it came from, and whether that is the host runtime.
    owner: Option<(*const ContextInner, bool)>,
    /// Passed as memory the kernel may write (a MutBuf).
    writable: bool,
}

impl BufInfo {
    fn elems(&self, elem_size: usize) -> Option<usize> {
        self.bytes.map(|b| b / elem_size.max(1))
    }
}

/// Memory the kernel may write: a host slice (host runtime), a [`DevicePtr`], or a
/// `&mut DeviceBuffer`.
pub struct MutBuf<'a> {
    ptr: *mut c_void,
    info: BufInfo,
    _life: PhantomData<&'a mut ()>,
}

/// Memory the kernel only reads: a host slice (host runtime), a [`DevicePtr`], or a
/// `&DeviceBuffer`.
pub struct ConstBuf<'a> {
    ptr: *const c_void,
    info: BufInfo,
    _life: PhantomData<&'a ()>,
}

impl<'a, T: Element> From<&'a mut [T]> for MutBuf<'a> {
    fn from(s: &'a mut [T]) -> Self {
        let info = BufInfo {
            bytes: Some(std::mem::size_of_val(s)),
            elem: Some(T::KIND),
            host: true,
            owner: None,
            writable: true,
        };
        MutBuf { ptr: s.as_mut_ptr() as *mut c_void, info, _life: PhantomData }
    }
}

impl<'a, T: Element> From<&'a mut Vec<T>> for MutBuf<'a> {
    fn from(s: &'a mut Vec<T>) -> Self {
        MutBuf::from(&mut s[..])
    }
}

impl<'a, T: Element> From<&'a [T]> for ConstBuf<'a> {
    fn from(s: &'a [T]) -> Self {
        let info = BufInfo {
            bytes: Some(std::mem::size_of_val(s)),
            elem: Some(T::KIND),
            host: true,
            owner: None,
            writable: false,
        };
        ConstBuf { ptr: s.as_ptr() as *const c_void, info, _life: PhantomData }
    }
}

impl<'a, T: Element> From<&'a Vec<T>> for ConstBuf<'a> {
    fn from(s: &'a Vec<T>) -> Self {
        ConstBuf::from(&s[..])
    }
}

impl<'a> From<DevicePtr<'a>> for MutBuf<'a> {
    fn from(d: DevicePtr<'a>) -> Self {
        MutBuf { ptr: d.ptr, info: BufInfo { writable: true, ..d.info() }, _life: PhantomData }
    }
}

impl<'a> From<DevicePtr<'a>> for ConstBuf<'a> {
    fn from(d: DevicePtr<'a>) -> Self {
        ConstBuf { ptr: d.ptr, info: d.info(), _life: PhantomData }
    }
}

impl<'a> From<&'a mut DeviceBuffer> for MutBuf<'a> {
    fn from(d: &'a mut DeviceBuffer) -> Self {
        MutBuf { ptr: d.ptr, info: BufInfo { writable: true, ..d.info() }, _life: PhantomData }
    }
}

impl<'a> From<&'a DeviceBuffer> for ConstBuf<'a> {
    fn from(d: &'a DeviceBuffer) -> Self {
        ConstBuf { ptr: d.ptr, info: d.info(), _life: PhantomData }
    }
}

/// The pointer fields of the argument block (name, byte offset), from ropegen-sys's
/// layout table, whose kinds come from the fields' types and which [`check_abi`] checks
/// against the library's: a pointer field added to the block is checked here with no
/// change to this crate.
fn pointer_fields() -> Vec<(&'static str, usize)> {
    sys::kernel_args_layout_rust()
        .into_iter()
        .filter(|f| f.3 == sys::ROPEGEN_FIELD_POINTER)
        .map(|f| (f.0, f.1))
        .collect()
}

fn block_bytes(a: &sys::ropegen_kernel_args) -> *const u8 {
    a as *const sys::ropegen_kernel_args as *const u8
}

/// The pointer stored at `offset` of the block (a pointer field's offset from the layout).
fn pointer_at(a: &sys::ropegen_kernel_args, offset: usize) -> *const c_void {
    unsafe { ptr::read_unaligned(block_bytes(a).add(offset) as *const *const c_void) }
}

/// The value of an integer field by name (strides: elements, clamped at 0); None if the
/// block has no such integer field.
fn integer_field(a: &sys::ropegen_kernel_args, name: &str) -> Option<usize> {
    let f = sys::kernel_args_layout_rust().into_iter().find(|f| f.0 == name && f.3 == sys::ROPEGEN_FIELD_INTEGER)?;
    let p = unsafe { block_bytes(a).add(f.1) };
    let v = unsafe {
        match f.2 {
            8 => ptr::read_unaligned(p as *const i64),
            4 => ptr::read_unaligned(p as *const u32) as i64,
            _ => return None,
        }
    };
    Some(v.max(0) as usize)
}

/// The arguments of one launch (`ropegen_kernel_args`), borrowing every buffer for `'a`:
/// the borrow checker keeps them alive and unaliased while the arguments exist. Strides
/// count elements. Unset pointers are null.
pub struct Args<'a> {
    raw: sys::ropegen_kernel_args,
    /// What is known of each pointer set through a setter, by field name.
    bufs: Vec<(&'static str, BufInfo)>,
    /// A setter's error (a field name that is no pointer field), reported at launch.
    bad: Option<String>,
    /// [`Args::stacked_caches`]: v_cache is k_cache plus this many cache elements.
    v_offset: Option<usize>,
    _life: PhantomData<&'a mut ()>,
}

impl<'a> Args<'a> {
    pub fn new(num_tokens: usize) -> Self {
        let mut raw = sys::ropegen_kernel_args::init();
        raw.num_tokens = num_tokens as i64;
        Args { raw, bufs: Vec::new(), bad: None, v_offset: None, _life: PhantomData }
    }
    fn set_buf(&mut self, field: &'static str, info: BufInfo) {
        match self.bufs.iter_mut().find(|b| b.0 == field) {
            Some(b) => b.1 = info,
            None => self.bufs.push((field, info)),
        }
    }
    fn buf(&self, field: &str) -> Option<&BufInfo> {
        self.bufs.iter().find(|b| b.0 == field).map(|b| &b.1)
    }
    /// Any pointer field by its name in the argument block, for memory the kernel may
    /// write (a field with no setter of its own, e.g. one a newer library added). A name
    /// that is no pointer field of the block is an error at launch.
    pub fn buffer<B: Into<MutBuf<'a>>>(mut self, field: &str, buf: B) -> Self {
        let b = buf.into();
        self.set_pointer(field, b.ptr, b.info);
        self
    }
    /// Any pointer field by its name, for memory the kernel only reads (a launch of a
    /// kernel that writes the field is refused).
    pub fn input<B: Into<ConstBuf<'a>>>(mut self, field: &str, buf: B) -> Self {
        let b = buf.into();
        self.set_pointer(field, b.ptr, b.info);
        self
    }
    fn set_pointer(&mut self, field: &str, p: *const c_void, info: BufInfo) {
        match pointer_fields().into_iter().find(|f| f.0 == field) {
            Some((name, offset)) => {
                let at = &mut self.raw as *mut sys::ropegen_kernel_args as *mut u8;
                unsafe { ptr::write_unaligned(at.add(offset) as *mut *const c_void, p) };
                self.set_buf(name, info);
            }
            None => {
                let names: Vec<&str> = pointer_fields().iter().map(|f| f.0).collect();
                self.bad = Some(format!(
                    "argument '{}': the argument block has no pointer field of that name (pointer fields: {})",
                    field,
                    names.join(", ")
                ))
            }
        }
    }
    /// Changes the token count (e.g. to reuse the arguments for a shorter batch).
    pub fn num_tokens(mut self, n: usize) -> Self {
        self.raw.num_tokens = n as i64;
        self
    }
    /// Queries `[tokens, q_heads, head_dim]`, rotated in place; `stride`: elements between tokens.
    pub fn q<B: Into<MutBuf<'a>>>(mut self, q: B, stride: usize) -> Self {
        let b = q.into();
        self.raw.q = b.ptr;
        self.raw.q_stride = stride as i64;
        self.set_buf("q", b.info);
        self
    }
    /// Keys `[tokens, kv_heads, head_dim]` (op = rope: rotated in place; cache ops: read).
    pub fn k<B: Into<MutBuf<'a>>>(mut self, k: B, stride: usize) -> Self {
        let b = k.into();
        self.raw.k = b.ptr;
        self.raw.k_stride = stride as i64;
        self.set_buf("k", b.info);
        self
    }
    /// Values `[tokens, kv_heads, head_dim]` (cache ops).
    pub fn v<B: Into<ConstBuf<'a>>>(mut self, v: B, stride: usize) -> Self {
        let b = v.into();
        self.raw.v = b.ptr;
        self.raw.v_stride = stride as i64;
        self.set_buf("v", b.info);
        self
    }
    /// One position per token (i32 or i64, as the spec's `index`).
    pub fn positions<B: Into<ConstBuf<'a>>>(mut self, p: B) -> Self {
        let b = p.into();
        self.raw.positions = b.ptr;
        self.set_buf("positions", b.info);
        self
    }
    /// One cache slot per token; negative: padding, nothing is written. Optional for
    /// contiguous caches (then the position is the slot).
    pub fn slot_mapping<B: Into<ConstBuf<'a>>>(mut self, s: B) -> Self {
        let b = s.into();
        self.raw.slot_mapping = b.ptr;
        self.set_buf("slot_mapping", b.info);
        self
    }
    /// fp32 tables: `cos[pos * stride + j]`, `sin[pos * stride + j]`, j < rotary_dim / 2.
    pub fn cos_sin<C: Into<ConstBuf<'a>>, S: Into<ConstBuf<'a>>>(mut self, cos: C, sin: S, stride: usize) -> Self {
        let (c, s) = (cos.into(), sin.into());
        self.raw.cos = c.ptr as *const f32;
        self.raw.sin = s.ptr as *const f32;
        self.raw.cos_sin_stride = stride as i64;
        self.set_buf("cos", c.info);
        self.set_buf("sin", s.info);
        self
    }
    /// The K and V caches, in the spec's cache layout.
    pub fn caches<K: Into<MutBuf<'a>>, V: Into<MutBuf<'a>>>(mut self, k_cache: K, v_cache: V) -> Self {
        let (k, v) = (k_cache.into(), v_cache.into());
        self.raw.k_cache = k.ptr;
        self.raw.v_cache = v.ptr;
        self.set_buf("k_cache", k.info);
        self.set_buf("v_cache", v.info);
        self
    }
    /// K and V in one tensor (`cache = paged(order = strided)`: vLLM's and FlashInfer's
    /// `[N, 2, B, H, D]`, `[2, N, B, H, D]`, `[N, 2, H, B, D]`): `kv` holds both, k_cache starts
    /// at its first element and v_cache `v_offset` cache elements later (the K-to-V distance:
    /// `B * H * D` for `[N, 2, B, H, D]`); the strides are [`Args::cache_strides`].
    pub fn stacked_caches<B: Into<MutBuf<'a>>>(mut self, kv: B, v_offset: usize) -> Self {
        let b = kv.into();
        self.raw.k_cache = b.ptr;
        self.raw.v_cache = b.ptr; // moved by v_offset elements of the kernel's cache type at launch
        self.v_offset = Some(v_offset);
        self.set_buf("k_cache", b.info.clone());
        self.set_buf("v_cache", b.info);
        self
    }
    /// `layers = many`: the device array of `num_layers` records (one
    /// `sys::ropegen_layer_args` per layer: its caches, scales, weights, biases, outputs;
    /// [`Context::alloc_layers`] makes one). The records hold raw pointers: the buffers they
    /// point at must outlive the launch, which the borrow checker does not see.
    pub fn layers(mut self, records: &'a DeviceBuffer, num_layers: usize) -> Self {
        self.raw.layers = records.as_raw() as *const sys::ropegen_layer_args;
        self.raw.num_layers = num_layers as i64;
        self.set_buf("layers", records.info());
        self
    }
    /// `layers = many`: elements from layer l's q (k, v) to layer l + 1's; the buffers given
    /// for q, k and v hold every layer.
    pub fn layer_strides(mut self, q: usize, k: usize, v: usize) -> Self {
        self.raw.q_layer_stride = q as i64;
        self.raw.k_layer_stride = k as i64;
        self.raw.v_layer_stride = v as i64;
        self
    }
    /// `cache = paged(order = strided)`: elements between the pages, the tokens of a page and
    /// the heads of a token, for both caches (0: the nhd layout's).
    pub fn cache_strides(mut self, block: usize, token: usize, head: usize) -> Self {
        self.raw.cache_block_stride = block as i64;
        self.raw.cache_token_stride = token as i64;
        self.raw.cache_head_stride = head as i64;
        self
    }
    /// `window = ring(...)`: per token, the first slot of its sequence's pages (index-typed;
    /// negative: padding). The kernel writes the ring slot of each position there.
    pub fn ring_base<B: Into<ConstBuf<'a>>>(mut self, base: B) -> Self {
        let b = base.into();
        self.raw.ring_base = b.ptr;
        self.set_buf("ring_base", b.info);
        self
    }
    /// The K cache alone: the one cache of `op = mla_rope_append` (its rows kv_c || k_pe).
    pub fn k_cache<K: Into<MutBuf<'a>>>(mut self, k_cache: K) -> Self {
        let k = k_cache.into();
        self.raw.k_cache = k.ptr;
        self.set_buf("k_cache", k.info);
        self
    }
    /// The V cache alone.
    pub fn v_cache<V: Into<MutBuf<'a>>>(mut self, v_cache: V) -> Self {
        let v = v_cache.into();
        self.raw.v_cache = v.ptr;
        self.set_buf("v_cache", v.info);
        self
    }
    /// Slots per head of a `contiguous(order = hnd)` cache.
    pub fn max_seq(mut self, max_seq: usize) -> Self {
        self.raw.max_seq = max_seq as i64;
        self
    }
    /// `checks = bounds`: the error buffer (at least [`BOUNDS_ERROR_BYTES`], zeroed by the
    /// caller: [`Context::check_bounds`] reads it), the slots the caches hold (paged:
    /// blocks * block; contiguous: max_seq) and the positions the cos/sin table holds, as
    /// [`Args::limits`].
    pub fn bounds_error(mut self, buffer: &'a mut DeviceBuffer, cache_slots: usize, table_rows: usize) -> Self {
        self.raw.bounds_error = buffer.ptr as *mut u64;
        self.set_buf("bounds_error", BufInfo { writable: true, ..buffer.info() });
        self.limits(cache_slots, table_rows)
    }
    /// The limits (every checks mode; 0: none): the slots the caches hold (paged: blocks *
    /// block; contiguous: max_seq; MLA: rows) and the positions the cos/sin table holds. A
    /// token whose slot is at or past `cache_slots`, or whose position is negative or at or
    /// past `table_rows`, is skipped whole. A launch derives both from the sizes of the
    /// caches and tables it knows and passes the smaller; set them for memory of unknown
    /// size ([`DevicePtr::new`]).
    pub fn limits(mut self, cache_slots: usize, table_rows: usize) -> Self {
        self.raw.cache_slots = cache_slots.min(i64::MAX as usize) as i64;
        self.raw.table_rows = table_rows.min(i64::MAX as usize) as i64;
        self
    }
    /// `heads = strided`: elements between the heads of q, k and v (0: head_dim).
    pub fn head_strides(mut self, q: usize, k: usize, v: usize) -> Self {
        self.raw.q_head_stride = q as i64;
        self.raw.k_head_stride = k as i64;
        self.raw.v_head_stride = v as i64;
        self
    }
    /// `outputs = separate`: the rotated q goes here, `[tokens, q_heads, head_dim]` (fp8 with
    /// `q_dtype = fp8_*`); `stride`: elements between tokens.
    pub fn q_out<B: Into<MutBuf<'a>>>(mut self, out: B, stride: usize) -> Self {
        let b = out.into();
        self.raw.q_out = b.ptr;
        self.raw.q_out_stride = stride as i64;
        self.set_buf("q_out", b.info);
        self
    }
    /// `outputs = separate`: the rotated k goes here (rope_kv_append: also to the cache).
    pub fn k_out<B: Into<MutBuf<'a>>>(mut self, out: B, stride: usize) -> Self {
        let b = out.into();
        self.raw.k_out = b.ptr;
        self.raw.k_out_stride = stride as i64;
        self.set_buf("k_out", b.info);
        self
    }
    /// `positions = mrope/imrope`: elements between the t, h and w rows of `positions`
    /// (0: num_tokens).
    pub fn positions_stride(mut self, stride: usize) -> Self {
        self.raw.positions_stride = stride as i64;
        self
    }
    /// `dynamic` / `longrope` with `choose = runtime`: each token's sequence length.
    pub fn seq_lens<B: Into<ConstBuf<'a>>>(mut self, lens: B) -> Self {
        let b = lens.into();
        self.raw.seq_lens = b.ptr;
        self.set_buf("seq_lens", b.info);
        self
    }
    /// fp8 cache: the k and v scales (one f32, or one per KV head with `scales = per_head`).
    pub fn scales<K: Into<ConstBuf<'a>>, V: Into<ConstBuf<'a>>>(mut self, k_scale: K, v_scale: V) -> Self {
        let (k, v) = (k_scale.into(), v_scale.into());
        self.raw.k_scale = k.ptr as *const f32;
        self.raw.v_scale = v.ptr as *const f32;
        self.set_buf("k_scale", k.info);
        self.set_buf("v_scale", v.info);
        self
    }
    /// fp8 q output: its scale (one f32).
    pub fn q_scale<B: Into<ConstBuf<'a>>>(mut self, q_scale: B) -> Self {
        let b = q_scale.into();
        self.raw.q_scale = b.ptr as *const f32;
        self.set_buf("q_scale", b.info);
        self
    }
    /// `qk_norm = rms(...)`: the head_dim weights of q and k (the activation dtype).
    pub fn norm_weights<Q: Into<ConstBuf<'a>>, K: Into<ConstBuf<'a>>>(mut self, q: Q, k: K) -> Self {
        let (q, k) = (q.into(), k.into());
        self.raw.q_norm_weight = q.ptr;
        self.raw.k_norm_weight = k.ptr;
        self.set_buf("q_norm_weight", q.info);
        self.set_buf("k_norm_weight", k.info);
        self
    }
    /// `qk_norm = rms(span = all_heads, sums = write | read)`: [tokens, 2] f32 sums of squares
    /// per token (q heads, then k heads): written by the first launch (`sums = write`), read
    /// by the second (`sums = read`) after the ranks added them.
    pub fn norm_sums<B: Into<MutBuf<'a>>>(mut self, sums: B) -> Self {
        let b = sums.into();
        self.raw.norm_sums = b.ptr as *mut f32;
        self.set_buf("norm_sums", b.info);
        self
    }
    /// `positions = grid(...)`: the token grid's height and width; each token's position is
    /// its index in the frames x height x width grid.
    pub fn grid(mut self, height: usize, width: usize) -> Self {
        self.raw.grid_h = height as i64;
        self.raw.grid_w = width as i64;
        self
    }
    /// `bias = qkv`: q's bias, added to its rows as they are read (the activation dtype;
    /// `[q_heads, head_dim]`, or `[q_heads, 2 * head_dim]` with `gate = interleaved`).
    pub fn q_bias<B: Into<ConstBuf<'a>>>(mut self, bias: B) -> Self {
        let b = bias.into();
        self.raw.q_bias = b.ptr;
        self.set_buf("q_bias", b.info);
        self
    }
    /// `bias = qkv`: k's bias, `[kv_heads, head_dim]`.
    pub fn k_bias<B: Into<ConstBuf<'a>>>(mut self, bias: B) -> Self {
        let b = bias.into();
        self.raw.k_bias = b.ptr;
        self.set_buf("k_bias", b.info);
        self
    }
    /// `bias = qkv` (cache ops): v's bias, `[kv_heads, head_dim]`.
    pub fn v_bias<B: Into<ConstBuf<'a>>>(mut self, bias: B) -> Self {
        let b = bias.into();
        self.raw.v_bias = b.ptr;
        self.set_buf("v_bias", b.info);
        self
    }
    /// `gate = interleaved`: where each q head's gate half goes, `[tokens, q_heads, head_dim]`
    /// rows `stride` elements apart.
    pub fn gate_out<B: Into<MutBuf<'a>>>(mut self, out: B, stride: usize) -> Self {
        let b = out.into();
        self.raw.gate_out = b.ptr;
        self.raw.gate_out_stride = stride as i64;
        self.set_buf("gate_out", b.info);
        self
    }
    /// The argument block as it will be passed.
    pub fn as_raw(&self) -> &sys::ropegen_kernel_args {
        &self.raw
    }
}

/// A stream to launch on (`CUstream` / `hipStream_t`); [`Stream::DEFAULT`] is null, the
/// default stream (the host runtime has no streams and ignores it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stream(*mut c_void);

unsafe impl Send for Stream {}
unsafe impl Sync for Stream {}

impl Stream {
    pub const DEFAULT: Stream = Stream(ptr::null_mut());
    /// # Safety
    /// `raw` is null or a live stream of the context's runtime and device.
    pub unsafe fn from_raw(raw: *mut c_void) -> Stream {
        Stream(raw)
    }
    pub fn as_raw(self) -> *mut c_void {
        self.0
    }
}

impl Default for Stream {
    fn default() -> Self {
        Stream::DEFAULT
    }
}

// ---------------------------------------------------------------------------------------
// Device memory

/// A raw device pointer (from the engine's allocator, PyTorch, ...) for a launch, valid
/// for `'a`.
#[derive(Clone, Copy, Debug)]
pub struct DevicePtr<'a> {
    ptr: *mut c_void,
    bytes: Option<usize>,
    _life: PhantomData<&'a ()>,
}

impl<'a> DevicePtr<'a> {
    /// # Safety
    /// `ptr` is memory of the kernel's device (or host memory for the host runtime), valid
    /// for `'a`, large enough for what the kernel reads or writes through it, not used by
    /// anything else meanwhile; index buffers hold positions and slots inside the tables
    /// and caches they select.
    pub unsafe fn new(ptr: *mut c_void) -> DevicePtr<'a> {
        DevicePtr { ptr, bytes: None, _life: PhantomData }
    }
    /// Like [`DevicePtr::new`], with its size in bytes, which the launch checks against the
    /// kernel's argument shapes.
    ///
    /// # Safety
    /// As for [`DevicePtr::new`], and `bytes` is at most the allocation's size.
    pub unsafe fn with_len(ptr: *mut c_void, bytes: usize) -> DevicePtr<'a> {
        DevicePtr { ptr, bytes: Some(bytes), _life: PhantomData }
    }
    pub fn as_raw(self) -> *mut c_void {
        self.ptr
    }
    fn info(&self) -> BufInfo {
        BufInfo { bytes: self.bytes, elem: None, host: false, owner: None, writable: false }
    }
}

/// Device memory from the context's runtime (`ropegen_alloc`), freed on drop (host runtime:
/// aligned host memory).
pub struct DeviceBuffer {
    ptr: *mut c_void,
    bytes: usize,
    ctx: Arc<ContextInner>,
}

unsafe impl Send for DeviceBuffer {}
unsafe impl Sync for DeviceBuffer {}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        unsafe {
            sys::ropegen_free(self.ctx.raw, self.ptr);
        }
    }
}

impl fmt::Debug for DeviceBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceBuffer({:p}, {} bytes)", self.ptr, self.bytes)
    }
}

impl DeviceBuffer {
    pub fn len_bytes(&self) -> usize {
        self.bytes
    }
    /// The pointer with its size, borrowed from the buffer.
    pub fn device_ptr(&self) -> DevicePtr<'_> {
        DevicePtr { ptr: self.ptr, bytes: Some(self.bytes), _life: PhantomData }
    }
    pub fn as_raw(&self) -> *mut c_void {
        self.ptr
    }
    fn info(&self) -> BufInfo {
        let owner = Some((Arc::as_ptr(&self.ctx), self.ctx.target == "host"));
        BufInfo { bytes: Some(self.bytes), elem: None, host: false, owner, writable: false }
    }
    fn fits(&self, bytes: usize) -> Result<()> {
        if bytes > self.bytes {
            return Err(Error::caller(
                Status::InvalidArgument,
                format!("copy of {} bytes does not fit a DeviceBuffer of {} bytes", bytes, self.bytes),
            ));
        }
        Ok(())
    }
    /// Copies `src` to the start of the buffer.
    pub fn copy_from_host<T: Element>(&mut self, src: &[T]) -> Result<()> {
        let n = std::mem::size_of_val(src);
        self.fits(n)?;
        check(unsafe { sys::ropegen_copy_to_device(self.ctx.raw, self.ptr, src.as_ptr() as *const c_void, n) })
    }
    /// Copies the start of the buffer into `dst`.
    pub fn copy_to_host<T: Element>(&self, dst: &mut [T]) -> Result<()> {
        let n = std::mem::size_of_val(dst);
        self.fits(n)?;
        check(unsafe { sys::ropegen_copy_to_host(self.ctx.raw, dst.as_mut_ptr() as *mut c_void, self.ptr, n) })
    }
    /// The buffer's contents as a Vec of `T` (its length rounded down).
    pub fn to_vec<T: Element + Default>(&self) -> Result<Vec<T>> {
        let mut v = vec![T::default(); self.bytes / std::mem::size_of::<T>()];
        self.copy_to_host(&mut v)?;
        Ok(v)
    }
}
