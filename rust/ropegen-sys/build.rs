// Finds or builds libropegen_c, in this order:
//
// 1. `ROPEGEN_LIB_DIR`: a folder holding a built libropegen_c.so (e.g. the repository's
//    build/). Linked as a shared library with an rpath to that folder.
// 2. pkg-config's `ropegen_c` (an installed ropegen: `cmake --install`), unless
//    `ROPEGEN_NO_PKG_CONFIG` is set. Shared, with an rpath to its libdir.
// 3. Otherwise the library is built here from ropegen's C++ source with CMake: the source is
//    `ROPEGEN_SOURCE_DIR`, else the repository this crate sits in (../..), else a copy bundled
//    beside this file (`ropegen-src/`, for a vendored crate). It is linked statically
//    (libropegen_c_static.a + libropegen.a, and the system's libstdc++), so binaries need no
//    rpath and no LD_LIBRARY_PATH. Needs cmake, a C++17 compiler and nlohmann-json
//    (Debian: cmake g++ nlohmann-json3-dev); no GPU toolchain: compilers and GPU runtimes are
//    found at run time with dlopen.
//
// A shared library's folder goes to dependents' build scripts as DEP_ROPEGEN_C_LIB_DIR (a
// build script's rpath applies to its own package only, so binaries add their own), and
// `ropegen_sys::LIB_DIR` names it (for a static build: the CMake build folder, which also
// holds ropegen_abi_probe for this crate's tests); `ropegen_sys::LINKAGE` says which way.
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    for var in ["ROPEGEN_LIB_DIR", "ROPEGEN_SOURCE_DIR", "ROPEGEN_NO_PKG_CONFIG", "ROPEGEN_CMAKE", "PKG_CONFIG_PATH"] {
        println!("cargo:rerun-if-env-changed={}", var);
    }
    println!("cargo:rerun-if-changed=build.rs");

    if let Ok(d) = std::env::var("ROPEGEN_LIB_DIR") {
        if !d.is_empty() {
            let dir = PathBuf::from(&d);
            let dir = dir.canonicalize().unwrap_or(dir);
            if !dir.join("libropegen_c.so").exists() {
                fail(&format!(
                    "ROPEGEN_LIB_DIR={} holds no libropegen_c.so (build it: cmake --build build --target ropegen_c), \
                     or unset ROPEGEN_LIB_DIR to build the library from source",
                    d
                ));
            }
            return link_shared(&dir, "ROPEGEN_LIB_DIR");
        }
    }
    if std::env::var_os("ROPEGEN_NO_PKG_CONFIG").is_none() {
        if let Some(dir) = pkg_config_libdir() {
            return link_shared(&dir, "pkg-config");
        }
    }
    build_from_source();
}

fn fail(msg: &str) -> ! {
    eprintln!("error: ropegen-sys: {}", msg);
    std::process::exit(1);
}

fn link_shared(dir: &Path, how: &str) {
    let dir = dir.display().to_string();
    println!("cargo:rustc-link-search=native={}", dir);
    println!("cargo:rustc-link-lib=dylib=ropegen_c");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir);
    println!("cargo:rustc-env=ROPEGEN_LIB_DIR_USED={}", dir);
    println!("cargo:rustc-env=ROPEGEN_LINKAGE=shared ({})", how);
    println!("cargo:lib_dir={}", dir);
}

/// pkg-config's libdir of ropegen_c, when pkg-config runs and the library is there.
fn pkg_config_libdir() -> Option<PathBuf> {
    let out = Command::new("pkg-config").args(["--variable=libdir", "ropegen_c"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    if dir.join("libropegen_c.so").exists() {
        Some(dir)
    } else {
        println!("cargo:warning=pkg-config names {} for ropegen_c, which holds no libropegen_c.so", dir.display());
        None
    }
}

fn source_dir() -> PathBuf {
    let is_ropegen = |d: &Path| {
        std::fs::read_to_string(d.join("CMakeLists.txt")).map(|t| t.contains("project(ropegen ")).unwrap_or(false)
    };
    if let Ok(d) = std::env::var("ROPEGEN_SOURCE_DIR") {
        if !d.is_empty() {
            let p = PathBuf::from(&d);
            if !is_ropegen(&p) {
                fail(&format!(
                    "ROPEGEN_SOURCE_DIR={} is not ropegen's source (no CMakeLists.txt with project(ropegen))",
                    d
                ));
            }
            return p;
        }
    }
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    for cand in [manifest.join("..").join(".."), manifest.join("ropegen-src")] {
        if is_ropegen(&cand) {
            return cand.canonicalize().unwrap_or(cand);
        }
    }
    fail(&format!(
        "no libropegen_c: ROPEGEN_LIB_DIR is unset, pkg-config has no ropegen_c, and there is no ropegen source \
         to build it from (looked in ROPEGEN_SOURCE_DIR, {}/../.. and {}/ropegen-src)",
        manifest.display(),
        manifest.display()
    ));
}

fn run(cmd: &mut Command, what: &str) {
    eprintln!("ropegen-sys: {:?}", cmd);
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!("{} failed ({}); its output is above", what, s)),
        Err(e) => fail(&format!(
            "cannot run {} ({}): install cmake and a C++17 compiler (Debian: apt-get install cmake g++ \
             nlohmann-json3-dev), or set ROPEGEN_LIB_DIR to a built libropegen_c",
            what, e
        )),
    }
}

fn build_from_source() {
    let src = source_dir();
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("ropegen-cmake");
    let cmake = std::env::var("ROPEGEN_CMAKE").unwrap_or_else(|_| "cmake".to_string());
    let jobs = std::env::var("NUM_JOBS").unwrap_or_else(|_| "2".to_string());
    // Rebuild when the C++ source changes (CMake itself then rebuilds only what changed).
    for d in ["src", "include", "templates", "CMakeLists.txt", "scripts/embed_templates.cmake"] {
        println!("cargo:rerun-if-changed={}", src.join(d).display());
    }
    run(
        Command::new(&cmake).arg("-S").arg(&src).arg("-B").arg(&out).args([
            "-DCMAKE_BUILD_TYPE=Release",
            "-DROPEGEN_BUILD_TESTS=OFF",
            "-DROPEGEN_BUILD_CLI=OFF",
            "-DROPEGEN_BUILD_BENCH=OFF",
            "-DROPEGEN_BUILD_STATIC_C=ON",
        ]),
        "cmake (configure)",
    );
    run(
        Command::new(&cmake).arg("--build").arg(&out).args([
            "--target",
            "ropegen_c_static",
            "ropegen_abi_probe",
            "-j",
            &jobs,
        ]),
        "cmake --build",
    );
    let dir = out.display().to_string();
    println!("cargo:rustc-link-search=native={}", dir);
    // The C API first, then the core it calls, then what the core needs from the system.
    println!("cargo:rustc-link-lib=static=ropegen_c_static");
    println!("cargo:rustc-link-lib=static=ropegen");
    println!("cargo:rustc-link-lib=dylib=stdc++");
    println!("cargo:rustc-link-lib=dylib=dl");
    println!("cargo:rustc-link-lib=dylib=pthread");
    println!("cargo:rustc-env=ROPEGEN_LIB_DIR_USED={}", dir);
    println!("cargo:rustc-env=ROPEGEN_LINKAGE=static (built from {})", src.display());
}
