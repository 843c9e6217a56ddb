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
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::cloud::error::CloudError;

/// Write a file that holds credentials: mode 0600, its directory made
/// when missing, the old file replaced atomically.
pub fn write_private(path: &Path, text: &str) -> Result<(), CloudError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| CloudError::io("creating", dir, e))?;
    }
    let tmp = path.with_extension("snf-tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| CloudError::io("creating", &tmp, e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| CloudError::io("writing", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| CloudError::io("renaming a file to", path, e))
}
