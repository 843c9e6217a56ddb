//! An in-memory registry for unit tests: keys by hive and path (compared
//! without case, as Windows does), values in insertion order.

use std::collections::BTreeMap;

use anyhow::Result;

use super::{Hive, RegValue, Registry, resolve_key};

#[derive(Debug, Clone, Default)]
struct Key {
    /// The path as first written (its case kept).
    path: Vec<String>,
    values: Vec<(String, RegValue)>,
}

/// A registry held in memory. [`MemRegistry::commit`] counts commits.
#[derive(Debug, Clone, Default)]
pub struct MemRegistry {
    keys: BTreeMap<(Hive, String), Key>,
    pub commits: usize,
}

impl MemRegistry {
    /// An empty registry with `Select\Current` = 1 in SYSTEM.
    pub fn new() -> Self {
        MemRegistry::default().with(Hive::System, "Select", "Current", RegValue::Dword(1))
    }

    /// Builder form of [`Registry::set_value`].
    pub fn with(mut self, hive: Hive, key: &str, name: &str, value: RegValue) -> Self {
        self.set_value(hive, key, name, &value)
            .expect("a test registry key resolves");
        self
    }

    fn resolve(&self, hive: Hive, key: &str) -> Result<Vec<String>> {
        resolve_key(hive, key, || {
            Ok(self
                .key(hive, &["Select".to_owned()])
                .and_then(|k| find(&k.values, "Current")))
        })
    }

    fn key(&self, hive: Hive, parts: &[String]) -> Option<&Key> {
        self.keys.get(&(hive, lower(parts)))
    }
}

fn lower(parts: &[String]) -> String {
    parts.join("\\").to_ascii_lowercase()
}

fn find(values: &[(String, RegValue)], name: &str) -> Option<RegValue> {
    values
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

impl Registry for MemRegistry {
    fn value(&mut self, hive: Hive, key: &str, name: &str) -> Result<Option<RegValue>> {
        let parts = self.resolve(hive, key)?;
        Ok(self.key(hive, &parts).and_then(|k| find(&k.values, name)))
    }

    fn subkeys(&mut self, hive: Hive, key: &str) -> Result<Vec<String>> {
        let parts = self.resolve(hive, key)?;
        Ok(self
            .keys
            .iter()
            .filter(|((h, _), k)| {
                *h == hive
                    && k.path.len() == parts.len() + 1
                    && lower(&k.path[..parts.len()]) == lower(&parts)
            })
            .map(|(_, k)| k.path[parts.len()].clone())
            .collect())
    }

    fn values(&mut self, hive: Hive, key: &str) -> Result<Vec<(String, RegValue)>> {
        let parts = self.resolve(hive, key)?;
        Ok(self
            .key(hive, &parts)
            .map(|k| k.values.clone())
            .unwrap_or_default())
    }

    fn has_key(&mut self, hive: Hive, key: &str) -> Result<bool> {
        let parts = self.resolve(hive, key)?;
        Ok(parts.is_empty() || self.key(hive, &parts).is_some())
    }

    fn set_value(&mut self, hive: Hive, key: &str, name: &str, value: &RegValue) -> Result<()> {
        let parts = self.resolve(hive, key)?;
        for n in 1..=parts.len() {
            self.keys
                .entry((hive, lower(&parts[..n])))
                .or_insert_with(|| Key {
                    path: parts[..n].to_vec(),
                    values: Vec::new(),
                });
        }
        let k = self.keys.entry((hive, lower(&parts))).or_default();
        match k
            .values
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some((_, v)) => *v = value.clone(),
            None => k.values.push((name.to_owned(), value.clone())),
        }
        Ok(())
    }

    fn delete_key(&mut self, hive: Hive, key: &str) -> Result<()> {
        let parts = self.resolve(hive, key)?;
        let prefix = lower(&parts);
        let below = format!("{prefix}\\");
        self.keys
            .retain(|(h, p), _| *h != hive || (*p != prefix && !p.starts_with(&below)));
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        self.commits += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_values_and_the_current_control_set() {
        let mut r = MemRegistry::new()
            .with(
                Hive::System,
                "ControlSet001\\Services\\Tcpip6\\Parameters",
                "X",
                RegValue::Dword(3),
            )
            .with(
                Hive::System,
                "ControlSet001\\Services\\viostor",
                "Start",
                RegValue::Dword(0),
            );
        let v = r
            .value(
                Hive::System,
                "currentcontrolset\\services\\TCPIP6\\parameters",
                "x",
            )
            .unwrap();
        assert_eq!(v, Some(RegValue::Dword(3)));
        let mut subs = r
            .subkeys(Hive::System, "CurrentControlSet\\Services")
            .unwrap();
        subs.sort();
        assert_eq!(subs, ["Tcpip6", "viostor"]);
        assert!(
            r.has_key(Hive::System, "ControlSet001\\Services\\Tcpip6")
                .unwrap()
        );
        r.delete_key(Hive::System, "CurrentControlSet\\Services\\Tcpip6")
            .unwrap();
        assert!(
            !r.has_key(Hive::System, "ControlSet001\\Services\\Tcpip6\\Parameters")
                .unwrap()
        );
        assert_eq!(
            r.subkeys(Hive::System, "ControlSet001\\Services").unwrap(),
            ["viostor"]
        );
        assert_eq!(r.value(Hive::Software, "Nope", "x").unwrap(), None);
    }
}
