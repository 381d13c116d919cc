//! The `mem` stack cost line of `mtcp-bench` alone (both stacks on this one thread, CPU ns per
//! 64 B echo transaction), for profiling (`perf record -e cpu-clock -g`) and before/after
//! medians: `cargo run --release -p mtcp-apps --example stackcost -- [runs] [conns]`.

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let runs: usize = args
        .next()
        .map_or(Ok(5), |s| s.parse())
        .map_err(|e| format!("runs: {e}"))?;
    let conns: usize = args
        .next()
        .map_or(Ok(64), |s| s.parse())
        .map_err(|e| format!("conns: {e}"))?;
    let mut ns = Vec::with_capacity(runs);
    for _ in 0..runs {
        ns.push(mtcp_apps::bench::stackcost::per_transaction(conns)?);
    }
    let line: Vec<String> = ns.iter().map(|n| format!("{n:.0}")).collect();
    ns.sort_by(f64::total_cmp);
    println!(
        "stack cost, {conns} conns: {} ns per transaction (median {:.0})",
        line.join(" "),
        ns[ns.len() / 2]
    );
    Ok(())
}
