//! `qemu-img` as a library: image information, consistency checks and
//! overlays. Parsers are pure functions tested on captured output.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::ImageFormat;
use crate::process::{CommandExt, command_line};

/// What `qemu-img info` says of an image.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ImageInfo {
    /// The image's format, as qemu probed it.
    pub format: ImageFormat,
    #[serde(rename = "virtual-size")]
    pub virtual_size: u64,
    #[serde(rename = "actual-size", default)]
    pub actual_size: Option<u64>,
    #[serde(rename = "backing-filename", default)]
    pub backing_filename: Option<String>,
    /// The backing file's format as recorded in the image, if it is.
    #[serde(rename = "backing-filename-format", default)]
    pub backing_format: Option<ImageFormat>,
    #[serde(rename = "format-specific", default)]
    pub format_specific: Option<FormatSpecific>,
}

/// The part of `format-specific` that matters to us.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct FormatSpecific {
    #[serde(default)]
    pub data: FormatData,
}

/// Format-specific fields (qcow2's external data file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct FormatData {
    #[serde(rename = "data-file", default)]
    pub data_file: Option<String>,
    /// The files a vmdk keeps its data in (itself, or others).
    #[serde(default)]
    pub extents: Vec<Extent>,
}

/// One vmdk extent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Extent {
    #[serde(default)]
    pub filename: String,
}

impl ImageInfo {
    /// The external data file the image keeps its data in (qcow2), if any.
    pub fn data_file(&self) -> Option<&str> {
        self.format_specific.as_ref()?.data.data_file.as_deref()
    }

    /// The files a vmdk's descriptor names for its data.
    pub fn extents(&self) -> impl Iterator<Item = &str> {
        let data = self.format_specific.as_ref().map(|f| &f.data);
        data.into_iter()
            .flat_map(|d| d.extents.iter().map(|e| e.filename.as_str()))
    }
}

/// Parse `qemu-img info --output=json`.
pub fn parse_info(json: &str) -> Result<ImageInfo> {
    serde_json::from_str(json).context("parsing `qemu-img info` output")
}

/// Run `qemu-img info` on an image, letting qemu detect the format. This is
/// the only place the format is probed; everything after passes it. qemu
/// does not open the backing file.
pub fn info(path: &Path) -> Result<ImageInfo> {
    run_info(path, None)
}

/// `qemu-img info` on an image of a known format.
pub fn info_as(path: &Path, format: &ImageFormat) -> Result<ImageInfo> {
    run_info(path, Some(format))
}

fn run_info(path: &Path, format: Option<&ImageFormat>) -> Result<ImageInfo> {
    let mut cmd = Command::new("qemu-img");
    cmd.args(["info", "--output=json"]);
    if let Some(f) = format {
        cmd.args(["-f", f.as_str()]);
    }
    let out = cmd.arg(path).run_capture()?;
    parse_info(&out).with_context(|| format!("reading the format of {}", path.display()))
}

/// The result of `qemu-img check --output=json` that matters to us.
#[derive(Debug, Default, Deserialize)]
struct CheckReport {
    #[serde(default)]
    corruptions: u64,
    #[serde(rename = "check-errors", default)]
    check_errors: u64,
}

/// Verify the metadata of an image whose format can be checked, so that a
/// truncated or damaged file is refused before the helper VM trips over it.
/// Leaked clusters (exit code 3) are harmless and accepted.
pub fn check(path: &Path, format: &ImageFormat) -> Result<()> {
    if !format.checkable() {
        return Ok(());
    }
    let mut cmd = Command::new("qemu-img");
    cmd.args(["check", "--output=json", "-f", format.as_str()])
        .arg(path);
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("running `{}`", command_line(&cmd)))?;
    let report: CheckReport = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let damaged = report.corruptions + report.check_errors;
    match out.status.code() {
        Some(0 | 3) if damaged == 0 => Ok(()),
        Some(2) | Some(0 | 3) => bail!(
            "{} is a damaged {format} image ({damaged} errors in its metadata; is it truncated?)",
            path.display()
        ),
        _ => bail!(
            "cannot check {} as a {format} image: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

/// Create a qcow2 overlay at `overlay` whose backing file is `backing`
/// (absolute) with the backing format given explicitly.
pub fn create_overlay(backing: &Path, format: &ImageFormat, overlay: &Path) -> Result<()> {
    let backing =
        std::path::absolute(backing).with_context(|| format!("resolving {}", backing.display()))?;
    Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", format.as_str(), "-b"])
        .arg(&backing)
        .arg(overlay)
        .run_checked()
        .with_context(|| format!("creating an overlay of {}", backing.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = r#"{
        "children": [],
        "virtual-size": 1073741824,
        "filename": "q.qcow2",
        "cluster-size": 65536,
        "format": "qcow2",
        "actual-size": 210042880,
        "dirty-flag": false
    }"#;

    #[test]
    fn parses_info() {
        let info = parse_info(INFO).unwrap();
        assert_eq!(info.format, ImageFormat::Qcow2);
        assert_eq!(info.virtual_size, 1 << 30);
        assert_eq!(info.actual_size, Some(210042880));
    }

    #[test]
    fn overlay_and_check_on_real_images() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.qcow2");
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&base)
            .arg("16M")
            .run_checked()
            .unwrap();
        check(&base, &ImageFormat::Qcow2).unwrap();
        let ov = dir.path().join("ov.qcow2");
        create_overlay(&base, &ImageFormat::Qcow2, &ov).unwrap();
        let info = info(&ov).unwrap();
        assert_eq!(info.virtual_size, 16 << 20);
        assert_eq!(info.backing_filename.as_deref(), base.to_str());

        // Cut the image short: its metadata now points past its end.
        let data = dir.path().join("data.qcow2");
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&data)
            .arg("64M")
            .run_checked()
            .unwrap();
        Command::new("qemu-io")
            .args(["-f", "qcow2", "-c", "write -P 0xab 0 8M"])
            .arg(&data)
            .run_checked()
            .unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&data).unwrap();
        f.set_len(1 << 20).unwrap();
        let err = check(&data, &ImageFormat::Qcow2).unwrap_err().to_string();
        assert!(err.contains("damaged qcow2 image"), "{err}");
    }
}
