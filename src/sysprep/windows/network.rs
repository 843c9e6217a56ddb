//! The network and clock tasks: each is one documented registry value.

use anyhow::Result;

use super::super::{Action, Change, Ctx, RegSet, Task};
use crate::guest::registry::{Hive, RegValue};

/// `HKLM\SOFTWARE\Policies\Microsoft\Windows\TCPIP\v6Transition`: the
/// Group Policy settings of the IPv6 transition technologies.
const V6_TRANSITION: &str = "Policies\\Microsoft\\Windows\\TCPIP\\v6Transition";
const FIREWALL_RULES: &str =
    "CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\FirewallRules";
/// The name of the firewall rule `enable-pings` adds.
pub const PING_RULE: &str = "snf-image-creator-ICMP4-ERQ-In";
/// The rule in Windows Firewall's registry form (MS-FASP 2.2.2.10): echo
/// requests (ICMPv4 type 8) allowed in, on every profile.
pub const PING_RULE_TEXT: &str = "v2.10|Action=Allow|Active=TRUE|Dir=In|Protocol=1|ICMP4=8:*|\
                                  Name=Echo Request (ICMPv4-In), allowed by snf-image-creator|";

pub const UTC: Task = Task {
    name: "utc",
    message: "Setting the hardware clock to UTC",
    description: "Make Windows keep the hardware clock in UTC, as clouds run it (offline: \
                  SYSTEM\\CurrentControlSet\\Control\\TimeZoneInformation \
                  RealTimeIsUniversal = REG_DWORD 1).",
    default: true,
    params: &[],
    action: Action::Files {
        plan: utc,
        after: None,
    },
};

fn utc(_cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    Ok(vec![RegSet::change(
        Hive::System,
        "CurrentControlSet\\Control\\TimeZoneInformation",
        "RealTimeIsUniversal",
        RegValue::Dword(1),
    )])
}

pub const DISABLE_TEREDO: Task = Task {
    name: "disable-teredo",
    message: "Disabling the Teredo interface",
    description: "Disable the Teredo IPv6 tunnel (offline, the Group Policy setting: \
                  SOFTWARE\\Policies\\Microsoft\\Windows\\TCPIP\\v6Transition Teredo_State = \
                  REG_SZ \"Disabled\").",
    default: true,
    params: &[],
    action: Action::Files {
        plan: teredo,
        after: None,
    },
};

fn teredo(_cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    Ok(vec![transition_off("Teredo_State")])
}

pub const DISABLE_ISATAP: Task = Task {
    name: "disable-isatap",
    message: "Disabling the ISATAP interface",
    description: "Disable the ISATAP IPv6 tunnel (offline, the Group Policy setting: \
                  SOFTWARE\\Policies\\Microsoft\\Windows\\TCPIP\\v6Transition ISATAP_State = \
                  REG_SZ \"Disabled\").",
    default: true,
    params: &[],
    action: Action::Files {
        plan: isatap,
        after: None,
    },
};

fn isatap(_cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    Ok(vec![transition_off("ISATAP_State")])
}

fn transition_off(name: &str) -> Change {
    RegSet::change(
        Hive::Software,
        V6_TRANSITION,
        name,
        RegValue::Sz("Disabled".into()),
    )
}

pub const ENABLE_PINGS: Task = Task {
    name: "enable-pings",
    message: "Allowing ping requests through the firewall",
    description: "Let Windows Firewall accept ICMPv4 echo requests on every profile \
                  (offline: a rule value snf-image-creator-ICMP4-ERQ-In under \
                  SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\\
                  FirewallPolicy\\FirewallRules, \"v2.10|Action=Allow|Active=TRUE|Dir=In|\
                  Protocol=1|ICMP4=8:*|…\").",
    default: true,
    params: &[],
    action: Action::Files {
        plan: pings,
        after: None,
    },
};

fn pings(_cx: &mut Ctx<'_>) -> Result<Vec<Change>> {
    Ok(vec![RegSet::change(
        Hive::System,
        FIREWALL_RULES,
        PING_RULE,
        RegValue::Sz(PING_RULE_TEXT.into()),
    )])
}
