//! `lvm-uuids`: new UUIDs for the LVM physical volumes and volume groups
//! of the image (virt-sysprep's operation of that name), so that two
//! machines made from it do not share them. It runs on the unmounted disk,
//! before `shrink`. The guest keeps booting: its fstab and boot loader name
//! filesystems by UUID or LVs by path (`/dev/mapper/vg0-root`), which do
//! not change; `remove-lvm-system-devices` deletes the one file that pins
//! PV identities.

use anyhow::Result;

use super::{Action, DeviceCtx, Task};
use crate::guest::appliance::gerr;
use crate::guest::lvm::{Layout, shrink::activate};

pub const LVM_UUIDS: Task = Task {
    name: "lvm-uuids",
    message: "Changing the UUIDs of LVM physical volumes and volume groups",
    description: "Give every LVM physical volume and volume group a new random UUID, so \
                  that clones of the image differ. Filesystem UUIDs and LV names stay: \
                  fstab and the boot loader, which name filesystems by UUID or LVs by \
                  path, keep working.",
    default: true,
    params: &[],
    action: Action::Device(run),
};

fn run(cx: &mut DeviceCtx<'_>) -> Result<i64> {
    let g = cx.vm.handle();
    let layout = Layout::read(g)?;
    if layout.pvs.is_empty() {
        return Ok(0);
    }
    let mut vgs: Vec<&str> = layout.pvs.iter().map(|p| p.vg.as_str()).collect();
    vgs.dedup();
    let what = format!(
        "{} physical volume(s) and the volume group(s) {}",
        layout.pvs.len(),
        vgs.join(", ")
    );
    if cx.dry_run {
        cx.reporter
            .info(&format!("a real run gives new UUIDs to {what}"));
        return Ok(0);
    }
    activate(g, false)?;
    g.pvchange_uuid_all()
        .map_err(gerr("giving the LVM physical volumes new UUIDs"))?;
    g.vgchange_uuid_all()
        .map_err(gerr("giving the LVM volume groups new UUIDs"))?;
    activate(g, true)?;
    cx.reporter.info(&format!("new UUIDs for {what}"));
    Ok(0)
}
