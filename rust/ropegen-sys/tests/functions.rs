//! Every function of ropegen.h is declared in ropegen-sys with the same parameter and
//! return types: the header's prototypes, with C types mapped to their Rust spelling,
//! against the `extern "C"` block of src/lib.rs (both read as text). A function added to
//! the header, removed, or changed fails here.
//!
//! The header comes from $ROPEGEN_INCLUDE_DIR, else the repository's include/.
use std::path::PathBuf;

fn header() -> String {
    let dir = match std::env::var("ROPEGEN_INCLUDE_DIR") {
        Ok(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../include"),
    };
    let path = dir.join("ropegen/ropegen.h");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {} ({}): set ROPEGEN_INCLUDE_DIR", path.display(), e))
}

fn strip_c_comments(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    loop {
        let block = rest.find("/*");
        let line = rest.find("//");
        match (block, line) {
            (Some(b), l) if l.map_or(true, |l| b < l) => {
                out.push_str(&rest[..b]);
                let end = rest[b..].find("*/").expect("unterminated comment") + b + 2;
                out.push(' ');
                rest = &rest[end..];
            }
            (_, Some(l)) => {
                out.push_str(&rest[..l]);
                rest = &rest[l..];
                rest = &rest[rest.find('\n').unwrap_or(rest.len())..];
            }
            _ => {
                out.push_str(rest);
                return out;
            }
        }
    }
}

/// A C type (parameter name removed) in Rust's spelling.
fn c_to_rust(ty: &str) -> String {
    let ty = ty.replace('*', " * ");
    let mut words: Vec<&str> = ty.split_whitespace().collect();
    let stars = words.iter().filter(|w| **w == "*").count();
    let is_const = words.first() == Some(&"const");
    words.retain(|w| *w != "*" && *w != "const");
    let base = match words.join(" ").as_str() {
        "void" => "c_void".to_string(),
        "char" => "c_char".to_string(),
        "int" => "c_int".to_string(),
        "unsigned" | "unsigned int" => "c_uint".to_string(),
        "long long" => "c_longlong".to_string(),
        "unsigned long long" => "c_ulonglong".to_string(),
        "size_t" => "usize".to_string(),
        other => other.to_string(),
    };
    let mut out = base;
    for i in 0..stars {
        // `const` binds to the innermost pointee in every prototype of this header.
        let q = if i == 0 && is_const { "*const " } else { "*mut " };
        out = format!("{}{}", q, out);
    }
    out
}

/// Parameter name of a C parameter: its last identifier.
fn drop_name(p: &str) -> String {
    let p = p.trim();
    if p == "void" {
        return String::new();
    }
    let cut = p.rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
    p[..cut].to_string()
}

type Proto = (String, Vec<String>, String); // name, parameter types, return type

fn c_prototypes() -> Vec<Proto> {
    let text: String =
        strip_c_comments(&header()).lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>().join("\n");
    let mut out = Vec::new();
    for chunk in text.split(';') {
        let decl = chunk[chunk.rfind(&['{', '}'][..]).map_or(0, |i| i + 1)..].trim();
        if decl.starts_with("typedef") || !decl.contains('(') {
            continue;
        }
        let open = decl.find('(').unwrap();
        let head = &decl[..open];
        let name_at = head.rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
        let name = head[name_at..].to_string();
        let ret = head[..name_at].trim();
        let ret = if ret == "void" { String::new() } else { c_to_rust(ret) };
        let params_text = &decl[open + 1..decl.rfind(')').unwrap()];
        let params: Vec<String> =
            params_text.split(',').map(drop_name).filter(|p| !p.is_empty()).map(|p| c_to_rust(&p)).collect();
        out.push((name, params, ret));
    }
    out
}

fn rust_prototypes() -> Vec<Proto> {
    let src = include_str!("../src/lib.rs");
    let start = src.find("extern \"C\" {").expect("no extern block");
    let end = start + src[start..].find("\n}\n").expect("extern block not closed");
    let block: String =
        src[start + 12..end].lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join(" ");
    let mut out = Vec::new();
    for decl in block.split(';') {
        let decl = decl.split_whitespace().collect::<Vec<_>>().join(" ");
        let decl = match decl.find("pub fn ") {
            Some(i) => decl[i + 7..].to_string(),
            None => continue,
        };
        let open = decl.find('(').unwrap();
        let close = decl.rfind(')').unwrap();
        let name = decl[..open].trim().to_string();
        let params: Vec<String> = decl[open + 1..close]
            .split(',')
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .map(|p| p[p.find(':').expect("parameter without a type") + 1..].trim().to_string())
            .collect();
        let ret = decl[close + 1..].trim().trim_start_matches("->").trim().to_string();
        out.push((name, params, ret));
    }
    out
}

#[test]
fn every_header_function_is_declared_alike() {
    let c = c_prototypes();
    let rust = rust_prototypes();
    assert!(c.len() >= 20, "read only {} prototypes from ropegen.h: {:?}", c.len(), c);
    let mut problems = Vec::new();
    for p in &c {
        match rust.iter().find(|r| r.0 == p.0) {
            None => problems.push(format!("{} is in ropegen.h but not in ropegen-sys", p.0)),
            Some(r) if r != p => {
                problems.push(format!("{}:\n  C    {:?} -> {:?}\n  Rust {:?} -> {:?}", p.0, p.1, p.2, r.1, r.2))
            }
            _ => {}
        }
    }
    for r in &rust {
        if !c.iter().any(|p| p.0 == r.0) {
            problems.push(format!("{} is in ropegen-sys but not in ropegen.h", r.0));
        }
    }
    assert!(problems.is_empty(), "ropegen-sys's functions differ from ropegen.h:\n{}", problems.join("\n"));
}

#[test]
fn type_mapping() {
    assert_eq!(c_to_rust("const char*"), "*const c_char");
    assert_eq!(c_to_rust("ropegen_context**"), "*mut *mut ropegen_context");
    assert_eq!(c_to_rust("const ropegen_kernel *"), "*const ropegen_kernel");
    assert_eq!(c_to_rust("unsigned long long"), "c_ulonglong");
    assert_eq!(drop_name("const ropegen_kernel_args* args"), "const ropegen_kernel_args* ");
}
