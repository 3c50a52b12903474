// ropegen-sys links libropegen_c; its rpath applies to its own package only, so this
// package's tests and examples get one here too (DEP_ROPEGEN_C_LIB_DIR from ropegen-sys).
// A binary crate that depends on `ropegen` does the same in its build.rs, or finds the
// library on the loader path.
fn main() {
    if let Ok(dir) = std::env::var("DEP_ROPEGEN_C_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir);
    }
    println!("cargo:rerun-if-changed=build.rs");
}
