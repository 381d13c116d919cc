//! Builds the C shim over DPDK's inline functions, only when the `dpdk` feature is on.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    #[cfg(feature = "dpdk")]
    dpdk::build();
}

#[cfg(feature = "dpdk")]
mod dpdk {
    pub fn build() {
        println!("cargo::rerun-if-changed=shim/shim.c");
        println!("cargo::rerun-if-changed=shim/shim.h");
        let lib = match pkg_config::Config::new()
            .atleast_version("22.11")
            .probe("libdpdk")
        {
            Ok(lib) => lib,
            Err(e) => {
                panic!(
                    "the `dpdk` feature needs DPDK >= 22.11 found by pkg-config as `libdpdk` \
                     (Debian: apt-get install libdpdk-dev): {e}"
                );
            }
        };
        let mut build = cc::Build::new();
        build
            .file("shim/shim.c")
            .include("shim")
            .warnings(true)
            .extra_warnings(true);
        for path in &lib.include_paths {
            build.include(path);
        }
        // DPDK's Cflags carry `-include rte_config.h` and `-march=...`, which its inline functions need.
        let out = std::process::Command::new("pkg-config")
            .args(["--cflags-only-other", "libdpdk"])
            .output()
            .expect("run pkg-config");
        let other = String::from_utf8_lossy(&out.stdout);
        let mut args = other.split_whitespace();
        while let Some(arg) = args.next() {
            if arg == "-include" {
                if let Some(file) = args.next() {
                    build.flag("-include").flag(file);
                }
            } else {
                build.flag(arg);
            }
        }
        build.compile("mtcp_dpdk_shim");
        // rte_eth_from_rings (Eal::ring_pair) lives in the net_ring driver's library.
        println!("cargo::rustc-link-lib=dylib=rte_net_ring");
        println!("cargo::rustc-link-lib=dylib=rte_ring");
    }
}
