//! Context::tune (ropegen_tune) on the host: the winners kept, a kernel asked for afterwards
//! holding them, and a refused bucket list.
use ropegen::{Context, ContextOptions, Status, TuneOptions, TunePlans};

#[test]
fn tune_keeps_winners_and_kernels_use_them() {
    let dir = std::env::temp_dir().join(format!("ropegen-rust-tune-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ctx = Context::with_options("host", -1, &ContextOptions::new().cache_dir(&dir)).unwrap();
    let spec = "op=rope_kv_append head_dim=32 q_heads=4 kv_heads=2 dtype=f32";
    let opts = TuneOptions { buckets: Some(vec![1, 64]), reps: 1, plans: TunePlans::Quick, ..Default::default() };
    let res = ctx.tune(spec, &opts).unwrap();
    assert_eq!(res.iter().map(|r| r.tokens).collect::<Vec<_>>(), [1, 64]);
    for r in &res {
        assert!(r.candidates > 1 && r.best_us > 0.0 && r.best_us <= r.default_us, "{:?}", r);
    }
    let k = ctx.kernel(spec).unwrap();
    assert!(k.describe().contains("\"plan_source\":\"tuned\""), "{}", k.describe());
    assert!(ctx.verify(&k, 50, 1).unwrap());

    let bad = TuneOptions { buckets: Some(vec![32, 1]), reps: 1, ..Default::default() };
    let e = ctx.tune(spec, &bad).unwrap_err();
    assert_eq!(e.status(), Status::Spec, "{}", e);
    assert!(e.message().contains("buckets must increase"), "{}", e.message());
    drop(k);
    drop(ctx);
    let _ = std::fs::remove_dir_all(&dir);
}
