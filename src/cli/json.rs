//! The JSON documents `--json` prints on standard output. Each is one
//! object whose key says what it is: `metadata`, `syspreps`,
//! `sysprep_params`, `dry_run` (the listings, built by the pipeline beside
//! their text), `outcome`, `images`, `accounts`, `checks`. The README's
//! "JSON output" section documents them.

use serde_json::{Value, json};

use crate::cloud::RemoteImage;
use crate::pipeline::Outcome;
use crate::pipeline::doctor::Check;

/// One document on standard output, pretty-printed.
pub fn print(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// `{"metadata": {KEY: VALUE…}}`.
pub fn metadata(meta: &[(String, String)]) -> Value {
    let map: serde_json::Map<String, Value> = (meta.iter())
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    json!({ "metadata": map })
}

/// What a run produced: the files written (image first), the image's
/// size and checksums, the report, the registered image.
pub fn outcome(outcome: &Outcome) -> Value {
    let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
    let files: Vec<String> = outcome.written.iter().map(|p| path(p)).collect();
    let report = (outcome.written.iter())
        .find(|p| p.to_string_lossy().ends_with(".report.json"))
        .map(|p| path(p));
    let digests = outcome.digests.as_ref();
    json!({ "outcome": {
        "source": path(&outcome.source.path),
        "image": files.first(),
        "files": files,
        "size": outcome.size,
        "md5": digests.map(|d| &d.md5),
        "sha256": digests.map(|d| &d.sha256),
        "report": report,
        "metadata": outcome.metadata,
        "unsupported": outcome.unsupported,
        "not_generalized": outcome.not_generalized,
        "secrets": outcome.secrets.len(),
        "registered": outcome.image,
    }})
}

/// `{"images": [...]}`: the images of a cloud, as `images show` shows one.
pub fn images(images: &[RemoteImage]) -> Value {
    json!({ "images": images })
}

/// `{"checks": [{"name", "ok", "found", "fix"}…], "problems": N}`.
pub fn checks(checks: &[Check]) -> Value {
    let rows: Vec<Value> = (checks.iter())
        .map(|c| json!({ "name": c.name, "ok": c.fix.is_none(), "found": c.found, "fix": c.fix }))
        .collect();
    let problems = checks.iter().filter(|c| c.fix.is_some()).count();
    json!({ "checks": rows, "problems": problems })
}
