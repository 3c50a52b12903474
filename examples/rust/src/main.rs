//! A Rust engine calling ropegen through the safe `ropegen` crate: asks for a kernel at run
//! time, launches it on buffers it owns, and checks the result.
use ropegen::{Args, Context, Stream};

fn main() {
    if let Err(e) = run() {
        eprintln!("example FAILED: {}", e);
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    // The host runtime: plain memory here; on a GPU use DeviceBuffer or DevicePtr.
    let ctx = Context::new("host", -1)?;
    let kernel = ctx.kernel("op=rope head_dim=8 q_heads=2 kv_heads=1 dtype=f32")?;
    let info = kernel.info();
    println!("kernel {} for {} ({}), vec {}", info.entry, info.target, info.origin, info.vec);

    // One token at position 1; pair j turns by theta_j = 1 * 10000^(-2j/8). Vectors need
    // 16-byte alignment: DeviceBuffer memory (aligned host memory on the host runtime).
    let mut q0 = [0f32; 16];
    q0[0] = 1.0;
    q0[8] = 1.0;
    let mut cos = [1f32; 8]; // [max_pos = 2, rot / 2 = 4]: row 0 is position 0
    let mut sin = [0f32; 8];
    for j in 0..4 {
        let angle = 10000f64.powf(-2.0 * j as f64 / 8.0);
        cos[4 + j] = angle.cos() as f32;
        sin[4 + j] = angle.sin() as f32;
    }
    let mut q = ctx.alloc_from(&q0)?;
    let mut k = ctx.alloc_from(&[0.5f32; 8])?;
    let (cos, sin) = (ctx.alloc_from(&cos)?, ctx.alloc_from(&sin)?);
    let positions = [1i32];
    let args = Args::new(1).q(&mut q, 16).k(&mut k, 8).positions(&positions[..]).cos_sin(&cos, &sin, 4);
    kernel.launch(&args, Stream::DEFAULT)?;
    let out: Vec<f32> = q.to_vec()?;
    let (c0, s0) = (1f64.cos() as f32, 1f64.sin() as f32);
    println!("q[0] = {:.6} (expect cos 1 = {:.6}), q[4] = {:.6} (expect sin 1 = {:.6})", out[0], c0, out[4], s0);
    let direct_ok = (out[0] - c0).abs() < 1e-6 && (out[4] - s0).abs() < 1e-6;

    // A bad call is an Err with status, fault and message, never a crash.
    let bad = Args::new(1).k(&mut k, 8).positions(&positions[..]).cos_sin(&cos, &sin, 4);
    let refused = match kernel.launch(&bad, Stream::DEFAULT) {
        Err(e) => {
            println!("launch without q: {} ({:?} fault)", e, e.fault());
            true
        }
        Ok(()) => false,
    };

    let passed = ctx.verify(&kernel, 37, 1)?;
    println!("verify against the reference: {}", if passed { "PASS" } else { "FAIL" });
    if !(direct_ok && refused && passed) {
        return Err("a check failed".into());
    }
    println!("example OK");
    Ok(())
}
