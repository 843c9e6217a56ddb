//! The Windows registry of the mounted guest: its hives as typed values.
//!
//! [`Registry`] is what metadata collection and the Windows tasks read and
//! write. Keys are backslash-separated and relative to the hive's root; a
//! leading `CurrentControlSet` is resolved through `Select\Current` (to
//! `ControlSet001`…) the way Windows does at boot. [`hivex::HiveFiles`]
//! implements it over the helper VM's guestfs `hivex_*` calls on the hive
//! files under `<systemroot>/System32/config`; [`mem::MemRegistry`] holds
//! keys in memory for unit tests.

pub mod hivex;
#[cfg(any(test, feature = "test-util"))]
pub mod mem;

use anyhow::{Result, bail};

/// A registry hive file under `<systemroot>/System32/config/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Hive {
    System,
    Software,
    Sam,
    Security,
    /// The profile new users start from (`HKU\.DEFAULT`).
    Default,
}

impl Hive {
    /// The hive's file name under `System32/config`.
    pub fn file_name(self) -> &'static str {
        match self {
            Hive::System => "SYSTEM",
            Hive::Software => "SOFTWARE",
            Hive::Sam => "SAM",
            Hive::Security => "SECURITY",
            Hive::Default => "DEFAULT",
        }
    }

    /// How Windows names the hive's root (`HKLM\SYSTEM`).
    pub fn root_name(self) -> &'static str {
        match self {
            Hive::System => "HKLM\\SYSTEM",
            Hive::Software => "HKLM\\SOFTWARE",
            Hive::Sam => "HKLM\\SAM",
            Hive::Security => "HKLM\\SECURITY",
            Hive::Default => "HKU\\.DEFAULT",
        }
    }
}

/// A registry value with its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegValue {
    Sz(String),
    ExpandSz(String),
    MultiSz(Vec<String>),
    Dword(u32),
    Qword(u64),
    Binary(Vec<u8>),
}

const REG_SZ: i64 = 1;
const REG_EXPAND_SZ: i64 = 2;
const REG_BINARY: i64 = 3;
const REG_DWORD: i64 = 4;
const REG_MULTI_SZ: i64 = 7;
const REG_QWORD: i64 = 11;

impl RegValue {
    /// The registry type number (`REG_DWORD` is 4).
    pub fn type_code(&self) -> i64 {
        match self {
            RegValue::Sz(_) => REG_SZ,
            RegValue::ExpandSz(_) => REG_EXPAND_SZ,
            RegValue::MultiSz(_) => REG_MULTI_SZ,
            RegValue::Dword(_) => REG_DWORD,
            RegValue::Qword(_) => REG_QWORD,
            RegValue::Binary(_) => REG_BINARY,
        }
    }

    /// The bytes stored in the hive (strings as NUL-terminated UTF-16LE).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            RegValue::Sz(s) | RegValue::ExpandSz(s) => utf16z(s),
            RegValue::MultiSz(list) => {
                let mut out: Vec<u8> = list.iter().flat_map(|s| utf16z(s)).collect();
                out.extend([0, 0]);
                out
            }
            RegValue::Dword(n) => n.to_le_bytes().to_vec(),
            RegValue::Qword(n) => n.to_le_bytes().to_vec(),
            RegValue::Binary(b) => b.clone(),
        }
    }

    /// Decode a value read from a hive. Types this product does not use
    /// (and DWORDs of the wrong length) come back as [`RegValue::Binary`].
    pub fn from_raw(type_code: i64, data: &[u8]) -> RegValue {
        match type_code {
            REG_SZ => RegValue::Sz(first_string(data)),
            REG_EXPAND_SZ => RegValue::ExpandSz(first_string(data)),
            REG_MULTI_SZ => RegValue::MultiSz(strings(data)),
            REG_DWORD if data.len() == 4 => {
                RegValue::Dword(u32::from_le_bytes([data[0], data[1], data[2], data[3]]))
            }
            REG_QWORD if data.len() == 8 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(data);
                RegValue::Qword(u64::from_le_bytes(b))
            }
            _ => RegValue::Binary(data.to_vec()),
        }
    }

    /// The number of a DWORD or QWORD value.
    pub fn as_number(&self) -> Option<u64> {
        match self {
            RegValue::Dword(n) => Some(u64::from(*n)),
            RegValue::Qword(n) => Some(*n),
            _ => None,
        }
    }

    /// The text of a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            RegValue::Sz(s) | RegValue::ExpandSz(s) => Some(s),
            _ => None,
        }
    }
}

impl std::fmt::Display for RegValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegValue::Sz(s) => write!(f, "REG_SZ {s:?}"),
            RegValue::ExpandSz(s) => write!(f, "REG_EXPAND_SZ {s:?}"),
            RegValue::MultiSz(l) => write!(f, "REG_MULTI_SZ {l:?}"),
            RegValue::Dword(n) => write!(f, "REG_DWORD {n:#x}"),
            RegValue::Qword(n) => write!(f, "REG_QWORD {n:#x}"),
            RegValue::Binary(b) => write!(f, "REG_BINARY ({} bytes)", b.len()),
        }
    }
}

fn utf16z(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain([0])
        .flat_map(|u| u.to_le_bytes())
        .collect()
}

fn strings(data: &[u8]) -> Vec<String> {
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    units
        .split(|u| *u == 0)
        .take_while(|s| !s.is_empty())
        .map(String::from_utf16_lossy)
        .collect()
}

fn first_string(data: &[u8]) -> String {
    strings(data).into_iter().next().unwrap_or_default()
}

/// Read and write access to the guest's registry. Reading a key that does
/// not exist gives `None` or an empty list; writing creates missing keys.
/// Writes reach the hive files at [`Registry::commit`] at the latest.
pub trait Registry {
    /// One value of a key, or `None` when the key or the value is missing.
    fn value(&mut self, hive: Hive, key: &str, name: &str) -> Result<Option<RegValue>>;
    /// The names of a key's subkeys (empty when the key is missing).
    fn subkeys(&mut self, hive: Hive, key: &str) -> Result<Vec<String>>;
    /// A key's values with their names (empty when the key is missing).
    fn values(&mut self, hive: Hive, key: &str) -> Result<Vec<(String, RegValue)>>;
    /// Whether the key exists.
    fn has_key(&mut self, hive: Hive, key: &str) -> Result<bool>;
    /// Set (create or replace) a value, creating the key and its parents.
    fn set_value(&mut self, hive: Hive, key: &str, name: &str, value: &RegValue) -> Result<()>;
    /// Remove a key and everything below it (nothing when it is missing).
    fn delete_key(&mut self, hive: Hive, key: &str) -> Result<()>;
    /// Write the changes made so far to the hive files.
    fn commit(&mut self) -> Result<()>;
}

/// The components of `key` with a leading `CurrentControlSet` replaced by
/// the control set `current` names (`Select\Current` of SYSTEM).
pub fn resolve_key(
    hive: Hive,
    key: &str,
    current: impl FnOnce() -> Result<Option<RegValue>>,
) -> Result<Vec<String>> {
    let mut parts: Vec<String> = key
        .split('\\')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let is_ccs = parts
        .first()
        .is_some_and(|p| p.eq_ignore_ascii_case("CurrentControlSet"));
    if hive == Hive::System && is_ccs {
        let Some(n) = current()?.and_then(|v| v.as_number()) else {
            bail!("SYSTEM has no Select\\Current value: cannot resolve {key}");
        };
        parts[0] = format!("ControlSet{n:03}");
    }
    Ok(parts)
}

/// `HKLM\SYSTEM\ControlSet001\…\name`, for messages and listings.
pub fn display_path(hive: Hive, key: &str, name: Option<&str>) -> String {
    let mut out = format!("{}\\{}", hive.root_name(), key.trim_matches('\\'));
    if let Some(name) = name {
        out.push('\\');
        out.push_str(if name.is_empty() { "(default)" } else { name });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_their_bytes() {
        let all = [
            RegValue::Sz("C:\\Windows".into()),
            RegValue::ExpandSz("%SystemRoot%\\inf".into()),
            RegValue::MultiSz(vec!["a".into(), "bc".into()]),
            RegValue::Dword(0xdead_beef),
            RegValue::Qword(1 << 40),
            RegValue::Binary(vec![1, 2, 3]),
        ];
        for v in all {
            assert_eq!(RegValue::from_raw(v.type_code(), &v.to_bytes()), v);
        }
        assert_eq!(RegValue::Dword(1).to_bytes(), [1, 0, 0, 0]);
        assert_eq!(RegValue::Sz("A".into()).to_bytes(), [b'A', 0, 0, 0]);
        assert_eq!(RegValue::from_raw(4, &[1]), RegValue::Binary(vec![1]));
    }

    #[test]
    fn current_control_set_is_resolved_in_system_only() {
        let two = || Ok(Some(RegValue::Dword(2)));
        let parts = resolve_key(Hive::System, "CurrentControlSet\\Services\\x", two).unwrap();
        assert_eq!(parts, ["ControlSet002", "Services", "x"]);
        let parts = resolve_key(Hive::Software, "CurrentControlSet", two).unwrap();
        assert_eq!(parts, ["CurrentControlSet"]);
        let err = resolve_key(Hive::System, "CurrentControlSet", || Ok(None)).unwrap_err();
        assert!(err.to_string().contains("Select\\Current"), "{err}");
        assert_eq!(
            display_path(Hive::System, "Select", Some("Current")),
            "HKLM\\SYSTEM\\Select\\Current"
        );
    }
}
