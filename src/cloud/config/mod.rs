//! Where saved cloud accounts live, read and written as the clouds' own
//! tools do: kamaki's configuration file for Synnefo, `clouds.yaml` for
//! OpenStack, the AWS credentials file (and a file of S3 targets) for S3.
//! [`list`] is the one list of them all that the UI offers.

pub mod clouds_yaml;
pub mod clouds_yaml_write;
pub mod ini;
pub mod kamakirc;
pub mod list;
pub mod s3_targets;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::cloud::error::CloudError;

/// Write a file that holds credentials: mode 0600 from the start, its
/// directory made when missing, written under a temporary name beside it
/// (removed if anything fails) and renamed over the old file.
pub fn write_private(path: &Path, text: &str) -> Result<(), CloudError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(|e| CloudError::io("creating", dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".snf-tmp.")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(|e| CloudError::io("creating a temporary file in", dir, e))?;
    tmp.write_all(text.as_bytes())
        .map_err(|e| CloudError::io("writing", tmp.path(), e))?;
    tmp.persist(path)
        .map_err(|e| CloudError::io("renaming a file to", path, e.error))?;
    Ok(())
}
