// Links libropegen_c from ROPEGEN_LIB_DIR (default: the repository's build/ folder).
fn main() {
    let dir = std::env::var("ROPEGEN_LIB_DIR").unwrap_or_else(|_| {
        let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap();
        format!("{}/../../build", manifest)
    });
    println!("cargo:rustc-link-search=native={}", dir);
    println!("cargo:rustc-link-lib=dylib=ropegen_c");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir);
    println!("cargo:rerun-if-env-changed=ROPEGEN_LIB_DIR");
}
