//! Host-side cost of `Kernel::launch` (this crate's checks + the C call) against calling
//! `ropegen_kernel_launch` directly with the same argument block, on the host runtime.
//! Both include the same C-side checks and the same (tiny) CPU kernel run, so the
//! difference is what the Rust layer adds per call.
//!
//!     cargo run --release --example overhead --manifest-path rust/Cargo.toml
use ropegen::{sys, Args, Context, Stream};
use std::time::Instant;

#[repr(C, align(64))]
struct Row<const N: usize>([f32; N]);

fn time_ns<F: FnMut()>(iters: u32, mut f: F) -> f64 {
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_nanos() as f64 / iters as f64
}

fn main() {
    let ctx = Context::new("host", -1).expect("host context");
    for &(spec, heads, kv) in &[
        ("op=rope head_dim=64 q_heads=1 kv_heads=1 dtype=f32", 1usize, 1usize),
        ("op=rope head_dim=128 q_heads=32 kv_heads=8 dtype=f32", 32, 8),
    ] {
        let kernel = ctx.kernel(spec).unwrap();
        let hd = if heads == 1 { 64 } else { 128 };
        let mut q = Box::new(Row([0.5f32; 32 * 128]));
        let mut k = Box::new(Row([0.25f32; 8 * 128]));
        let cos = Box::new(Row([1f32; 128]));
        let sin = Box::new(Row([0f32; 128]));
        let positions = [0i32];
        let args = Args::new(1)
            .q(&mut q.0[..heads * hd], heads * hd)
            .k(&mut k.0[..kv * hd], kv * hd)
            .positions(&positions[..])
            .cos_sin(&cos.0[..hd / 2], &sin.0[..hd / 2], hd / 2);
        kernel.launch(&args, Stream::DEFAULT).unwrap();
        let raw = *args.as_raw();
        let iters = 100_000;
        let (mut best_rust, mut best_c, mut best_check) = (f64::MAX, f64::MAX, f64::MAX);
        // Interleaved rounds, best of each: this machine is shared.
        for _ in 0..7 {
            best_rust = best_rust.min(time_ns(iters, || kernel.launch(&args, Stream::DEFAULT).unwrap()));
            best_c = best_c.min(time_ns(iters, || unsafe {
                assert_eq!(sys::ropegen_kernel_launch(kernel.as_raw(), &raw, std::ptr::null_mut()), 0);
            }));
            best_check = best_check.min(time_ns(iters * 5, || kernel.check_args(&args).unwrap()));
        }
        println!("{}, 1 token:", spec);
        println!(
            "  Kernel::launch {:.0} ns, ropegen_kernel_launch {:.0} ns (both include the CPU kernel); \
             the Rust layer's checks alone (Kernel::check_args) {:.1} ns",
            best_rust, best_c, best_check
        );
    }
}
