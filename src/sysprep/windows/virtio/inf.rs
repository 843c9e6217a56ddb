//! VirtIO driver INF files, read with the original's rules: `;` comments
//! and `\` continuations, `%strkey%` resolved from `[Strings]`, the models
//! of `[Manufacturer]` with their TargetOSVersion decorations
//! (`NTamd64.10.0`; none means `NTx86`), and a driver is VirtIO when a
//! model's hardware id is `PCI\VEN_1AF4&DEV_<id>` with a known id.

use std::collections::BTreeMap;

/// The VirtIO PCI device ids and the driver each one needs.
pub const DEVICES: &[(&str, &str)] = &[
    ("1000", "netkvm"),
    ("1041", "netkvm"),
    ("1001", "viostor"),
    ("1042", "viostor"),
    ("1002", "balloon"),
    ("1045", "balloon"),
    ("1003", "vioser"),
    ("1043", "vioser"),
    ("1004", "vioscsi"),
    ("1048", "vioscsi"),
    ("1005", "viorng"),
    ("1044", "viorng"),
    ("1009", "vio9p"),
    ("1049", "vio9p"),
    ("1050", "viogpu"),
    ("1052", "vioinput"),
];

/// A TargetOSVersion: the architecture and the lowest NT version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `x86` or `amd64`.
    pub arch: String,
    pub version: (u32, u32),
}

/// One model line: the install section and the VirtIO hardware ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub section: String,
    pub hardware_ids: Vec<String>,
}

/// What an INF file declares about its VirtIO driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inf {
    /// The driver (`viostor`), from the hardware ids.
    pub driver: String,
    pub driver_ver: String,
    pub catalog: Option<String>,
    pub targets: Vec<Target>,
    pub models: Vec<Model>,
}

/// The sections of an INF text, names lower-cased, lines cleaned.
fn sections(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = String::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.split(';').next().unwrap_or("").trim();
        if let Some(joined) = line.strip_suffix('\\') {
            pending.push_str(joined);
            continue;
        }
        let line = std::mem::take(&mut pending) + line;
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().to_ascii_lowercase();
            out.entry(current.clone()).or_default();
        } else if !line.is_empty() {
            out.entry(current.clone()).or_default().push(line);
        }
    }
    out
}

/// `key = value` with the value's `%strkey%`s resolved and quotes removed.
fn pairs<'a>(lines: &'a [String]) -> impl Iterator<Item = (String, String)> + 'a {
    lines.iter().filter_map(|l| {
        let (k, v) = l.split_once('=')?;
        Some((k.trim().to_owned(), v.trim().to_owned()))
    })
}

fn resolve(value: &str, strings: &BTreeMap<String, String>) -> String {
    let v = value.trim().trim_matches('"');
    match v.strip_prefix('%').and_then(|s| s.strip_suffix('%')) {
        Some(key) => strings
            .get(&key.to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| v.to_owned()),
        None => v.to_owned(),
    }
}

/// `NTamd64.10.0` → amd64, (10, 0).
fn target(decoration: &str) -> Option<Target> {
    let mut parts = decoration.trim().split('.');
    let arch = parts.next()?.to_ascii_lowercase();
    let arch = arch.strip_prefix("nt")?;
    let arch = match arch {
        "x86" | "" => "x86",
        "amd64" => "amd64",
        _ => return None,
    };
    let mut num = || parts.next().and_then(|p| p.trim().parse::<u32>().ok());
    let version = (num().unwrap_or(0), num().unwrap_or(0));
    Some(Target {
        arch: arch.to_owned(),
        version,
    })
}

/// The VirtIO driver an INF text declares, or `None` when it declares no
/// model with a VirtIO hardware id.
pub fn parse(text: &str) -> Option<Inf> {
    let secs = sections(text);
    let empty = Vec::new();
    let strings: BTreeMap<String, String> = pairs(secs.get("strings").unwrap_or(&empty))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim_matches('"').to_owned()))
        .collect();
    let version: BTreeMap<String, String> = pairs(secs.get("version").unwrap_or(&empty))
        .map(|(k, v)| (k.to_ascii_lowercase(), resolve(&v, &strings)))
        .collect();
    let catalog = version
        .iter()
        .find(|(k, _)| k.starts_with("catalogfile"))
        .map(|(_, v)| v.clone());
    let (mut targets, mut models) = (Vec::new(), Vec::new());
    for (_, value) in pairs(secs.get("manufacturer").unwrap_or(&empty)) {
        let mut fields = value.split(',').map(str::trim);
        let base = fields.next().unwrap_or("").to_owned();
        let decorations: Vec<&str> = fields.collect();
        let found: Vec<(String, Target)> = match decorations.is_empty() {
            true => vec![(base.clone(), target("NTx86")?)],
            false => decorations
                .iter()
                .filter_map(|d| Some((format!("{base}.{d}"), target(d)?)))
                .collect(),
        };
        for (section, t) in found {
            let lines = secs.get(&section.to_ascii_lowercase()).unwrap_or(&empty);
            let found_models = model_lines(lines);
            if !found_models.is_empty() {
                targets.push(t);
                models.extend(found_models);
            }
        }
    }
    let driver = models
        .iter()
        .flat_map(|m| m.hardware_ids.iter())
        .find_map(|id| driver_of(id))?;
    Some(Inf {
        driver: driver.to_owned(),
        driver_ver: version.get("driverver").cloned().unwrap_or_default(),
        catalog,
        targets,
        models,
    })
}

fn model_lines(lines: &[String]) -> Vec<Model> {
    pairs(lines)
        .filter_map(|(_, v)| {
            let mut fields = v.split(',').map(str::trim);
            let section = fields.next()?.to_owned();
            let hardware_ids: Vec<String> = fields
                .filter(|id| driver_of(id).is_some())
                .map(str::to_owned)
                .collect();
            (!hardware_ids.is_empty()).then_some(Model {
                section,
                hardware_ids,
            })
        })
        .collect()
}

/// The driver a `PCI\VEN_1AF4&DEV_1001…` hardware id needs.
pub fn driver_of(hardware_id: &str) -> Option<&'static str> {
    let id = hardware_id.to_ascii_uppercase();
    let dev = id.strip_prefix("PCI\\VEN_1AF4&DEV_")?;
    let dev = dev.get(..4)?;
    DEVICES.iter().find(|(d, _)| *d == dev).map(|(_, n)| *n)
}

impl Inf {
    /// The highest NT version among the decorations for `arch` that the
    /// guest's `version` satisfies, when there is one.
    pub fn fits(&self, arch: &str, version: (u32, u32)) -> Option<(u32, u32)> {
        self.targets
            .iter()
            .filter(|t| t.arch == arch && t.version <= version)
            .map(|t| t.version)
            .max()
    }
}
