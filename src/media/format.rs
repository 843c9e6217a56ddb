//! Disk image formats, as qemu names them. The format is probed once
//! (`qemu-img info`) and passed by its exact qemu name from then on.

use std::fmt;

use serde::Deserialize;

use crate::name_table::{name_of, value_of};

/// A disk image format; [`ImageFormat::as_str`] is qemu's name for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(from = "String")]
pub enum ImageFormat {
    Raw,
    Qcow2,
    Qcow,
    Qed,
    Vmdk,
    Vdi,
    Vhdx,
    /// VirtualPC's VHD.
    Vpc,
    Parallels,
    /// A file a vmdk keeps its data in: read through the vmdk, never
    /// opened by itself.
    VmdkExtent,
    /// A format this product does not know, as qemu named it.
    Other(String),
}

const FORMATS: &[(&str, ImageFormat)] = &[
    ("raw", ImageFormat::Raw),
    ("qcow2", ImageFormat::Qcow2),
    ("qcow", ImageFormat::Qcow),
    ("qed", ImageFormat::Qed),
    ("vmdk", ImageFormat::Vmdk),
    ("vdi", ImageFormat::Vdi),
    ("vhdx", ImageFormat::Vhdx),
    ("vpc", ImageFormat::Vpc),
    ("parallels", ImageFormat::Parallels),
    ("vmdk extent", ImageFormat::VmdkExtent),
];

impl ImageFormat {
    /// The format qemu names `name`.
    pub fn parse(name: &str) -> Self {
        value_of(FORMATS, name).unwrap_or_else(|| ImageFormat::Other(name.to_owned()))
    }

    /// qemu's name of the format (`-f`, `-F`, `--format`).
    pub fn as_str(&self) -> &str {
        match self {
            ImageFormat::Other(name) => name,
            known => name_of(FORMATS, known).unwrap_or(""),
        }
    }

    /// Whether `qemu-img check` can verify the format's metadata.
    pub fn checkable(&self) -> bool {
        matches!(
            self,
            ImageFormat::Qcow2
                | ImageFormat::Qed
                | ImageFormat::Vdi
                | ImageFormat::Vhdx
                | ImageFormat::Parallels
        )
    }
}

impl From<&str> for ImageFormat {
    fn from(name: &str) -> Self {
        Self::parse(name)
    }
}

impl From<String> for ImageFormat {
    fn from(name: String) -> Self {
        Self::parse(&name)
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_names_round_trip() {
        for (name, format) in FORMATS {
            assert_eq!(ImageFormat::parse(name), *format);
            assert_eq!(format.as_str(), *name);
        }
        let dmg = ImageFormat::from("dmg");
        assert_eq!(dmg, ImageFormat::Other("dmg".into()));
        assert_eq!(dmg.to_string(), "dmg");
        assert!(ImageFormat::Qcow2.checkable());
        assert!(!ImageFormat::Raw.checkable() && !ImageFormat::Vpc.checkable());
    }

    #[test]
    fn parsed_from_qemu_json() {
        let f: ImageFormat = serde_json::from_str(r#""vhdx""#).unwrap();
        assert_eq!(f, ImageFormat::Vhdx);
    }
}
