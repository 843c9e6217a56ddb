//! Windows guests: what the product learns of them beyond inspection (the
//! architecture and NT version drivers are chosen by, the accounts and
//! remote desktop settings of the metadata), and the state a Windows disk
//! must be in before anything is written to it ([`preconditions`]).

mod ntfs;
pub mod preconditions;

use std::fmt;

/// The processor architecture of a Windows guest, as inspection reads it
/// from the system binaries; what VirtIO driver selection matches the INF
/// decorations (`NTx86`, `NTamd64`) against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WinArch {
    X86,
    Amd64,
}

impl WinArch {
    /// The architecture of libguestfs's name for it (`i386`, `x86_64`…);
    /// `None` for one Windows drivers are not made for here (arm64…).
    pub fn parse(inspection_arch: &str) -> Option<WinArch> {
        match inspection_arch {
            "i386" | "i486" | "i586" | "i686" | "x86" => Some(WinArch::X86),
            "x86_64" | "amd64" => Some(WinArch::Amd64),
            _ => None,
        }
    }

    /// Windows's name (`x86`, `amd64`), as driver folders and INF
    /// decorations spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            WinArch::X86 => "x86",
            WinArch::Amd64 => "amd64",
        }
    }
}

impl fmt::Display for WinArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An NT kernel version (6.1 is Windows 7 and Server 2008 R2, 6.3 is 8.1
/// and Server 2012 R2, 10.0 is 10, 11 and Server 2016 and later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NtVersion {
    pub major: u32,
    pub minor: u32,
}

impl NtVersion {
    /// The version inspection reported (negative numbers, which it uses
    /// for "unknown", read as 0).
    pub fn new(major: i32, minor: i32) -> Self {
        NtVersion {
            major: u32::try_from(major).unwrap_or(0),
            minor: u32::try_from(minor).unwrap_or(0),
        }
    }
}

impl fmt::Display for NtVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// What the product knows of a Windows guest besides its image properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowsFacts {
    /// `None` when inspection named an architecture Windows drivers are
    /// not chosen for here.
    pub arch: Option<WinArch>,
    pub nt: NtVersion,
    /// The build number (`CurrentBuildNumber`), when the registry has it.
    pub build: Option<u32>,
    /// The active local accounts, by RID (built-in Guest and
    /// DefaultAccount left out).
    pub users: Vec<String>,
    /// The remote desktop port, when remote desktop connections are allowed.
    pub rdp_port: Option<u16>,
}
