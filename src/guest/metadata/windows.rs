//! The Windows keys read from the registry: `OSVERSION`, `USERS` (the
//! active local accounts of the SAM) and `REMOTE_CONNECTION` (remote
//! desktop, when it accepts connections), and the [`WindowsFacts`] driver
//! selection and the preconditions use.

use anyhow::{Context, Result};

use super::{Metadata, set_users};
use crate::guest::OsInfo;
use crate::guest::registry::{Hive, RegValue, Registry};
use crate::guest::windows::{NtVersion, WinArch, WindowsFacts};
use crate::progress::Reporter;

/// Where the SAM keeps the local accounts: one key per RID (8 hex digits)
/// holding `F` and `V`, and `Names`.
const USERS: &str = r"SAM\Domains\Account\Users";
/// The `F` value's offsets: the RID and the account control bits.
const F_RID: usize = 0x30;
const F_ACB: usize = 0x38;
/// Account control bit: the account is disabled.
const ACB_DISABLED: u16 = 0x0001;
/// Built-in accounts that are never offered to log in: Guest,
/// DefaultAccount, WDAGUtilityAccount.
const BUILT_IN: &[u32] = &[501, 503, 504];
/// The remote desktop settings.
const TERMINAL_SERVER: &str = r"CurrentControlSet\Control\Terminal Server";
const RDP_TCP: &str = r"CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp";
/// Remote desktop's port when `PortNumber` is missing.
const RDP_DEFAULT_PORT: u16 = 3389;

/// Read the Windows facts and set the keys they give.
pub fn collect(
    os: &OsInfo,
    reg: &mut dyn Registry,
    meta: &mut Metadata,
    reporter: &dyn Reporter,
) -> Result<WindowsFacts> {
    let arch = WinArch::parse(&os.arch);
    if arch.is_none() {
        reporter.warn(&format!(
            "Windows on {} is for the {} architecture: VirtIO drivers are chosen for x86 and amd64 only",
            os.root, os.arch
        ));
    }
    let nt = NtVersion::new(os.major, os.minor);
    let build = build_number(reg)?;
    let users = active_users(reg, reporter).context("reading the accounts from the SAM")?;
    let rdp_port = rdp_port(reg).context("reading the remote desktop settings")?;
    meta.insert(
        "OSVERSION".into(),
        match build {
            Some(b) => format!("{nt}.{b}"),
            None => nt.to_string(),
        },
    );
    set_users(meta, &users, reporter);
    match rdp_port {
        Some(port) => meta.insert("REMOTE_CONNECTION".into(), rdp_entries(port, &users)),
        None => meta.remove("REMOTE_CONNECTION"),
    };
    Ok(WindowsFacts {
        arch,
        nt,
        build,
        users,
        rdp_port,
    })
}

fn build_number(reg: &mut dyn Registry) -> Result<Option<u32>> {
    let key = r"Microsoft\Windows NT\CurrentVersion";
    Ok(
        match reg.value(Hive::Software, key, "CurrentBuildNumber")? {
            Some(RegValue::Sz(b)) => b.trim().parse().ok(),
            _ => None,
        },
    )
}

/// One SAM account.
#[derive(Debug, PartialEq, Eq)]
struct Account {
    rid: u32,
    name: String,
    disabled: bool,
}

/// The names of the active accounts, by RID, built-in ones left out.
fn active_users(reg: &mut dyn Registry, reporter: &dyn Reporter) -> Result<Vec<String>> {
    let names = reg.subkeys(Hive::Sam, &format!(r"{USERS}\Names"))?;
    let mut accounts = Vec::new();
    for key in reg.subkeys(Hive::Sam, USERS)? {
        if key.len() != 8 || u32::from_str_radix(&key, 16).is_err() {
            continue;
        }
        match account(reg, &key)? {
            Some(a) if names.iter().any(|n| n.eq_ignore_ascii_case(&a.name)) => accounts.push(a),
            Some(a) => reporter.warn(&format!(
                "ignoring the SAM account {} (RID {}): it is not listed under Names",
                a.name, a.rid
            )),
            None => reporter.warn(&format!("ignoring the unreadable SAM account {key}")),
        }
    }
    accounts.sort_by_key(|a| a.rid);
    Ok(accounts
        .into_iter()
        .filter(|a| !a.disabled && !BUILT_IN.contains(&a.rid))
        .map(|a| a.name)
        .collect())
}

/// An account from its `F` (RID, control bits) and `V` (name) values;
/// `None` when they are missing or too short.
fn account(reg: &mut dyn Registry, key: &str) -> Result<Option<Account>> {
    let path = format!(r"{USERS}\{key}");
    let (Some(RegValue::Binary(f)), Some(RegValue::Binary(v))) = (
        reg.value(Hive::Sam, &path, "F")?,
        reg.value(Hive::Sam, &path, "V")?,
    ) else {
        return Ok(None);
    };
    let (Some(rid), Some(acb)) = (le_u32(&f, F_RID), f.get(F_ACB..F_ACB + 2)) else {
        return Ok(None);
    };
    let Some(name) = v_name(&v) else {
        return Ok(None);
    };
    Ok(Some(Account {
        rid,
        name,
        disabled: u16::from_le_bytes([acb[0], acb[1]]) & ACB_DISABLED != 0,
    }))
}

/// The account name in a `V` value: an (offset, length) pair at 0x0C,
/// the offset counted from the end of the 0xCC-byte header, UTF-16LE.
fn v_name(v: &[u8]) -> Option<String> {
    const HEADER: usize = 0xCC;
    let offset = usize::try_from(le_u32(v, 0x0C)?).ok()? + HEADER;
    let len = usize::try_from(le_u32(v, 0x10)?).ok()?;
    let bytes = v.get(offset..offset.checked_add(len)?)?;
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).ok().filter(|n| !n.is_empty())
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The remote desktop port when it accepts connections
/// (`fDenyTSConnections` is 0).
fn rdp_port(reg: &mut dyn Registry) -> Result<Option<u16>> {
    if reg.value(Hive::System, TERMINAL_SERVER, "fDenyTSConnections")? != Some(RegValue::Dword(0)) {
        return Ok(None);
    }
    Ok(Some(
        match reg.value(Hive::System, RDP_TCP, "PortNumber")? {
            Some(RegValue::Dword(p)) => u16::try_from(p).unwrap_or(RDP_DEFAULT_PORT),
            _ => RDP_DEFAULT_PORT,
        },
    ))
}

/// `REMOTE_CONNECTION`: one `rdp:port=N,user=U` per user, or a bare
/// `rdp:port=N` when there is none.
fn rdp_entries(port: u16, users: &[String]) -> String {
    if users.is_empty() {
        return format!("rdp:port={port}");
    }
    users
        .iter()
        .map(|u| format!("rdp:port={port},user={u}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
#[path = "windows_tests.rs"]
mod tests;
