// Links libropegen_c from ROPEGEN_LIB_DIR (default: the repository's build/ folder) with an
// rpath, and hands the folder to dependents' build scripts as DEP_ROPEGEN_C_LIB_DIR (a
// build script's rpath applies to its own package only, so binaries add their own).
use std::path::PathBuf;

fn main() {
    let dir = match std::env::var("ROPEGEN_LIB_DIR") {
        Ok(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
            manifest.join("..").join("..").join("build")
        }
    };
    let dir = dir.canonicalize().unwrap_or(dir);
    if !dir.join("libropegen_c.so").exists() {
        println!(
            "cargo:warning=no libropegen_c.so in {} (build it: cmake --build build --target ropegen_c, or set ROPEGEN_LIB_DIR)",
            dir.display()
        );
    }
    let dir = dir.display().to_string();
    println!("cargo:rustc-link-search=native={}", dir);
    println!("cargo:rustc-link-lib=dylib=ropegen_c");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir);
    println!("cargo:rustc-env=ROPEGEN_LIB_DIR_USED={}", dir);
    println!("cargo:lib_dir={}", dir);
    println!("cargo:rerun-if-env-changed=ROPEGEN_LIB_DIR");
    println!("cargo:rerun-if-changed=build.rs");
}
