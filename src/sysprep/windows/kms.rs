//! The public KMS client setup keys (Microsoft's Generic Volume License
//! Keys, from "KMS client activation and product keys"), by the product
//! name the registry gives (`ProductName`; Windows 11 still calls itself
//! "Windows 10 …" there, and both share their keys). `kms-client-setup`
//! installs the one of the guest's edition; an edition without one (a
//! retail or evaluation edition) is refused before the guest boots.

/// `(product name, key)`, matched whole and without regard to case.
pub const CLIENT_KEYS: &[(&str, &str)] = &[
    (
        "Windows Server 2025 Standard",
        "TVRH6-WHNXV-R9WG3-9XRFY-MY832",
    ),
    (
        "Windows Server 2025 Datacenter",
        "D764K-2NDRG-47T6Q-P8T8W-YP6DF",
    ),
    (
        "Windows Server 2022 Standard",
        "VDYBN-27WPP-V4HQT-9VMD4-VMK7H",
    ),
    (
        "Windows Server 2022 Datacenter",
        "WX4NM-KYWYW-QJJR4-XV3QB-6VM33",
    ),
    (
        "Windows Server 2019 Standard",
        "N69G4-B89J2-4G8F4-WWYCC-J464C",
    ),
    (
        "Windows Server 2019 Datacenter",
        "WMDGN-G9PQG-XVVXX-R3X43-63DFG",
    ),
    (
        "Windows Server 2019 Essentials",
        "WVDHN-86M7X-466P6-VHXV7-YY726",
    ),
    (
        "Windows Server 2016 Standard",
        "WC2BQ-8NRM3-FDDYY-2BFGV-KHKQY",
    ),
    (
        "Windows Server 2016 Datacenter",
        "CB7KF-BWN84-R7R2Y-793K2-8XDDG",
    ),
    (
        "Windows Server 2016 Essentials",
        "JCKRF-N37P4-C2D82-9YXRT-4M63B",
    ),
    (
        "Windows Server 2012 R2 Standard",
        "D2N9P-3P6X9-2R39C-7RTCD-MDVJX",
    ),
    (
        "Windows Server 2012 R2 Datacenter",
        "W3GGN-FT8W3-Y4M27-J84CP-Q3VJ9",
    ),
    (
        "Windows Server 2012 R2 Essentials",
        "KNC87-3J2TX-XB4WP-VCPJV-M4FWM",
    ),
    (
        "Windows Server 2012 Standard",
        "XC9B7-NBPP2-83J2H-RHMBY-92BT4",
    ),
    (
        "Windows Server 2012 Datacenter",
        "48HP8-DN98B-MYWDG-T2DCC-8W83P",
    ),
    (
        "Windows Server 2012 Essentials",
        "HTDQM-NBMMG-KGYDT-2DTKT-J2MPV",
    ),
    (
        "Windows Server 2008 R2 Standard",
        "YC6KT-GKW9T-YTKYR-T4X34-R7VHC",
    ),
    (
        "Windows Server 2008 R2 Enterprise",
        "489J6-VHDMP-X63PK-3K798-CPX3Y",
    ),
    (
        "Windows Server 2008 R2 Datacenter",
        "74YFP-3QFB3-KQT8W-PMXWJ-7M648",
    ),
    (
        "Windows Server 2008 R2 Web",
        "6TPJF-RBVHG-WBW2R-86QPH-6RTM4",
    ),
    ("Windows 10 Pro", "W269N-WFGWX-YVC9B-4J6C9-T83GX"),
    ("Windows 10 Pro N", "MH37W-N47XK-V7XM9-C7227-GCQG9"),
    (
        "Windows 10 Pro for Workstations",
        "NRG8B-VKK3Q-CXVCJ-9G2XF-6Q84J",
    ),
    ("Windows 10 Pro Education", "6TP4R-GNPTD-KYYHQ-7B7DP-J447Y"),
    ("Windows 10 Education", "NW6C2-QMPVW-D7KKK-3GKT6-VCFB2"),
    ("Windows 10 Education N", "2WH4N-8QGBV-H22JP-CT43Q-MDWWJ"),
    ("Windows 10 Enterprise", "NPPR9-FWDCX-D2C8J-H872K-2YT43"),
    ("Windows 10 Enterprise N", "DPH2V-TTNVB-4X9Q3-TJR4H-KHJW4"),
    (
        "Windows 10 Enterprise LTSC 2021",
        "M7XTQ-FN8P6-TTKYV-9D4CC-J462D",
    ),
    (
        "Windows 10 Enterprise LTSC 2019",
        "M7XTQ-FN8P6-TTKYV-9D4CC-J462D",
    ),
    (
        "Windows 10 Enterprise 2016 LTSB",
        "DCPHK-NFMTC-H88MJ-PFHPY-QJ4BJ",
    ),
    (
        "Windows 10 Enterprise 2015 LTSB",
        "WNMTR-4C88C-JK8YV-HQ7T2-76DF9",
    ),
    (
        "Windows 11 Enterprise LTSC 2024",
        "M7XTQ-FN8P6-TTKYV-9D4CC-J462D",
    ),
    ("Windows 8.1 Pro", "GCRJD-8NW9H-F2CDX-CCM8D-9D6T9"),
    ("Windows 8.1 Enterprise", "MHF9N-XY6XB-WVXMC-BTDCT-MKKG7"),
    ("Windows 8 Pro", "NG4HW-VH26C-733KW-K6F98-J8CK4"),
    ("Windows 8 Enterprise", "32JNW-9KQ84-P47T8-D8GGY-CWCK7"),
    ("Windows 7 Professional", "FJ82H-XT6CR-J8D7P-XQJJ2-GPDD4"),
    ("Windows 7 Professional N", "MRPKT-YTG23-K7D7T-X2JMM-QY7MG"),
    ("Windows 7 Enterprise", "33PXH-7Y6KF-2VJC9-XBBR8-HVTHH"),
    ("Windows 7 Enterprise N", "YDRBP-3D83W-TY26F-D46B2-XCKRJ"),
];

/// Where the key goes in `kms-client-setup`'s command.
pub const KEY_PLACEHOLDER: &str = "{kms_key}";

/// The KMS client setup key of a product name, if it has one.
pub fn client_key(product_name: &str) -> Option<&'static str> {
    let name = product_name.trim();
    (CLIENT_KEYS.iter())
        .find(|(product, _)| product.eq_ignore_ascii_case(name))
        .map(|&(_, key)| key)
}

/// `command` with the guest's key in place of [`KEY_PLACEHOLDER`]; an
/// error naming the product when it has no key.
pub fn with_client_key(command: &str, product_name: &str) -> Result<String, NoClientKey> {
    if !command.contains(KEY_PLACEHOLDER) {
        return Ok(command.to_owned());
    }
    let key = client_key(product_name).ok_or_else(|| NoClientKey(product_name.to_owned()))?;
    Ok(command.replace(KEY_PLACEHOLDER, key))
}

/// The guest's edition has no public KMS client setup key.
#[derive(Debug, thiserror::Error)]
#[error(
    "kms-client-setup: \"{0}\" has no public KMS client setup key (only volume editions have \
     one; retail and evaluation editions do not): leave the task out \
     (--disable-sysprep kms-client-setup)"
)]
pub struct NoClientKey(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_follows_the_product_name_whole() {
        assert_eq!(
            client_key("Windows Server 2019 Datacenter"),
            Some("WMDGN-G9PQG-XVVXX-R3X43-63DFG")
        );
        assert_eq!(
            client_key(" windows 10 pro "),
            Some("W269N-WFGWX-YVC9B-4J6C9-T83GX")
        );
        assert_eq!(
            client_key("Windows Server 2019 Datacenter Evaluation"),
            None
        );
        assert_eq!(client_key("Windows 10 Home"), None);
    }

    #[test]
    fn the_command_gets_the_key_or_the_run_names_the_product() {
        let cmd = format!("slmgr.vbs /ipk {KEY_PLACEHOLDER}");
        assert_eq!(
            with_client_key(&cmd, "Windows 7 Enterprise").unwrap(),
            "slmgr.vbs /ipk 33PXH-7Y6KF-2VJC9-XBBR8-HVTHH"
        );
        let err = with_client_key(&cmd, "Windows 10 Home").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("kms-client-setup: \"Windows 10 Home\" has no")
        );
        assert_eq!(with_client_key("echo", "Windows 10 Home").unwrap(), "echo");
    }

    #[test]
    fn every_key_has_the_five_by_five_form() {
        for (product, key) in CLIENT_KEYS {
            let groups: Vec<&str> = key.split('-').collect();
            assert_eq!(groups.len(), 5, "{product}");
            assert!(groups.iter().all(|g| g.len() == 5), "{product}");
        }
    }
}
