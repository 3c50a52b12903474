//! engine-rs: what an inference engine does with ropegen, in one file, without a GPU
//! toolchain at build time (no build.rs, no hipcc, no nvcc).
//!
//! At start-up it reads a model's spec file (`models/*.rg`), asks ropegen for the decoder
//! layer's RoPE + KV-append kernel on the GPU the process sees (or the host), from a prebuilt
//! bundle when given one (`--bundle DIR`: read-only, nothing compiled, as on an offline
//! serving machine), and allocates per-layer paged or contiguous KV caches. Then it runs a
//! prefill of `--prefill` tokens and `--decode` single-token steps through every layer, with
//! a block table that maps a sequence's blocks to physical blocks in reverse order, so cache
//! slots differ from positions. At the end it checks what an engine relies on: every V row
//! landed bit for bit in the slot its token was given, the K row of position 0 is unrotated,
//! every slot it did not write is still zero, and the kernel matches ropegen's
//! double-precision reference (`Context::verify`).
//!
//!   engine-rs --model models/llama-3.1-8b.rg [--kernel NAME] [--runtime auto|host|cuda|hip]
//!             [--device N] [--bundle DIR] [--layers N] [--prefill N] [--decode N]
use ropegen::{Args, Context, ContextOptions, DeviceBuffer, Kernel, Stream};
use std::collections::BTreeMap;
use std::time::Instant;

struct Opts {
    model: String,
    kernel: Option<String>,
    runtime: String,
    device: i32,
    bundle: Option<String>,
    layers: usize,
    prefill: usize,
    decode: usize,
}

const USAGE: &str = "usage: engine-rs --model FILE.rg [--kernel NAME] [--runtime auto|host|cuda|hip] [--device N] \
                     [--bundle DIR] [--layers N] [--prefill N] [--decode N]";

fn parse_opts() -> Result<Opts, String> {
    let mut o = Opts {
        model: String::new(),
        kernel: None,
        runtime: "auto".to_string(),
        device: -1,
        bundle: None,
        layers: 4,
        prefill: 17,
        decode: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{} needs a value\n{}", flag, USAGE));
        let number = |v: String, max: usize| -> Result<usize, String> {
            match v.parse::<usize>() {
                Ok(n) if n >= 1 && n <= max && v.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
                _ => Err(format!("{} takes a decimal number from 1 to {}, not '{}'", flag, max, v)),
            }
        };
        match flag.as_str() {
            "--model" => o.model = value()?,
            "--kernel" => o.kernel = Some(value()?),
            "--runtime" => o.runtime = value()?,
            "--device" => {
                let v = value()?;
                o.device = match v.parse::<i32>() {
                    Ok(d) if d >= 0 && v.bytes().all(|b| b.is_ascii_digit()) => d,
                    _ => return Err(format!("--device takes a GPU index (0, 1, ...), not '{}'", v)),
                };
            }
            "--bundle" => o.bundle = Some(value()?),
            "--layers" => o.layers = number(value()?, 256)?,
            "--prefill" => o.prefill = number(value()?, 8192)?,
            "--decode" => o.decode = number(value()?, 1024)?,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument '{}'\n{}", other, USAGE)),
        }
    }
    if o.model.is_empty() {
        return Err(format!("--model is required\n{}", USAGE));
    }
    Ok(o)
}

/// The kernel blocks of a spec file (`kernel NAME { key = value ... }`, `#` comments), each
/// as its name and one-line spec text (`key=value key=value`), which Context::kernel takes.
fn read_model(path: &str) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {}", path, e))?;
    let mut blocks = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        match current.as_mut() {
            None => {
                let words: Vec<&str> = line.split_whitespace().collect();
                if words.len() != 3 || words[0] != "kernel" || words[2] != "{" {
                    return Err(format!("{}:{}: expected 'kernel NAME {{', found '{}'", path, i + 1, line));
                }
                current = Some((words[1].to_string(), Vec::new()));
            }
            Some((name, pairs)) => {
                if line == "}" {
                    blocks.push((name.clone(), pairs.join(" ")));
                    current = None;
                } else if let Some(eq) = line.find('=') {
                    pairs.push(format!("{}={}", line[..eq].trim(), line[eq + 1..].trim()));
                } else {
                    return Err(format!("{}:{}: expected 'key = value' or '}}', found '{}'", path, i + 1, line));
                }
            }
        }
    }
    if let Some((name, _)) = current {
        return Err(format!("{}: kernel {} has no closing '}}'", path, name));
    }
    if blocks.is_empty() {
        return Err(format!("{}: no kernel blocks", path));
    }
    Ok(blocks)
}

/// The keys of a canonical spec (`Kernel::spec`: every key, defaults filled in).
fn spec_keys(spec: &str) -> BTreeMap<String, String> {
    let (mut out, mut depth, mut word) = (BTreeMap::new(), 0i32, String::new());
    for c in spec.chars().chain(std::iter::once(' ')) {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if c == ' ' && depth == 0 {
            if let Some(eq) = word.find('=') {
                out.insert(word[..eq].to_string(), word[eq + 1..].to_string());
            }
            word.clear();
        } else {
            word.push(c);
        }
    }
    out
}

/// A number inside a call value: `paged(block=16,order=nhd)` -> block = 16.
fn call_arg(value: &str, key: &str) -> Option<String> {
    let inner = value.split_once('(')?.1.trim_end_matches(')');
    inner.split(',').find_map(|kv| kv.split_once('=').filter(|(k, _)| k.trim() == key).map(|(_, v)| v.to_string()))
}

/// The cache geometry of the spec: paged (block, order) or contiguous (order).
struct CacheLayout {
    paged: bool,
    block: usize,
    hnd: bool,
    slots: usize, // rows per (layer, kv head)
    kv_heads: usize,
    head_dim: usize,
}

impl CacheLayout {
    /// Element offset of (slot, head)'s row.
    fn row(&self, slot: usize, head: usize) -> usize {
        let (kv, d) = (self.kv_heads, self.head_dim);
        match (self.paged, self.hnd) {
            (true, false) => (slot * kv + head) * d,
            (true, true) => (((slot / self.block) * kv + head) * self.block + slot % self.block) * d,
            (false, true) => (head * self.slots + slot) * d,
            (false, false) => (slot * kv + head) * d,
        }
    }
}

struct Layer {
    k_cache: DeviceBuffer,
    v_cache: DeviceBuffer,
}

/// One step's inputs: q, k and v rows of `tokens` tokens with their positions and slots.
struct Step {
    tokens: usize,
    q: DeviceBuffer,
    k: DeviceBuffer,
    v: DeviceBuffer,
    v_host: Vec<u16>,
    k_host: Vec<u16>,
    positions: DeviceBuffer,
    slots: DeviceBuffer,
    slot_of: Vec<usize>,
    pos_of: Vec<usize>,
}

fn main() {
    match parse_opts().and_then(|o| run(&o)) {
        Ok(()) => println!("engine OK"),
        Err(e) => {
            eprintln!("engine-rs: {}", e);
            std::process::exit(1);
        }
    }
}

fn run(o: &Opts) -> Result<(), String> {
    let blocks = read_model(&o.model)?;
    let (name, text) = match &o.kernel {
        Some(k) => blocks.iter().find(|(n, _)| n == k).ok_or_else(|| {
            let names: Vec<&str> = blocks.iter().map(|(n, _)| n.as_str()).collect();
            format!("{} has no kernel '{}' (it has {})", o.model, k, names.join(", "))
        })?,
        None => &blocks[0],
    };
    println!("model    {}: kernel {}", o.model, name);

    // Start-up: a context on this machine's GPU (or the host), the kernel from the bundle
    // or compiled once and cached on disk.
    let mut opts = ContextOptions::new();
    if let Some(dir) = &o.bundle {
        // The bundle only: no compiler runs and no user cache is read or written, so a
        // kernel the bundle lacks is an error naming its key.
        opts = opts.cache_path(&[dir.as_str()]).no_compile(true).cache_dir("");
    }
    let ctx = Context::with_options(&o.runtime, o.device, &opts).map_err(|e| format!("context: {}", e))?;
    let t0 = Instant::now();
    let kernel = ctx.kernel(text).map_err(|e| format!("kernel {}: {}", name, e))?;
    let info = kernel.info();
    println!(
        "kernel   {} for {} ({}, {:.1} ms){}",
        info.entry,
        info.target,
        info.origin,
        t0.elapsed().as_secs_f64() * 1e3,
        if o.bundle.is_some() { ", bundle only: nothing compiled here" } else { "" }
    );
    println!("spec     {}", kernel.spec());

    let keys = spec_keys(kernel.spec());
    let get = |k: &str| keys.get(k).cloned().ok_or_else(|| format!("the spec has no '{}'", k));
    let num = |k: &str| -> Result<usize, String> { get(k)?.parse::<usize>().map_err(|e| format!("{}: {}", k, e)) };
    let op = get("op")?;
    if op != "rope_kv_append" {
        return Err(format!("this engine runs a decoder layer's fused RoPE + KV append; {} is op={}", name, op));
    }
    // The arguments this engine passes; any other one the kernel needs is named.
    let driven = ["q", "k", "v", "positions", "slot_mapping", "k_cache", "v_cache", "cos", "sin"];
    for a in kernel.arguments() {
        if a.required && !driven.contains(&a.field.as_str()) {
            return Err(format!(
                "kernel {} also needs '{}' ({}); this example passes only {} (docs/rust.md lists the setters)",
                name,
                a.name,
                a.why,
                driven.join(", ")
            ));
        }
    }
    let dtype = get("dtype")?;
    if dtype == "f32" {
        return Err("this example fills bf16/f16 tensors; use a model with dtype bf16 or f16".to_string());
    }
    let (head_dim, q_heads, kv_heads) = (num("head_dim")?, num("q_heads")?, num("kv_heads")?);
    let rotary_dim = num("rotary_dim")?;
    let i64_index = get("index")? == "i64";
    let cache = get("cache")?;
    let total = o.prefill + o.decode;
    let paged = cache.starts_with("paged");
    let block = if paged { call_arg(&cache, "block").and_then(|b| b.parse().ok()).unwrap_or(16) } else { 1 };
    let hnd = call_arg(&cache, "order").as_deref() == Some("hnd");
    // Paged: one spare block beyond the sequence; contiguous: max_seq rows.
    let slots = if paged { (total + block - 1) / block * block + block } else { total + 5 };
    let layout = CacheLayout { paged, block, hnd, slots, kv_heads, head_dim };
    let cache_elems = slots * kv_heads * head_dim;
    let table_mode = get("cos_sin")? == "table";

    // Per-layer caches, zeroed.
    let zeros = vec![0u16; cache_elems];
    let mut layers = Vec::new();
    for _ in 0..o.layers {
        layers.push(Layer {
            k_cache: ctx.alloc_from(&zeros).map_err(|e| e.to_string())?,
            v_cache: ctx.alloc_from(&zeros).map_err(|e| e.to_string())?,
        });
    }
    // The engine's block table: block b of the sequence lives in physical block
    // (blocks - 1 - b), so slots are not positions.
    let phys_blocks = slots / block;
    let slot_for = |pos: usize| if paged { (phys_blocks - 1 - pos / block) * block + pos % block } else { pos };
    // cos/sin tables (theta 10000) only for a table-mode spec.
    let (cos, sin) = if table_mode {
        let half = rotary_dim / 2;
        let (mut c, mut s) = (vec![0f32; total * half], vec![0f32; total * half]);
        for p in 0..total {
            for j in 0..half {
                let a = p as f64 * 10000f64.powf(-2.0 * j as f64 / rotary_dim as f64);
                c[p * half + j] = a.cos() as f32;
                s[p * half + j] = a.sin() as f32;
            }
        }
        (Some(ctx.alloc_from(&c).map_err(|e| e.to_string())?), Some(ctx.alloc_from(&s).map_err(|e| e.to_string())?))
    } else {
        (None, None)
    };

    // bf16 / f16 bit patterns of small exact values, different per element.
    let half_bits = |x: f32| -> u16 {
        if dtype == "bf16" {
            (x.to_bits() >> 16) as u16
        } else {
            // f16 of a value m / 64, |m| < 64: exact.
            if x == 0.0 {
                return 0;
            }
            let b = x.to_bits();
            let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
            (((b >> 16) & 0x8000) | ((exp as u32) << 10) | ((b & 0x7f_ffff) >> 13)) as u16
        }
    };
    let make_step = |first: usize, tokens: usize, seed: usize| -> Result<Step, String> {
        let val = |i: usize, salt: usize| {
            let m = ((i * 31 + salt * 17 + seed * 7) % 63) as i32 - 31;
            (if m == 0 { 33 } else { m }) as f32 / 64.0
        };
        let q: Vec<u16> = (0..tokens * q_heads * head_dim).map(|i| half_bits(val(i, 1))).collect();
        let k: Vec<u16> = (0..tokens * kv_heads * head_dim).map(|i| half_bits(val(i, 2))).collect();
        let v: Vec<u16> = (0..tokens * kv_heads * head_dim).map(|i| half_bits(val(i, 3))).collect();
        let pos_of: Vec<usize> = (first..first + tokens).collect();
        let slot_of: Vec<usize> = pos_of.iter().map(|&p| slot_for(p)).collect();
        let e = |e: ropegen::Error| e.to_string();
        let (positions, slots) = if i64_index {
            let p: Vec<i64> = pos_of.iter().map(|&x| x as i64).collect();
            let s: Vec<i64> = slot_of.iter().map(|&x| x as i64).collect();
            (ctx.alloc_from(&p).map_err(e)?, ctx.alloc_from(&s).map_err(e)?)
        } else {
            let p: Vec<i32> = pos_of.iter().map(|&x| x as i32).collect();
            let s: Vec<i32> = slot_of.iter().map(|&x| x as i32).collect();
            (ctx.alloc_from(&p).map_err(e)?, ctx.alloc_from(&s).map_err(e)?)
        };
        Ok(Step {
            tokens,
            q: ctx.alloc_from(&q).map_err(e)?,
            k: ctx.alloc_from(&k).map_err(e)?,
            v: ctx.alloc_from(&v).map_err(e)?,
            v_host: v,
            k_host: k,
            positions,
            slots,
            slot_of,
            pos_of,
        })
    };
    let launch = |kernel: &Kernel, step: &mut Step, layer: &mut Layer| -> Result<(), String> {
        let mut args = Args::new(step.tokens)
            .q(&mut step.q, q_heads * head_dim)
            .k(&mut step.k, kv_heads * head_dim)
            .v(&step.v, kv_heads * head_dim)
            .positions(&step.positions)
            .slot_mapping(&step.slots)
            .caches(&mut layer.k_cache, &mut layer.v_cache);
        if !paged {
            args = args.max_seq(slots);
        }
        if let (Some(c), Some(s)) = (&cos, &sin) {
            args = args.cos_sin(c, s, rotary_dim / 2);
        }
        kernel.launch(&args, Stream::DEFAULT).map_err(|e| format!("launch: {}", e))
    };

    // Prefill, then decode steps, each through every layer.
    let mut steps = vec![make_step(0, o.prefill, 0)?];
    for d in 0..o.decode {
        steps.push(make_step(o.prefill + d, 1, d + 1)?);
    }
    let t1 = Instant::now();
    let mut launches = 0;
    for step in steps.iter_mut() {
        for layer in layers.iter_mut() {
            launch(&kernel, step, layer)?;
            launches += 1;
        }
    }
    ctx.synchronize().map_err(|e| e.to_string())?;
    let us = t1.elapsed().as_secs_f64() * 1e6 / launches as f64;
    println!(
        "run      {} layers: prefill {} tokens + {} decode steps = {} launches, {:.1} us per launch ({})",
        o.layers,
        o.prefill,
        o.decode,
        launches,
        us,
        ctx.target()
    );

    // What the engine relies on.
    let mut written = vec![false; slots];
    for step in &steps {
        for &s in &step.slot_of {
            written[s] = true;
        }
    }
    for (li, layer) in layers.iter().enumerate() {
        let kc: Vec<u16> = layer.k_cache.to_vec().map_err(|e| e.to_string())?;
        let vc: Vec<u16> = layer.v_cache.to_vec().map_err(|e| e.to_string())?;
        for step in &steps {
            for (t, (&slot, &pos)) in step.slot_of.iter().zip(&step.pos_of).enumerate() {
                for h in 0..kv_heads {
                    let src = (t * kv_heads + h) * head_dim;
                    let dst = layout.row(slot, h);
                    if vc[dst..dst + head_dim] != step.v_host[src..src + head_dim] {
                        return Err(format!(
                            "layer {}: V of position {} (slot {}, head {}) is not its row",
                            li, pos, slot, h
                        ));
                    }
                    // Position 0 rotates by angle 0: K lands unchanged.
                    if pos == 0 && kc[dst..dst + head_dim] != step.k_host[src..src + head_dim] {
                        return Err(format!("layer {}: K of position 0 (slot {}, head {}) was changed", li, slot, h));
                    }
                }
            }
        }
        for (s, &w) in written.iter().enumerate() {
            for h in 0..kv_heads {
                let r = layout.row(s, h);
                if !w && (kc[r..r + head_dim].iter().any(|&x| x != 0) || vc[r..r + head_dim].iter().any(|&x| x != 0)) {
                    return Err(format!("layer {}: slot {} was written, but no token maps to it", li, s));
                }
            }
        }
    }
    println!(
        "cache    every V row in its token's slot bit for bit, K of position 0 unrotated, {} other slots untouched ({} layers)",
        written.iter().filter(|&&w| !w).count(),
        o.layers
    );
    let ok = ctx.verify(&kernel, 37, 1).map_err(|e| format!("verify: {}", e))?;
    println!("verify   against ropegen's double-precision reference: {}", if ok { "PASS" } else { "FAIL" });
    if !ok {
        return Err("the kernel does not match the reference".to_string());
    }
    Ok(())
}
