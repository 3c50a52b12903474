// The `ropegen` crate links libropegen_c (from ROPEGEN_LIB_DIR, default: the repository's
// build/ folder) and tells its dependents where it is; this binary's rpath is our job.
fn main() {
    if let Ok(dir) = std::env::var("DEP_ROPEGEN_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir);
    }
}
