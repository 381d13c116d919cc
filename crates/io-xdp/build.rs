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
}
