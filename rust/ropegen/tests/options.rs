//! Context options: a private cache directory, no_compile, read-only bundle directories
//! (cache_path), and what a kernel reports about itself (info, describe, arguments).
use ropegen::{Context, ContextOptions, Fault, Status};
use std::path::PathBuf;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ropegen-rust-{}-{}", name, std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn options_no_compile_and_cache_dir() {
    let dir = scratch("options");
    // An empty cache and no compiling: a miss is an error naming the key.
    let strict = ContextOptions::new().cache_dir(&dir).no_compile(true).verbose(false);
    let ctx = Context::with_options("host", -1, &strict).unwrap();
    let e = ctx.kernel("op=rope head_dim=32 q_heads=1 kv_heads=1 dtype=f32").unwrap_err();
    assert_eq!(e.status(), Status::Cache, "{}", e);
    assert_eq!(e.fault(), Fault::Machine, "{}", e);
    assert!(
        e.message().to_lowercase().contains("no_compile") || e.message().contains("ROPEGEN_NO_COMPILE"),
        "{}",
        e.message()
    );

    // Compile into that directory, then a fresh context with no_compile finds it on disk.
    let ctx = Context::with_options("host", -1, &ContextOptions::new().cache_dir(&dir)).unwrap();
    let k = ctx.kernel("op=rope head_dim=32 q_heads=1 kv_heads=1 dtype=f32").unwrap();
    assert_eq!(k.info().origin, "compiled");
    drop(k);
    drop(ctx);
    let ctx = Context::with_options("host", -1, &strict).unwrap();
    let k = ctx.kernel("op=rope head_dim=32 q_heads=1 kv_heads=1 dtype=f32").unwrap();
    assert_eq!(k.info().origin, "disk");
    assert!(k.describe().contains("\"origin\":\"disk\""), "{}", k.describe());
    assert!(k.spec().contains("head_dim=32"), "{}", k.spec());
    let names: Vec<&str> = k.arguments().iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["q", "k", "positions", "cos", "sin"]);
    let info = k.info();
    assert!(
        info.vec > 0 && info.block_threads > 0 && info.tensor_align >= 4 && info.entry.starts_with("ropegen_"),
        "{:?}",
        info
    );
    assert!(ctx.verify(&k, 17, 1).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn prebuilt_bundle_through_cache_path() {
    // A deployer's bundle: entries compiled elsewhere into a directory, shipped read-only.
    let bundle = scratch("bundle");
    let spec = "op=rope_kv_append head_dim=64 q_heads=4 kv_heads=2 dtype=f32 cache=contiguous(order=hnd)";
    {
        let build = Context::with_options("host", -1, &ContextOptions::new().cache_dir(&bundle)).unwrap();
        assert_eq!(build.kernel(spec).unwrap().info().origin, "compiled");
    }
    // Sealed with its SHA-256 manifest: an unsealed directory serves nothing.
    assert_eq!(ropegen::write_bundle_manifest(&bundle).unwrap(), 1);
    // The engine: no user cache, no compiling, the bundle on cache_path.
    let opts =
        ContextOptions::new().cache_dir("").cache_path(&[scratch("empty-first"), bundle.clone()]).no_compile(true);
    let ctx = Context::with_options("host", -1, &opts).unwrap();
    let k = ctx.kernel(spec).unwrap();
    assert_eq!(k.info().origin, "bundle");
    assert!(ctx.verify(&k, 9, 3).unwrap());
    // A spec the bundle lacks is an error naming the key, not a compile.
    let e = ctx
        .kernel("op=rope_kv_append head_dim=64 q_heads=4 kv_heads=4 dtype=f32 cache=contiguous(order=hnd)")
        .unwrap_err();
    assert_eq!(e.status(), Status::Cache, "{}", e);
    assert!(e.message().contains("key"), "{}", e.message());
    let _ = std::fs::remove_dir_all(&bundle);
}
