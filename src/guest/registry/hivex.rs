//! The registry of the guest mounted in the helper VM, through guestfs's
//! `hivex_*` calls: one hive open at a time, reopened for writing on the
//! first change and written back at [`Registry::commit`].

use std::cell::{Cell, RefCell};

use anyhow::{Context, Result, bail};

use super::{Hive, RegValue, Registry, resolve_key};
use crate::guest::appliance::{Appliance, gerr};

/// Which hive the helper VM has open. Unmounting the guest closes it
/// ([`Appliance::release_hive`]), so it lives in cells the `&self`
/// unmount can reach.
#[derive(Debug, Default)]
pub struct HiveState {
    /// `/Windows/System32/config` as the guest spells it.
    config_dir: RefCell<Option<String>>,
    open: Cell<Option<(Hive, bool)>>,
    dirty: Cell<bool>,
}

impl Appliance {
    fn config_dir(&self) -> Result<String> {
        if let Some(dir) = self.hives.config_dir.borrow().as_ref() {
            return Ok(dir.clone());
        }
        let dir = self
            .handle()
            .case_sensitive_path("/windows/system32/config")
            .map_err(gerr("finding the registry hives (Windows/System32/config)"))?;
        *self.hives.config_dir.borrow_mut() = Some(dir.clone());
        Ok(dir)
    }

    /// Write the open hive's changes, if any, and close it: done before
    /// the guest is unmounted.
    pub(crate) fn release_hive(&self) -> Result<()> {
        self.hives.config_dir.replace(None);
        let Some((hive, _)) = self.hives.open.take() else {
            return Ok(());
        };
        let g = self.handle();
        if self.hives.dirty.take() {
            g.hivex_commit(None)
                .map_err(gerr(format!("writing the {} hive", hive.file_name())))?;
        }
        g.hivex_close()
            .map_err(gerr(format!("closing the {} hive", hive.file_name())))
            .context("registry")
    }

    /// Open `hive` (for writing when `write`), returning its root node.
    fn open_hive(&mut self, hive: Hive, write: bool) -> Result<i64> {
        let current = self.hives.open.get();
        if current != Some((hive, true)) && current != Some((hive, write)) {
            self.release_hive()?;
            let dir = self.config_dir()?;
            let path = self
                .handle()
                .case_sensitive_path(&format!("{dir}/{}", hive.file_name()))
                .map_err(gerr(format!("finding the {} hive", hive.file_name())))?;
            let opts = guestfs::HivexOpenOptArgs {
                write: Some(write),
                ..Default::default()
            };
            self.handle()
                .hivex_open(&path, opts)
                .map_err(gerr(format!("opening the registry hive {path}")))?;
            self.hives.open.set(Some((hive, write)));
        }
        self.handle()
            .hivex_root()
            .map_err(gerr(format!("reading the {} hive", hive.file_name())))
    }

    /// The key's node, or `None` when it is missing; `create` adds the
    /// missing keys on the way.
    fn node(&mut self, hive: Hive, key: &str, create: bool) -> Result<Option<i64>> {
        let parts = if hive == Hive::System {
            resolve_key(hive, key, || self.value(Hive::System, "Select", "Current"))?
        } else {
            resolve_key(hive, key, || Ok(None))?
        };
        let mut node = self.open_hive(hive, create)?;
        let g = self.handle();
        for part in &parts {
            let what = || format!("{}\\{part}", hive.root_name());
            let child = g.hivex_node_get_child(node, part).map_err(gerr(what()))?;
            node = match child {
                0 if create => g.hivex_node_add_child(node, part).map_err(gerr(what()))?,
                0 => return Ok(None),
                child => child,
            };
        }
        Ok(Some(node))
    }

    fn read_value(&self, valueh: i64) -> Result<(String, RegValue)> {
        let g = self.handle();
        let name = g
            .hivex_value_key(valueh)
            .map_err(gerr("reading a value's name"))?;
        let t = g
            .hivex_value_type(valueh)
            .map_err(gerr(format!("reading {name}")))?;
        let data = g
            .hivex_value_value(valueh)
            .map_err(gerr(format!("reading {name}")))?;
        Ok((name, RegValue::from_raw(t, &data)))
    }
}

impl Registry for Appliance {
    fn value(&mut self, hive: Hive, key: &str, name: &str) -> Result<Option<RegValue>> {
        let Some(node) = self.node(hive, key, false)? else {
            return Ok(None);
        };
        let valueh = self
            .handle()
            .hivex_node_get_value(node, name)
            .map_err(gerr(format!("reading {key}\\{name}")))?;
        if valueh == 0 {
            return Ok(None);
        }
        Ok(Some(self.read_value(valueh)?.1))
    }

    fn subkeys(&mut self, hive: Hive, key: &str) -> Result<Vec<String>> {
        let Some(node) = self.node(hive, key, false)? else {
            return Ok(Vec::new());
        };
        let g = self.handle();
        let children = g
            .hivex_node_children(node)
            .map_err(gerr(format!("listing {key}")))?;
        children
            .iter()
            .map(|c| {
                g.hivex_node_name(c.hivex_node_h)
                    .map_err(gerr(format!("listing {key}")))
            })
            .collect()
    }

    fn values(&mut self, hive: Hive, key: &str) -> Result<Vec<(String, RegValue)>> {
        let Some(node) = self.node(hive, key, false)? else {
            return Ok(Vec::new());
        };
        let values = self
            .handle()
            .hivex_node_values(node)
            .map_err(gerr(format!("listing the values of {key}")))?;
        values
            .iter()
            .map(|v| self.read_value(v.hivex_value_h))
            .collect()
    }

    fn has_key(&mut self, hive: Hive, key: &str) -> Result<bool> {
        Ok(self.node(hive, key, false)?.is_some())
    }

    fn set_value(&mut self, hive: Hive, key: &str, name: &str, value: &RegValue) -> Result<()> {
        let Some(node) = self.node(hive, key, true)? else {
            bail!("cannot create {key}");
        };
        self.handle()
            .hivex_node_set_value(node, name, value.type_code(), &value.to_bytes())
            .map_err(gerr(format!("setting {key}\\{name}")))?;
        self.hives.dirty.set(true);
        Ok(())
    }

    fn delete_key(&mut self, hive: Hive, key: &str) -> Result<()> {
        // Reopen for writing first: a read-only handle's node numbers are
        // not valid in the writable one.
        self.open_hive(hive, true)?;
        let Some(node) = self.node(hive, key, false)? else {
            return Ok(());
        };
        self.handle()
            .hivex_node_delete_child(node)
            .map_err(gerr(format!("deleting {key}")))?;
        self.hives.dirty.set(true);
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        self.release_hive()
    }
}
