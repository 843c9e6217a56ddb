//! Rows about Windows disks that must not be prepared as they are: each
//! synthetic variant (`tests/fixtures/mk-windows.sh`) carries one state
//! Windows would not survive being changed offline in.

use super::{Case, Ctx, Expect, Input};
use crate::support::windows_fixture;

/// Export a Windows variant to a file in the row's directory: refused
/// before anything is written, so the file never appears.
fn export(ctx: &Ctx, variant: &str) -> Input {
    let (img, _) = windows_fixture(&format!("windows-2019-{variant}.raw"));
    let out = ctx.path("windows.diskdump");
    let src = img.to_string_lossy().into_owned();
    Input::new(ctx.mkimage(&["-o", &out, &src]), &[&img])
}

pub const ROWS: &[Case] = &[
    Case {
        name: "a hibernated Windows",
        vm: true,
        expect: Expect::Error(
            1,
            "Windows is hibernated (hiberfil.sys holds a hibernation image)",
        ),
        prepare: |ctx| export(ctx, "hibernated"),
    },
    Case {
        name: "a Windows registry hive with changes in its logs",
        vm: true,
        expect: Expect::Error(
            1,
            "System32/config/SYSTEM has changes still in its transaction logs",
        ),
        prepare: |ctx| export(ctx, "dirty-hive"),
    },
    Case {
        name: "a Windows NTFS marked dirty",
        vm: true,
        expect: Expect::Error(1, "the NTFS filesystem on /dev/sda3 is marked dirty"),
        prepare: |ctx| export(ctx, "dirty-ntfs"),
    },
    Case {
        name: "a Windows encrypted with BitLocker",
        vm: true,
        expect: Expect::Error(1, "partition /dev/sda3 is encrypted with BitLocker"),
        prepare: |ctx| export(ctx, "bitlocker"),
    },
];
