// ropegen-sys links libropegen_c; a build script's rpath applies to its own package only,
// so this package's tests and examples get one here (DEP_ROPEGEN_C_LIB_DIR from
// ropegen-sys), and the folder goes on to crates that depend on `ropegen` as
// DEP_ROPEGEN_LIB_DIR: an engine's build.rs turns it into its binary's rpath (docs/rust.md).
fn main() {
    if let Ok(dir) = std::env::var("DEP_ROPEGEN_C_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir);
        println!("cargo:lib_dir={}", dir);
    }
    println!("cargo:rerun-if-changed=build.rs");
}
