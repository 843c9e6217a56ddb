//! The per-step report of a run: every pipeline step and every system
//! preparation task with the time it took and the bytes it freed (the
//! avs_image_mgr build report), printed at the end of a run and written as
//! JSON next to the image (`FILE.report.json`).
//!
//! Steps are timed by [`StepTimer`], a reporter that sits between the
//! pipeline and the front end and notes when each step begins and ends, so
//! that no step needs timing code of its own.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::guest::secrets::Finding;
use crate::progress::{Event, Reporter, StepId};
use crate::sysprep::TaskOutcome;
use crate::sysprep::changes::human_bytes;

/// One row of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub step: String,
    pub seconds: f64,
    /// Bytes freed (tasks; a device-level task's bytes saved), if known.
    pub bytes_freed: Option<i64>,
    /// The guest's size change (the bytes freed, negated), if known.
    pub size_delta: Option<i64>,
}

/// A reporter that forwards everything and times the steps.
pub struct StepTimer<'a> {
    inner: &'a dyn Reporter,
    state: Mutex<Timing>,
    /// The libguestfs calls made before the run.
    calls_before: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Timing {
    open: HashMap<StepId, (String, Instant)>,
    done: Vec<(String, Duration)>,
}

impl<'a> StepTimer<'a> {
    /// Time the steps reported to `inner`.
    pub fn new(inner: &'a dyn Reporter) -> Self {
        StepTimer {
            inner,
            state: Mutex::new(Timing::default()),
            calls_before: crate::guest::calls::snapshot(),
        }
    }

    /// The libguestfs calls made since the timer was made, by name.
    pub fn guestfs_calls(&self) -> BTreeMap<String, u64> {
        crate::guest::calls::since(&self.calls_before)
    }

    /// The finished steps, in the order they ended, with the bytes each
    /// system preparation task freed.
    pub fn rows(&self, tasks: &[TaskOutcome]) -> Vec<Row> {
        let done = self
            .state
            .lock()
            .map(|s| s.done.clone())
            .unwrap_or_default();
        done.into_iter()
            .map(|(step, time)| {
                // Task steps are titled `(i/N) message`.
                let message = step.split_once(") ").map_or("", |(_, m)| m);
                let bytes_freed = step
                    .starts_with('(')
                    .then(|| tasks.iter().find(|t| t.message == message).map(|t| t.freed))
                    .flatten();
                Row {
                    step,
                    seconds: time.as_secs_f64(),
                    bytes_freed,
                    size_delta: bytes_freed.map(|b| -b),
                }
            })
            .collect()
    }
}

impl Reporter for StepTimer<'_> {
    fn emit(&self, event: Event) {
        if let Ok(mut st) = self.state.lock() {
            match &event {
                Event::Begin { id, title, .. } => {
                    st.open.insert(*id, (title.clone(), Instant::now()));
                }
                Event::End { id, .. } => {
                    if let Some((title, start)) = st.open.remove(id) {
                        st.done.push((title, start.elapsed()));
                    }
                }
                _ => {}
            }
        }
        self.inner.emit(event);
    }
}

/// The report as a table: step, time, bytes freed, a total line, and the
/// number of libguestfs calls the run made.
pub fn table(rows: &[Row], calls: &BTreeMap<String, u64>) -> String {
    let width = rows.iter().map(|r| r.step.len()).max().unwrap_or(4).max(4);
    let mut text = format!("{:<width$}  {:>8}  {:>11}\n", "STEP", "TIME", "FREED");
    for r in rows {
        let bytes = r.bytes_freed.map_or_else(|| "-".to_owned(), human_bytes);
        text.push_str(&format!(
            "{:<width$}  {:>7.1}s  {bytes:>11}\n",
            r.step, r.seconds
        ));
    }
    let seconds: f64 = rows.iter().map(|r| r.seconds).sum();
    let freed: i64 = rows.iter().filter_map(|r| r.bytes_freed).sum();
    text.push_str(&format!(
        "{:<width$}  {seconds:>7.1}s  {:>11}\n",
        "TOTAL",
        human_bytes(freed)
    ));
    text.push_str(&format!("guestfs calls: {}\n", calls.values().sum::<u64>()));
    text
}

/// The report as a table from its JSON (as the store keeps it): step,
/// time, size change, then how preparation changed the packages.
pub fn table_of(report: &serde_json::Value) -> String {
    let steps = report["steps"].as_array().cloned().unwrap_or_default();
    let name = |r: &serde_json::Value| r["step"].as_str().unwrap_or("?").to_owned();
    let width = steps
        .iter()
        .map(|r| name(r).len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut text = format!("{:<width$}  {:>8}  {:>12}\n", "STEP", "TIME", "SIZE");
    for r in &steps {
        let size = r["size_delta"]
            .as_i64()
            .map_or_else(|| "-".to_owned(), signed_bytes);
        let secs = r["seconds"].as_f64().unwrap_or(0.0);
        text.push_str(&format!("{:<width$}  {secs:>7.1}s  {size:>12}\n", name(r)));
    }
    let secs = report["seconds"].as_f64().unwrap_or(0.0);
    let size = -report["bytes_freed"].as_i64().unwrap_or(0);
    text.push_str(&format!(
        "{:<width$}  {secs:>7.1}s  {:>12}\n",
        "TOTAL",
        signed_bytes(size)
    ));
    let p = &report["packages"];
    if let Some(after) = p["after"].as_u64() {
        let n = |k: &str| p[k].as_array().map_or(0, Vec::len);
        text.push_str(&format!(
            "packages: {after} (system preparation: +{} -{} ~{})\n",
            n("added"),
            n("removed"),
            n("changed")
        ));
    }
    text
}

/// `+1.0 KiB`, `-4.0 KiB`.
fn signed_bytes(b: i64) -> String {
    let sign = if b < 0 { '-' } else { '+' };
    format!("{sign}{}", human_bytes(b.abs()))
}

/// The report as JSON, with the libguestfs calls the run made (in all
/// and by name), the secrets the scan found (path and kind), the notes
/// on the image (`not generalized: …`) and, when they were read, how
/// system preparation changed the installed packages.
pub fn json(
    rows: &[Row],
    calls: &BTreeMap<String, u64>,
    secrets: &[Finding],
    notes: &[String],
    packages: Option<serde_json::Value>,
) -> serde_json::Value {
    let freed: i64 = rows.iter().filter_map(|r| r.bytes_freed).sum();
    let seconds: f64 = rows.iter().map(|r| r.seconds).sum();
    let value = serde_json::json!({
        "steps": rows,
        "seconds": seconds,
        "bytes_freed": freed,
        "guestfs_calls": calls.values().sum::<u64>(),
        "guestfs_calls_by_name": calls,
        "peak_rss_bytes": peak_rss(),
        "secrets": secrets,
        "notes": notes,
        "packages": packages,
    });
    value
}

/// The most memory this process has held so far (`VmHWM`), in bytes;
/// the helper VM's qemu is a process of its own and not counted.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::{NullReporter, begin_step};

    #[test]
    fn steps_are_timed_and_tasks_get_bytes() {
        let timer = StepTimer::new(&NullReporter);
        begin_step(&timer, "Launching helper VM", None).done("done");
        begin_step(&timer, "(1/1) Removing files under /tmp", None).done("x");
        let task = TaskOutcome {
            name: "cleanup-tmp",
            message: "Removing files under /tmp",
            changes: Vec::new(),
            freed: 4096,
            duration: Duration::ZERO,
        };
        let rows = timer.rows(&[task]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].bytes_freed, None);
        assert_eq!(rows[1].bytes_freed, Some(4096));
        let calls = BTreeMap::from([("exists".to_owned(), 3), ("ls".to_owned(), 2)]);
        let t = table(&rows, &calls);
        assert!(t.starts_with("STEP"), "{t}");
        assert!(
            t.contains("(1/1) Removing files under /tmp") && t.contains("4.0 KiB"),
            "{t}"
        );
        assert!(t.ends_with("\nguestfs calls: 5\n"), "{t}");
        let packages = serde_json::json!({"after": 7, "added": [{"name": "x"}]});
        let v = json(&rows, &calls, &[], &["n".into()], Some(packages));
        let stored = table_of(&v);
        assert!(
            stored.contains("-4.0 KiB") && stored.starts_with("STEP"),
            "{stored}"
        );
        assert!(
            stored.ends_with("packages: 7 (system preparation: +1 -0 ~0)\n"),
            "{stored}"
        );
        assert_eq!(v["guestfs_calls"], 5);
        assert_eq!(v["guestfs_calls_by_name"]["ls"], 2);
        assert!(v["peak_rss_bytes"].as_u64().unwrap() > 1 << 20, "{v}");
        assert_eq!(v["steps"][1]["bytes_freed"], 4096);
        assert_eq!(v["bytes_freed"], 4096);
        assert_eq!(v["secrets"], serde_json::json!([]));
        assert_eq!(v["notes"], serde_json::json!(["n"]));
    }
}
