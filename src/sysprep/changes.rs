//! What the tasks did or would do, as data: the planned changes with the
//! bytes each frees, and their text and JSON renderings for `--dry-run`.

use serde::Serialize;

use super::TaskOutcome;

/// One change with its effect on the guest's size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Planned {
    /// `delete`, `truncate` or `write`.
    pub action: &'static str,
    pub path: String,
    /// Bytes freed (negative when the file grows).
    pub bytes: i64,
}

/// `1.5 MiB`, `12 KiB`, `300 B` (negative numbers keep their sign).
pub fn human_bytes(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    let a = n.unsigned_abs() as f64;
    if a >= (1u64 << 30) as f64 {
        format!("{sign}{:.1} GiB", a / (1u64 << 30) as f64)
    } else if a >= (1 << 20) as f64 {
        format!("{sign}{:.1} MiB", a / (1 << 20) as f64)
    } else if a >= 1024.0 {
        format!("{sign}{:.1} KiB", a / 1024.0)
    } else {
        format!("{sign}{} B", a as u64)
    }
}

/// The short result after a task's `(i/N) message ...`.
pub fn summary(outcome: &TaskOutcome, dry_run: bool) -> String {
    let n = outcome.changes.len();
    if n == 0 {
        return "nothing to do".into();
    }
    let verb = if dry_run { "would change" } else { "changed" };
    let noun = if n == 1 { "file" } else { "files" };
    format!("{verb} {n} {noun}, {} freed", human_bytes(outcome.freed))
}

/// The dry-run listing: per task, each change and the bytes it frees.
pub fn dry_run_text(outcomes: &[TaskOutcome]) -> String {
    let mut text = String::from("System preparation (dry run: nothing was changed):\n");
    let mut total = 0;
    for o in outcomes {
        text.push_str(&format!(
            "\n{} ({}, {} freed):\n",
            o.name,
            o.message,
            human_bytes(o.freed)
        ));
        if o.changes.is_empty() {
            text.push_str("    (nothing to do)\n");
        }
        for c in &o.changes {
            text.push_str(&format!(
                "    {:<8} {:>10}  {}\n",
                c.action,
                human_bytes(c.bytes),
                c.path
            ));
        }
        total += o.freed;
    }
    text.push_str(&format!("\nTotal: {} freed\n", human_bytes(total)));
    text
}

#[derive(Serialize)]
struct JsonTask<'a> {
    name: &'a str,
    message: &'a str,
    bytes_freed: i64,
    changes: &'a [Planned],
}

/// The dry-run listing as data: `{"dry_run": true, "tasks": [...], "bytes_freed": N}`.
pub fn dry_run_json(outcomes: &[TaskOutcome]) -> serde_json::Value {
    let tasks: Vec<JsonTask> = outcomes
        .iter()
        .map(|o| JsonTask {
            name: o.name,
            message: o.message,
            bytes_freed: o.freed,
            changes: &o.changes,
        })
        .collect();
    let total: i64 = outcomes.iter().map(|o| o.freed).sum();
    serde_json::json!({ "dry_run": true, "tasks": tasks, "bytes_freed": total })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn outcome() -> TaskOutcome {
        TaskOutcome {
            name: "cleanup-tmp",
            message: "Removing files under /tmp and /var/tmp",
            changes: vec![Planned {
                action: "delete",
                path: "/tmp/x".into(),
                bytes: 2048,
            }],
            freed: 2048,
            duration: Duration::from_millis(5),
        }
    }

    #[test]
    fn renderings() {
        assert_eq!(human_bytes(300), "300 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(-3 << 20), "-3.0 MiB");
        assert_eq!(
            summary(&outcome(), true),
            "would change 1 file, 2.0 KiB freed"
        );
        let text = dry_run_text(&[outcome()]);
        assert!(text.contains("cleanup-tmp (Removing files"), "{text}");
        assert!(text.contains("delete      2.0 KiB  /tmp/x"), "{text}");
        let v = dry_run_json(&[outcome()]);
        assert_eq!(v["tasks"][0]["changes"][0]["path"], "/tmp/x");
        assert_eq!(v["bytes_freed"], 2048);
    }
}
