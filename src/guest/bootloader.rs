//! Which boot loader a disk's master boot record holds, for the `BOOTSTRAP`
//! metadata key.
//!
//! The signatures come from the MBR table of the "Boot Info Script"
//! (bootinfoscript), as the original's `bootloader.mbr_bootinfo` did: the
//! first 2, 3, 4 or 8 bytes of the boot code, refined by the bytes at 0x80
//! where bootinfoscript needs them. Two of the original's mistakes are not
//! repeated: GRUB legacy is `eb 48` (the original had `3b 48`, so GRUB legacy
//! was never found), and `fc 31` is split into install-mbr/TestDisk and
//! FreeBSD's boot0 the way bootinfoscript does (the original called FreeBSD
//! `testdist`).

/// The value when the boot code starts with two zero bytes.
pub const NONE: &str = "none";
/// The value when no signature matches.
pub const UNKNOWN: &str = "unknown";

/// One boot-code signature: `prefix` at offset 0 and, when set, `at_0x80`
/// at offset 0x80.
struct Signature {
    prefix: &'static [u8],
    at_0x80: Option<&'static [u8]>,
    name: &'static str,
}

const fn sig(prefix: &'static [u8], name: &'static str) -> Signature {
    Signature {
        prefix,
        at_0x80: None,
        name,
    }
}

const fn sig_0x80(prefix: &'static [u8], at_0x80: &'static [u8], name: &'static str) -> Signature {
    Signature {
        prefix,
        at_0x80: Some(at_0x80),
        name,
    }
}

/// Boot-code signatures; the first match wins, so longer or refined
/// signatures come before shorter ones with the same start.
const SIGNATURES: &[Signature] = &[
    sig(b"\xeb\x48", "grub1"),
    sig(b"\xeb\x4c", "grub2"), // 1.96
    sig(b"\xeb\x63", "grub2"), // 1.97 and later (boot.img)
    sig(b"\x0e\xbe", "thinkpad"),
    sig(b"\x31\xc0\x8e\xd0\xbc\x00\x7c\x8e", "netbsd"), // also SUSE's generic MBR
    sig(b"\x31\xc0\x8e\xd0\xbc\x00\x7c\xfb", "pqservice"),
    sig(b"\x33\xc0\x8e", "windows"), // 2000/XP/2003, Vista, 7 and later
    sig(b"\x33\xc0\x90", "diskcryptor"),
    sig(b"\x33\xc0\xfa", "syslinux"), // mbr.bin, gptmbr.bin, altmbr.bin 4.04+
    sig(b"\x33\xed", "isohybrid"),
    sig(b"\x33\xff", "hp"),
    sig(b"\xb8\x00", "plop"),
    sig(b"\xea\x05\x00", "openbsd"),
    sig(b"\xea\x05\x01", "xosl"),
    sig(b"\xea\x1e", "truecrypt"),
    sig(b"\xeb\x04", "solaris"),
    sig(b"\xeb\x31", "paragon"),
    sig(b"\xeb\x5e\x00", "fbinst"),
    sig(b"\xeb\x5e\x80", "grub4dos"),
    sig(b"\xeb\x5e\x90", "wee"),
    sig_0x80(b"\xfa\x31\xc0", b"\x00\x69", "isohybrid"), // SYSLINUX 3.72-3.73
    sig_0x80(b"\xfa\x31\xc0", b"\xe8\x79", "isohybrid"), // SYSLINUX 3.74-3.80
    sig(b"\xfa\x31\xc0", "syslinux"),                    // SYSLINUX before 4.04
    sig(b"\xfa\x31\xc9", "mbldr"),
    sig(b"\xfa\x31\xed", "isohybrid"),
    sig(b"\xfa\x33", "msdos"), // MS-DOS 3.30 to Windows 95A
    sig(b"\xfa\xb8\x00\x00", "freedos"),
    sig(b"\xfa\xb8\x00\x10", "libparted"),
    sig(b"\xfa\xeb", "lilo"),
    sig(b"\xfa\xfc", "reactos"),
    sig(b"\xfc\x31\xc0\x8e\xd0\x31\xe4\x8e", "testdisk"), // also install-mbr
    sig(b"\xfc\x31\xc0\x8e\xc0\x8e\xd8\x8e", "freebsd"),  // boot0, mbr and pmbr
    sig(b"\xfc\x33", "gag"),
    sig(b"\xfc\xeb", "bootit"),
];

impl Signature {
    fn matches(&self, sector: &[u8]) -> bool {
        sector.starts_with(self.prefix)
            && self
                .at_0x80
                .is_none_or(|want| sector.get(0x80..0x80 + want.len()) == Some(want))
    }
}

/// The boot loader in a master boot record (the disk's first sector):
/// [`NONE`] when the boot code starts with two zero bytes, a short name
/// (`grub2`, `syslinux`, `windows`, `freebsd`…) when a signature matches,
/// else [`UNKNOWN`].
pub fn mbr_bootloader(sector: &[u8]) -> &'static str {
    match sector {
        [0, 0, ..] => NONE,
        [_, _, ..] => SIGNATURES
            .iter()
            .find(|s| s.matches(sector))
            .map_or(UNKNOWN, |s| s.name),
        _ => UNKNOWN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 512-byte sector starting with the given hex bytes.
    fn sector(hex: &str) -> Vec<u8> {
        let mut s: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        s.resize(512, 0);
        s[510] = 0x55;
        s[511] = 0xaa;
        s
    }

    /// The first 0x90 bytes of GRUB 2.06's boot.img (Debian grub-pc-bin
    /// 2.06-13), as grub-install writes it to the MBR.
    const GRUB2_BOOT_IMG: &str = concat!(
        "eb63900000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000008001000000",
        "00000000fffaeb05f6c2807405f6c2707402b280ea797c000031c08ed88ed0bc",
        "0020fba0647c3cff740288c252be807d",
    );

    #[test]
    fn empty_boot_code_is_none() {
        assert_eq!(mbr_bootloader(&[0; 512]), "none");
        // sfdisk and `parted mklabel gpt` leave the boot code zeroed.
        assert_eq!(mbr_bootloader(&sector("0000fa")), "none");
    }

    #[test]
    fn grub() {
        let grub2 = sector(GRUB2_BOOT_IMG);
        assert_eq!(
            &grub2[0x80..0x82],
            b"\x00\x20",
            "bootinfoscript's 1.99+ marker"
        );
        assert_eq!(mbr_bootloader(&grub2), "grub2");
        assert_eq!(mbr_bootloader(&sector("eb4c90")), "grub2");
        // GRUB legacy stage1: `jmp 0x4a; nop`, then the BPB area.
        assert_eq!(mbr_bootloader(&sector("eb4890")), "grub1");
    }

    #[test]
    fn syslinux_constants() {
        // First bytes of SYSLINUX 6.04 mbr.bin (gptmbr.bin and altmbr.bin
        // start the same way).
        assert_eq!(
            mbr_bootloader(&sector("33c0fa8ed88ed0bc007c89e606578ec0")),
            "syslinux"
        );
        // SYSLINUX 3.x mbr.bin starts `cli; xor ax,ax`.
        assert_eq!(mbr_bootloader(&sector("fa31c08ed88ed0bc007c")), "syslinux");
        // isohdpfx.bin (isohybrid images) of SYSLINUX 6.04 and of 3.7x.
        assert_eq!(
            mbr_bootloader(&sector("33ed9090909090909090909090909090")),
            "isohybrid"
        );
        let mut old_isohybrid = sector("fa31c08ed8");
        old_isohybrid[0x80..0x82].copy_from_slice(b"\x00\x69");
        assert_eq!(mbr_bootloader(&old_isohybrid), "isohybrid");
    }

    #[test]
    fn syslinux_files_from_the_extlinux_package() {
        for name in ["mbr.bin", "gptmbr.bin", "altmbr.bin"] {
            let path = format!("/usr/lib/EXTLINUX/{name}");
            let code = std::fs::read(&path).unwrap_or_else(|e| {
                panic!("{path}: {e}; install the `extlinux` package (scripts/setup.sh does)")
            });
            let mut mbr = code[..code.len().min(440)].to_vec();
            mbr.resize(512, 0);
            assert_eq!(mbr_bootloader(&mbr), "syslinux", "{path}");
        }
    }

    #[test]
    fn windows() {
        // Windows 7 and later (also Server 2008 R2 and later).
        let nt6 = "33c08ed0bc007c8ec08ed8be007cbf0006b90002fcf3a450681c06cbfbb90400\
                   bdbe07807e00007c0b0f850e0183c510e2f1cd1888560055c6461105c6461000";
        assert_eq!(mbr_bootloader(&sector(nt6)), "windows");
        // Windows 2000/XP/2003.
        let nt5 = "33c08ed0bc007cfb5007501ffcbe1b7cbf1b065057b9e501f3a4cb";
        assert_eq!(mbr_bootloader(&sector(nt5)), "windows");
        // MS-DOS 3.30 to Windows 95A.
        assert_eq!(
            mbr_bootloader(&sector("fa33c08ed0bc007c8bf45007501ffbfc")),
            "msdos"
        );
    }

    #[test]
    fn bsds() {
        // FreeBSD boot0: `cld; xor ax,ax; mov es,ax; mov ds,ax; mov ss,ax;
        // mov sp,0x7c00` — the bytes boot0cfg uses to recognise it.
        assert_eq!(
            mbr_bootloader(&sector("fc31c08ec08ed88ed0bc007c")),
            "freebsd"
        );
        // OpenBSD's mbr: `ljmp $0x07c0,$5`.
        assert_eq!(mbr_bootloader(&sector("ea0500c0078cc8")), "openbsd");
        // NetBSD's mbr: `xor ax,ax; mov ss,ax; mov sp,0x7c00; mov ds,ax`.
        assert_eq!(mbr_bootloader(&sector("31c08ed0bc007c8ed8")), "netbsd");
    }

    #[test]
    fn other_loaders() {
        // LILO's first stage: `cli; jmp short`, then the "LILO" magic at 6
        // (only the first two bytes are significant).
        let lilo = format!("faeb2101b401{}", "4c494c4f");
        assert_eq!(mbr_bootloader(&sector(&lilo)), "lilo");
        // What `parted mklabel msdos` (parted 3.5) writes.
        let parted = "fab800108ed0bc00b0b800008ed88ec0fbbe007cbf0006b90002f3a4ea210600";
        assert_eq!(mbr_bootloader(&sector(parted)), "libparted");
        // What `install-mbr` (Debian's mbr 1.2.1) and TestDisk 7.1 write.
        let install_mbr = "fc31c08ed031e48ed88ec0be007cbf0006b90001f3a5beee07b008ea20060000";
        assert_eq!(mbr_bootloader(&sector(install_mbr)), "testdisk");
        assert_eq!(mbr_bootloader(&sector("fab800008ed0")), "freedos");
        assert_eq!(mbr_bootloader(&sector("fafc31c08ed0")), "reactos");
        assert_eq!(mbr_bootloader(&sector("eb5e80")), "grub4dos");
    }

    #[test]
    fn unknown_code() {
        assert_eq!(mbr_bootloader(&sector("9090")), "unknown");
        assert_eq!(mbr_bootloader(&sector("fc31c08ed8")), "unknown");
        assert_eq!(mbr_bootloader(&[]), "unknown");
        assert_eq!(mbr_bootloader(&[0xeb]), "unknown");
    }

    #[test]
    fn names_are_lowercase_words() {
        for s in SIGNATURES {
            assert!(
                s.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            );
            assert!(!s.prefix.is_empty());
        }
    }
}
