//! The first-boot runner of a Windows guest, as data: the PowerShell
//! script that runs the online steps and speaks the serial protocol on
//! COM1, and the changes that start it at boot and are reverted after.
//!
//! The runner is started by a service, as virt-v2v's first boot is, so no
//! account has to log on (a `RunOnce` entry would need autologon, hence an
//! administrator with a known password). Without a service wrapper binary,
//! the service's image is `cmd.exe /c start "" powershell.exe …`: the
//! service control manager starts it as LocalSystem at boot; `cmd` starts
//! PowerShell and ends, the service is then marked failed (its error
//! control is *ignore*) while the runner goes on. The runner deletes its
//! service first, so a reboot never runs it twice; the offline revert
//! deletes the service key (when still there) and the runner's folder.
//!
//! Commands run as `cmd.exe /d /s /c "COMMAND"`: the text of a step is a
//! `cmd` command line, as the original's tasks are written. Each step's
//! output goes to `NAME.log` in the runner's folder. A step that cannot
//! start reports exit code -1.

use anyhow::{Context, Result};

use super::{OnlineStep, Token};
use crate::guest::Guest;
use crate::guest::registry::{Hive, RegValue, Registry};

/// The service that starts the runner (`SYSTEM\CurrentControlSet\Services\…`).
pub const SERVICE: &str = "snf-image-creator-firstboot";

/// The runner's folder, from the root of the system drive.
pub const RUNNER_DIR: &str = "/snf-image-creator-firstboot";

/// The runner script, in [`RUNNER_DIR`].
pub const RUNNER_SCRIPT: &str = "/snf-image-creator-firstboot/runner.ps1";

/// A registry value of the changes (the types the service key needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegData {
    Sz(String),
    ExpandSz(String),
    Dword(u32),
}

/// What the online phase writes into a Windows guest before it boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    /// Guest files (paths from the system drive's root) and their bytes.
    pub files: Vec<(&'static str, Vec<u8>)>,
    /// The key created under `SYSTEM\CurrentControlSet\Services`.
    pub service: &'static str,
    /// Its values.
    pub values: Vec<(&'static str, RegData)>,
}

/// What the revert after the boot removes (each only when present).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revert {
    /// A guest folder removed with what it holds.
    pub remove_tree: &'static str,
    /// The key under `SYSTEM\CurrentControlSet\Services` deleted with its
    /// subkeys.
    pub delete_service: &'static str,
}

/// The changes that make the guest run `steps` at its next boot.
pub fn install(token: &Token, steps: &[OnlineStep]) -> Install {
    let windows = "%SystemRoot%\\System32";
    let script = RUNNER_SCRIPT.replace('/', "\\");
    let image = format!(
        "{windows}\\cmd.exe /c start \"\" {windows}\\WindowsPowerShell\\v1.0\\powershell.exe \
         -NoProfile -NonInteractive -ExecutionPolicy Bypass -File \"%SystemDrive%{script}\""
    );
    Install {
        files: vec![(RUNNER_SCRIPT, runner_script(token, steps).into_bytes())],
        service: SERVICE,
        values: vec![
            ("Type", RegData::Dword(0x10)),
            ("Start", RegData::Dword(2)),
            ("ErrorControl", RegData::Dword(0)),
            ("ImagePath", RegData::ExpandSz(image)),
            ("ObjectName", RegData::Sz("LocalSystem".into())),
            (
                "DisplayName",
                RegData::Sz("snf-image-creator first-boot runner".into()),
            ),
        ],
    }
}

/// What undoes [`install`] (and what the runner left: its step logs).
pub fn revert() -> Revert {
    Revert {
        remove_tree: RUNNER_DIR,
        delete_service: SERVICE,
    }
}

impl From<&RegData> for RegValue {
    fn from(data: &RegData) -> RegValue {
        match data {
            RegData::Sz(s) => RegValue::Sz(s.clone()),
            RegData::ExpandSz(s) => RegValue::ExpandSz(s.clone()),
            RegData::Dword(n) => RegValue::Dword(*n),
        }
    }
}

impl Install {
    /// Write the files and the service key into the mounted guest (the
    /// system drive on `/`).
    pub fn apply(&self, g: &mut dyn Guest) -> Result<()> {
        for (path, bytes) in &self.files {
            if let Some((dir, _)) = path.rsplit_once('/')
                && !dir.is_empty()
            {
                g.mkdir_p(dir)?;
            }
            g.write(path, bytes)?;
        }
        let reg = registry(g)?;
        let key = service_key(self.service);
        for (name, data) in &self.values {
            reg.set_value(Hive::System, &key, name, &data.into())?;
        }
        reg.commit()
    }
}

impl Revert {
    /// Remove the runner's folder and its service key from the mounted
    /// guest, each when present.
    pub fn apply(&self, g: &mut dyn Guest) -> Result<()> {
        if g.exists(self.remove_tree)? {
            g.remove_all(self.remove_tree)?;
        }
        let reg = registry(g)?;
        reg.delete_key(Hive::System, &service_key(self.delete_service))?;
        reg.commit()
    }
}

fn registry(g: &mut dyn Guest) -> Result<&mut dyn Registry> {
    g.registry()
        .context("this guest has no Windows registry for the first-boot service")
}

/// The key of the service `name`.
pub fn service_key(name: &str) -> String {
    format!("CurrentControlSet\\Services\\{name}")
}

/// The runner's lines before its token.
const HEAD: &[&str] = &[
    "# snf-image-creator first-boot runner: runs the image's online steps in",
    "# order, reports each on COM1, then powers the machine off.",
    "$ErrorActionPreference = 'Continue'",
];

/// The runner's lines between its token and its steps (`{SERVICE}`
/// replaced): the serial port, `Report`, `Step`, and `start`.
const PRELUDE: &[&str] = &[
    "$dir = Split-Path -Parent $MyInvocation.MyCommand.Path",
    "& sc.exe delete {SERVICE} | Out-Null",
    "$port = New-Object System.IO.Ports.SerialPort 'COM1', 115200, 'None', 8, 'One'",
    "$port.Open()",
    "function Report([string]$text) { $port.Write(\"$token $text`r`n\") }",
    "function Step([string]$name, [string]$command) {",
    "    $log = Join-Path $dir \"$name.log\"",
    "    try {",
    "        $p = Start-Process -FilePath \"$env:SystemRoot\\System32\\cmd.exe\" `",
    "            -ArgumentList \"/d /s /c `\"$command`\"\" -Wait -PassThru -NoNewWindow `",
    "            -RedirectStandardOutput $log -RedirectStandardError \"$log.err\" -ErrorAction Stop",
    "        $rc = $p.ExitCode",
    "    } catch { $rc = -1 }",
    "    if ($null -eq $rc) { $rc = -1 }",
    "    Report \"task $name $rc\"",
    "    return ($rc -eq 0)",
    "}",
    "Report 'start'",
    "$ok = $true",
];

/// The runner's last lines.
const TAIL: &[&str] = &["Report 'done'", "$port.Close()", "Stop-Computer -Force"];

/// The runner: a UTF-8 PowerShell script (with a byte order mark, which
/// Windows PowerShell 5.1 needs to read UTF-8) with CRLF line ends.
pub fn runner_script(token: &Token, steps: &[OnlineStep]) -> String {
    let mut lines: Vec<String> = HEAD.iter().map(|l| l.to_string()).collect();
    lines.push(format!("$token = {}", ps_quote(token.as_str())));
    lines.extend(PRELUDE.iter().map(|l| l.replace("{SERVICE}", SERVICE)));
    for step in steps {
        lines.push(format!(
            "if ($ok) {{ $ok = Step {} {} }}",
            ps_quote(step.name),
            ps_quote(&one_line(&step.command))
        ));
    }
    lines.extend(TAIL.iter().map(|l| l.to_string()));
    let mut text = String::from('\u{feff}');
    for line in lines {
        text.push_str(&line);
        text.push_str("\r\n");
    }
    text
}

/// A PowerShell single-quoted literal: nothing inside is expanded; every
/// quote character PowerShell takes for `'` is doubled.
fn ps_quote(text: &str) -> String {
    let mut out = String::from("'");
    for c in text.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{201b}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// A command on one line: line breaks would end the script's statement.
fn one_line(command: &str) -> String {
    command.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn token() -> Token {
        Token::random().unwrap()
    }

    const STEPS: &[OnlineStep] = &[
        OnlineStep {
            name: "disable-teredo",
            command: Cow::Borrowed("netsh interface teredo set state disabled"),
        },
        OnlineStep {
            name: "clear-logs",
            command: Cow::Borrowed(
                "cmd /q /c for /f \"tokens=*\" %l in ('wevtutil el') do wevtutil cl \"%l\"",
            ),
        },
        OnlineStep {
            name: "microsoft-sysprep",
            command: Cow::Borrowed(
                "C:\\Windows\\system32\\sysprep\\sysprep /quiet /generalize /oobe /quit",
            ),
        },
    ];

    #[test]
    fn script_is_crlf_with_a_bom() {
        let text = runner_script(&token(), STEPS);
        assert!(text.starts_with('\u{feff}'));
        assert!(text.ends_with("Stop-Computer -Force\r\n"));
        assert!(!text.replace("\r\n", "").contains('\n'));
        assert!(!text.replace("\r\n", "").contains('\r'));
    }

    #[test]
    fn script_speaks_the_protocol_in_order() {
        let t = token();
        let text = runner_script(&t, STEPS);
        assert!(text.contains(&format!("$token = '{t}'\r\n")));
        assert!(text.contains("SerialPort 'COM1'"));
        assert!(text.contains("$port.Write(\"$token $text`r`n\")"));
        assert!(text.contains("Report \"task $name $rc\""));
        let at = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle}"));
        assert!(at("Report 'start'") < at("Step 'disable-teredo'"));
        assert!(at("Step 'disable-teredo'") < at("Step 'clear-logs'"));
        assert!(at("Step 'clear-logs'") < at("Step 'microsoft-sysprep'"));
        assert!(at("Step 'microsoft-sysprep'") < at("Report 'done'"));
        assert!(at("Report 'done'") < at("Stop-Computer -Force"));
        // Each step runs only when every step before it succeeded.
        assert_eq!(text.matches("if ($ok) { $ok = Step ").count(), 3);
    }

    #[test]
    fn commands_are_quoted_literally() {
        let text = runner_script(&token(), STEPS);
        assert!(text.contains(
            "Step 'clear-logs' 'cmd /q /c for /f \"tokens=*\" %l in (''wevtutil el'') do wevtutil cl \"%l\"' }"
        ));
        assert_eq!(ps_quote("$env:x `n ’q’"), "'$env:x `n ’’q’’'");
        let odd = [OnlineStep {
            name: "x",
            command: Cow::Borrowed("echo a\r\necho b"),
        }];
        assert!(runner_script(&token(), &odd).contains("Step 'x' 'echo a  echo b' }"));
    }

    #[test]
    fn the_service_starts_the_script_and_is_reverted() {
        let t = token();
        let inst = install(&t, STEPS);
        assert_eq!(inst.files.len(), 1);
        assert_eq!(inst.files[0].0, RUNNER_SCRIPT);
        assert_eq!(inst.files[0].1, runner_script(&t, STEPS).into_bytes());
        let value = |name: &str| {
            inst.values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(value("Start"), Some(RegData::Dword(2)));
        assert_eq!(value("Type"), Some(RegData::Dword(0x10)));
        let Some(RegData::ExpandSz(image)) = value("ImagePath") else {
            panic!("no ImagePath");
        };
        assert!(image.contains("-File \"%SystemDrive%\\snf-image-creator-firstboot\\runner.ps1\""));
        assert!(image.starts_with("%SystemRoot%\\System32\\cmd.exe /c start \"\" "));
        let rev = revert();
        assert!(
            inst.files
                .iter()
                .all(|(p, _)| p.starts_with(rev.remove_tree))
        );
        assert_eq!(rev.delete_service, inst.service);
        assert!(runner_script(&t, STEPS).contains(&format!("sc.exe delete {}", inst.service)));
    }

    #[test]
    fn install_and_revert_leave_the_guest_as_it_was() {
        use crate::guest::memfs::MemGuest;
        use crate::guest::registry::mem::MemRegistry;
        let mut g = MemGuest::new()
            .file("/Windows/win.ini", "x")
            .with_registry(MemRegistry::new());
        let before = g.paths();
        install(&token(), STEPS).apply(&mut g).unwrap();
        assert!(g.contents(RUNNER_SCRIPT).is_some());
        let key = service_key(SERVICE);
        let reg = g.registry().unwrap();
        assert_eq!(
            reg.value(Hive::System, &key, "Start").unwrap(),
            Some(RegValue::Dword(2))
        );
        revert().apply(&mut g).unwrap();
        assert_eq!(g.paths(), before);
        let reg = g.registry().unwrap();
        assert!(!reg.has_key(Hive::System, &key).unwrap());
        // Reverting twice (the runner already deleted its service) is fine.
        revert().apply(&mut g).unwrap();
    }
}
