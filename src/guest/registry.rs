//! The Windows registry of the guest, read through its hive files.
//!
//! Keys are backslash-separated paths relative to a hive's root; a leading
//! `CurrentControlSet` is resolved through `Select\Current`.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};

use super::appliance::gerr;

/// The hive files under `<systemroot>/System32/config/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Hive {
    System,
    Software,
    Sam,
    Security,
    Default,
}

impl Hive {
    /// The hive's file name.
    pub fn file_name(self) -> &'static str {
        match self {
            Hive::System => "SYSTEM",
            Hive::Software => "SOFTWARE",
            Hive::Sam => "SAM",
            Hive::Security => "SECURITY",
            Hive::Default => "DEFAULT",
        }
    }
}

/// A registry value, by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegValue {
    Sz(String),
    ExpandSz(String),
    MultiSz(Vec<String>),
    Dword(u32),
    Qword(u64),
    Binary(Vec<u8>),
}

/// Read access to the guest's registry.
pub trait Registry {
    /// A value of a key; `None` when the key or the value does not exist.
    fn value(&mut self, hive: Hive, key: &str, name: &str) -> Result<Option<RegValue>>;
    /// The names of a key's subkeys (none when the key does not exist).
    fn subkeys(&mut self, hive: Hive, key: &str) -> Result<Vec<String>>;
    /// The values of a key (none when the key does not exist).
    fn values(&mut self, hive: Hive, key: &str) -> Result<Vec<(String, RegValue)>>;
}

/// The registry of the guest mounted in the helper VM, read with its
/// `hivex_*` calls (one hive open at a time).
pub struct GuestRegistry<'a> {
    g: &'a guestfs::Handle,
    config_dir: String,
    open: Option<Hive>,
}

impl<'a> GuestRegistry<'a> {
    /// The registry whose hives are under `systemroot` (`/Windows`) of the
    /// mounted guest.
    pub fn new(g: &'a guestfs::Handle, systemroot: &str) -> Result<Self> {
        let dir = format!("{systemroot}/System32/config");
        let config_dir = g
            .case_sensitive_path(&dir)
            .map_err(gerr(format!("finding {dir}")))?;
        Ok(GuestRegistry {
            g,
            config_dir,
            open: None,
        })
    }

    fn open(&mut self, hive: Hive) -> Result<()> {
        if self.open == Some(hive) {
            return Ok(());
        }
        if self.open.take().is_some() {
            self.g.hivex_close().map_err(gerr("closing a hive"))?;
        }
        let path = format!("{}/{}", self.config_dir, hive.file_name());
        let path = self
            .g
            .case_sensitive_path(&path)
            .map_err(gerr(format!("finding {path}")))?;
        self.g
            .hivex_open(&path, Default::default())
            .map_err(gerr(format!("opening the registry hive {path}")))?;
        self.open = Some(hive);
        Ok(())
    }

    fn node(&mut self, hive: Hive, key: &str) -> Result<Option<i64>> {
        let key = resolve(self, hive, key)?;
        self.open(hive)?;
        let mut node = self.g.hivex_root().map_err(gerr("reading a hive root"))?;
        for part in key.split('\\').filter(|p| !p.is_empty()) {
            node = self
                .g
                .hivex_node_get_child(node, part)
                .map_err(gerr(format!("reading the key {key}")))?;
            if node == 0 {
                return Ok(None);
            }
        }
        Ok(Some(node))
    }

    fn decode(&self, v: i64) -> Result<RegValue> {
        let t = self
            .g
            .hivex_value_type(v)
            .map_err(gerr("reading a value type"))?;
        let data = self
            .g
            .hivex_value_value(v)
            .map_err(gerr("reading a value"))?;
        decode(t, &data)
    }
}

impl Drop for GuestRegistry<'_> {
    fn drop(&mut self) {
        if self.open.is_some() {
            let _ = self.g.hivex_close();
        }
    }
}

impl Registry for GuestRegistry<'_> {
    fn value(&mut self, hive: Hive, key: &str, name: &str) -> Result<Option<RegValue>> {
        let Some(node) = self.node(hive, key)? else {
            return Ok(None);
        };
        let v = self
            .g
            .hivex_node_get_value(node, name)
            .map_err(gerr(format!("reading {key}\\{name}")))?;
        if v == 0 {
            return Ok(None);
        }
        self.decode(v).map(Some)
    }

    fn subkeys(&mut self, hive: Hive, key: &str) -> Result<Vec<String>> {
        let Some(node) = self.node(hive, key)? else {
            return Ok(Vec::new());
        };
        let children = self
            .g
            .hivex_node_children(node)
            .map_err(gerr(format!("listing {key}")))?;
        children
            .iter()
            .map(|c| {
                self.g
                    .hivex_node_name(c.hivex_node_h)
                    .map_err(gerr(format!("reading a subkey of {key}")))
            })
            .collect()
    }

    fn values(&mut self, hive: Hive, key: &str) -> Result<Vec<(String, RegValue)>> {
        let Some(node) = self.node(hive, key)? else {
            return Ok(Vec::new());
        };
        let values = self
            .g
            .hivex_node_values(node)
            .map_err(gerr(format!("listing the values of {key}")))?;
        let mut out = Vec::new();
        for v in values {
            let name = self
                .g
                .hivex_value_key(v.hivex_value_h)
                .map_err(gerr(format!("reading a value name of {key}")))?;
            out.push((name, self.decode(v.hivex_value_h)?));
        }
        Ok(out)
    }
}

/// A registry value from its type and bytes; types without a variant of
/// their own are `Binary`.
fn decode(t: i64, data: &[u8]) -> Result<RegValue> {
    let utf16 = |d: &[u8]| -> String {
        let units: Vec<u16> = d
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    };
    Ok(match t {
        1 => RegValue::Sz(utf16(data).trim_end_matches('\0').to_owned()),
        2 => RegValue::ExpandSz(utf16(data).trim_end_matches('\0').to_owned()),
        7 => RegValue::MultiSz(
            utf16(data)
                .split('\0')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        4 if data.len() >= 4 => {
            RegValue::Dword(u32::from_le_bytes(data[..4].try_into().context("dword")?))
        }
        11 if data.len() >= 8 => {
            RegValue::Qword(u64::from_le_bytes(data[..8].try_into().context("qword")?))
        }
        4 | 11 => bail!("a registry number of {} bytes", data.len()),
        _ => RegValue::Binary(data.to_vec()),
    })
}

/// `key` with a leading `CurrentControlSet` replaced by the control set
/// `Select\Current` names.
fn resolve(reg: &mut dyn Registry, hive: Hive, key: &str) -> Result<String> {
    let Some(rest) = key.strip_prefix("CurrentControlSet") else {
        return Ok(key.to_owned());
    };
    if hive != Hive::System || !(rest.is_empty() || rest.starts_with('\\')) {
        return Ok(key.to_owned());
    }
    let Some(RegValue::Dword(n)) = reg.value(Hive::System, "Select", "Current")? else {
        bail!("the SYSTEM hive has no Select\\Current value");
    };
    Ok(format!("ControlSet{n:03}{rest}"))
}

/// An in-memory registry for unit tests.
#[derive(Debug, Default, Clone)]
pub struct MemRegistry {
    keys: BTreeMap<(Hive, String), Vec<(String, RegValue)>>,
}

impl MemRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a key (and its parents) with a value.
    pub fn with(mut self, hive: Hive, key: &str, name: &str, value: RegValue) -> Self {
        self = self.key(hive, key);
        let values = self.keys.get_mut(&(hive, key.to_owned())).unwrap();
        values.retain(|(n, _)| n != name);
        values.push((name.to_owned(), value));
        self
    }

    /// Add a key and its parents.
    pub fn key(mut self, hive: Hive, key: &str) -> Self {
        let mut path = String::new();
        for part in key.split('\\') {
            if !path.is_empty() {
                path.push('\\');
            }
            path.push_str(part);
            self.keys.entry((hive, path.clone())).or_default();
        }
        self
    }

    fn lookup(&mut self, hive: Hive, key: &str) -> Result<Option<&Vec<(String, RegValue)>>> {
        let key = resolve(self, hive, key)?;
        Ok(self.keys.get(&(hive, key)))
    }
}

impl Registry for MemRegistry {
    fn value(&mut self, hive: Hive, key: &str, name: &str) -> Result<Option<RegValue>> {
        Ok(self
            .lookup(hive, key)?
            .and_then(|vs| vs.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)))
            .map(|(_, v)| v.clone()))
    }

    fn subkeys(&mut self, hive: Hive, key: &str) -> Result<Vec<String>> {
        let key = resolve(self, hive, key)?;
        let prefix = format!("{key}\\");
        Ok(self
            .keys
            .keys()
            .filter(|(h, k)| *h == hive && k.starts_with(&prefix))
            .map(|(_, k)| &k[prefix.len()..])
            .filter(|rest| !rest.contains('\\'))
            .map(str::to_owned)
            .collect())
    }

    fn values(&mut self, hive: Hive, key: &str) -> Result<Vec<(String, RegValue)>> {
        Ok(self.lookup(hive, key)?.cloned().unwrap_or_default())
    }
}
