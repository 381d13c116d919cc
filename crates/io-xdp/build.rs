//! Builds the C shim over libxdp's inline ring functions and links libxdp and libbpf (Debian:
//! `apt-get install libxdp-dev libbpf-dev`).

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=shim/shim.c");
    println!("cargo::rerun-if-changed=shim/shim.h");
    let mut build = cc::Build::new();
    build.file("shim/shim.c").include("shim").warnings(true);
    for name in ["libxdp", "libbpf"] {
        match pkg_config::Config::new().probe(name) {
            Ok(lib) => {
                for path in &lib.include_paths {
                    build.include(path);
                }
            }
            Err(e) => panic!(
                "mtcp-io-xdp needs {name} found by pkg-config \
                 (Debian: apt-get install libxdp-dev libbpf-dev): {e}"
            ),
        }
    }
    build.compile("mtcp_xdp_shim");
    build_bpf();
}

/// Compiles the filtering XDP program (`bpf/mtcp_xsk.bpf.c`, for `pass_foreign`) with clang into
/// `$OUT_DIR/mtcp_xsk.bpf.o`. Without clang the crate still builds (cfg `mtcp_no_bpf_filter`)
/// and `pass_foreign` is refused at run time: libxdp's default program needs no compiler.
fn build_bpf() {
    println!("cargo::rerun-if-changed=bpf/mtcp_xsk.bpf.c");
    println!("cargo::rerun-if-env-changed=CLANG");
    println!("cargo::rustc-check-cfg=cfg(mtcp_no_bpf_filter)");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let obj = out.join("mtcp_xsk.bpf.o");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    let arch_include = format!(
        "-I/usr/include/{}-linux-gnu",
        std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".into())
    );
    let status = std::process::Command::new(&clang)
        .args([
            "-O2",
            "-g",
            "-target",
            "bpf",
            &arch_include,
            "-c",
            "bpf/mtcp_xsk.bpf.c",
            "-o",
        ])
        .arg(&obj)
        .status();
    match status {
        Ok(s) if s.success() => {}
        _ => {
            println!(
                "cargo::warning=clang could not build bpf/mtcp_xsk.bpf.c: xdp_pass_foreign is \
                 unavailable (Debian: apt-get install clang)"
            );
            println!("cargo::rustc-cfg=mtcp_no_bpf_filter");
        }
    }
}
