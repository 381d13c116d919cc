//! The bench's rows: the `--json` report (`{"rows":[{"workload":...,"link":...,"run_mode":...,
//! "value":...,"unit":...}]}`) and the table with ratios to the kernel, computed from the rows of
//! this run only.

use serde::Serialize;

/// One figure of the run. A row whose workload could not run on its link (the stack rejected
/// a setting, a DPDK link in a build without `dpdk`, a failed run) has no value and says why
/// in `unit` (`unsupported: ...`, `unavailable: ...`, `failed: ...`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// Workload name (`echo64x64`, `latency64_p99`, `lossy1_cubic`, ...).
    pub workload: String,
    /// Link name (`mem`, `memif`, `kernel`, ...).
    pub link: String,
    /// `rtc`, `threaded`, or `kernel` for Linux's rows.
    pub run_mode: String,
    /// The figure, or `null`.
    pub value: Option<f64>,
    /// Its unit (`trans/s`, `us`, `conn/s`, `Gbit/s`, `s`), or why there is none.
    pub unit: String,
}

/// The JSON document.
#[derive(Serialize)]
struct Doc<'a> {
    rows: &'a [Row],
}

impl Row {
    /// A row with a value.
    pub fn new(workload: &str, link: &str, run_mode: &str, value: f64, unit: &str) -> Row {
        Row {
            workload: workload.into(),
            link: link.into(),
            run_mode: run_mode.into(),
            value: Some(value),
            unit: unit.into(),
        }
    }

    /// A row without a value; `why` starts with `unsupported:`, `unavailable:` or `failed:`.
    pub fn missing(workload: &str, link: &str, run_mode: &str, why: &str) -> Row {
        Row {
            workload: workload.into(),
            link: link.into(),
            run_mode: run_mode.into(),
            value: None,
            unit: why.replace('\n', " "),
        }
    }

    /// True when a smaller value is better (latencies, completion times).
    pub fn lower_is_better(&self) -> bool {
        matches!(self.unit.as_str(), "us" | "s")
    }
}

/// The JSON report of `rows`.
pub fn json(rows: &[Row]) -> String {
    serde_json::to_string_pretty(&Doc { rows }).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// The Linux row that `row` is compared with: the same workload on `kernel` (loopback), or on
/// `kernel-1500` when the run has no loopback row for it (the lossy workloads).
pub fn kernel_ref<'a>(rows: &'a [Row], row: &Row) -> Option<&'a Row> {
    let find = |link: &str| {
        rows.iter()
            .find(|r| r.workload == row.workload && r.link == link && r.value.is_some())
    };
    find("kernel").or_else(|| find("kernel-1500"))
}

/// How much better `row` is than the kernel's (`> 1` better, whatever the unit's direction).
pub fn ratio(rows: &[Row], row: &Row) -> Option<f64> {
    let k = kernel_ref(rows, row)?;
    let (v, kv) = (row.value?, k.value?);
    let r = if row.lower_is_better() {
        kv / v
    } else {
        v / kv
    };
    r.is_finite().then_some(r)
}

/// The table: a line per row, with its ratio to the kernel's row of the same workload.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<16} {:<12} {:<9} {:>14} {:<8} {:>12}\n",
        "workload", "link", "run_mode", "value", "unit", "vs kernel"
    );
    for r in rows {
        let value = r.value.map_or("-".to_string(), |v| format!("{v:.3}"));
        let vs = match (ratio(rows, r), kernel_ref(rows, r)) {
            (Some(x), Some(k)) if r.run_mode != "kernel" || k.link != r.link => {
                format!("{x:.2}x {}", k.link)
            }
            _ => String::new(),
        };
        let unit = if r.value.is_some() { &r.unit } else { "" };
        out += &format!(
            "{:<16} {:<12} {:<9} {:>14} {:<8} {:>12}",
            r.workload, r.link, r.run_mode, value, unit, vs
        );
        if r.value.is_none() {
            out += &format!("  ({})", r.unit);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_follow_the_units_direction_and_json_has_exactly_the_keys() {
        let rows = vec![
            Row::new("echo64x64", "kernel", "kernel", 100.0, "trans/s"),
            Row::new("echo64x64", "mem", "rtc", 400.0, "trans/s"),
            Row::new("latency64", "kernel", "kernel", 40.0, "us"),
            Row::new("latency64", "mem", "rtc", 10.0, "us"),
            Row::new("lossy1_cubic", "kernel-1500", "kernel", 2.0, "s"),
            Row::new("lossy1_cubic", "afpacket", "rtc", 4.0, "s"),
            Row::missing("lossy1_bbr", "afpacket", "rtc", "unsupported: tcp_cc"),
        ];
        assert_eq!(ratio(&rows, &rows[1]), Some(4.0));
        assert_eq!(ratio(&rows, &rows[3]), Some(4.0));
        assert_eq!(ratio(&rows, &rows[5]), Some(0.5));
        assert_eq!(ratio(&rows, &rows[6]), None);
        let v: serde_json::Value = serde_json::from_str(&json(&rows)).unwrap();
        let first = v["rows"][0].as_object().unwrap();
        let mut keys: Vec<_> = first.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["link", "run_mode", "unit", "value", "workload"]);
        assert!(v["rows"][6]["value"].is_null());
        let t = table(&rows);
        assert!(t.contains("4.00x kernel"), "{t}");
        assert!(t.contains("0.50x kernel-1500"), "{t}");
        assert!(t.contains("(unsupported: tcp_cc)"), "{t}");
    }
}
