//! The partitions of the root's disk, as the image copies them: number,
//! place, type and identity, from `/sys/class/block` and blkid's
//! `PART_ENTRY_*` answers.

use super::HostView;

/// The GPT type of a BIOS boot partition (GRUB's core.img on GPT).
pub const BIOS_BOOT: &str = "21686148-6449-6e6f-744e-656564454649";

/// One partition of the root's disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPart {
    /// The kernel's name (`sda1`).
    pub device: String,
    pub number: u32,
    /// Where it starts and how long it is, in bytes.
    pub start: u64,
    pub size: u64,
    /// The partition type: a GPT type GUID (lower case) or an MBR type
    /// (`0x83`).
    pub ty: String,
    /// GPT: its unique GUID and name.
    pub uuid: Option<String>,
    pub name: Option<String>,
    /// MBR: the active flag; GPT: the LegacyBIOSBootable attribute.
    pub bootable: bool,
    /// The filesystem or signature on it (`ext4`, `swap`), if any.
    pub content: Option<String>,
}

impl HostPart {
    /// Whether it holds GRUB's core image on a GPT disk.
    pub fn is_bios_boot(&self) -> bool {
        self.ty.eq_ignore_ascii_case(BIOS_BOOT)
    }

    /// Whether it is an MBR extended partition (the logical ones' box).
    pub fn is_extended(&self) -> bool {
        matches!(self.ty.as_str(), "0x5" | "0x05" | "0xf" | "0x0f" | "0x85")
    }

    /// The type as sfdisk's scripts spell it (`83`, a GUID).
    pub fn sfdisk_type(&self) -> String {
        self.ty.trim_start_matches("0x").to_owned()
    }
}

/// The partitions of `disk`, by number.
pub fn partitions_of(view: &dyn HostView, disk: &str) -> Vec<HostPart> {
    let mut out: Vec<HostPart> = view
        .sys_dir(&format!("block/{disk}"))
        .into_iter()
        .filter(|p| p.starts_with(disk))
        .filter_map(|p| part(view, p))
        .collect();
    out.sort_by_key(|p| p.number);
    out
}

fn part(view: &dyn HostView, device: String) -> Option<HostPart> {
    let base = format!("class/block/{device}");
    let number: u32 = view.sys(&format!("{base}/partition"))?.parse().ok()?;
    let sectors = |key: &str| view.sys(&format!("{base}/{key}"))?.parse::<u64>().ok();
    let id = view.blkid(&device);
    let get = |k: &str| id.get(k).cloned();
    let from_id = |k: &str| get(k)?.parse::<u64>().ok();
    let start = sectors("start").or_else(|| from_id("PART_ENTRY_OFFSET"))?;
    let size = sectors("size").or_else(|| from_id("PART_ENTRY_SIZE"))?;
    let flags = get("PART_ENTRY_FLAGS").unwrap_or_default();
    Some(HostPart {
        number,
        start: start * 512,
        size: size * 512,
        ty: get("PART_ENTRY_TYPE").unwrap_or_default().to_lowercase(),
        uuid: get("PART_ENTRY_UUID"),
        name: get("PART_ENTRY_NAME"),
        bootable: match get("PART_ENTRY_SCHEME").as_deref() {
            Some("dos") => flags == "0x80",
            Some("gpt") => {
                u64::from_str_radix(flags.trim_start_matches("0x"), 16).is_ok_and(|f| f & 4 != 0)
            }
            _ => false,
        },
        content: get("TYPE"),
        device,
    })
}
