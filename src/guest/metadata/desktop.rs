//! Graphical desktops: the `GUI` key and the x2go part of
//! `REMOTE_CONNECTION`.
//!
//! A Unix guest has "No GUI" unless an X server launcher is installed in
//! `/bin`, `/usr/bin` or `/usr/local/bin`; then its GUI is the desktops
//! whose session executables are installed there, joined with ` | `, or
//! "Unknown". The original looked for `startx` only; `Xorg` and `Xwayland`
//! count too, since desktop installs started through a display manager
//! often lack xinit. The desktop table follows the original's (itself
//! mostly from Wmconfig), in its order, with its typos fixed and a few
//! newer desktops added (Plasma 5.20+ dropped `startkde`).

use std::collections::BTreeSet;

/// Executables whose presence means an X server (or Wayland's X) can run.
const X_SERVERS: &[&str] = &["startx", "Xorg", "Xwayland"];

/// Desktop sessions: any of the executables → the name shown in `GUI`.
/// The most popular desktops first, as the original ordered them.
const DESKTOPS: &[(&[&str], &str)] = &[
    (
        &["startkde", "startplasma-x11", "startplasma-wayland"],
        "KDE",
    ),
    (&["gnome-session", "gnomesession"], "GNOME"),
    (&["unity"], "Unity"),
    (&["xfce4-session", "startxfce4", "xfwm4"], "Xfce"),
    (&["startlxde", "lxsession"], "LXDE"),
    (&["startlxqt", "lxqt-session"], "LXQt"),
    (&["mate-session"], "MATE"),
    (
        &["cinnamon", "gnome-session-cinnamon", "cinnamon-session"],
        "Cinnamon",
    ),
    (&["budgie-desktop"], "Budgie"),
    (&["startdde"], "Deepin"),
    (&["enlightenment", "enlightenment_start"], "Enlightenment"),
    (&["starttrinity", "starttde"], "TDE"),
    (&["aewm"], "aewm"),
    (&["afterstep"], "AfterStep"),
    (&["amiwm"], "amiwm"),
    (&["awesome"], "awesome"),
    (&["blackbox"], "Blackbox"),
    (&["ctwm"], "CTWM"),
    (&["dwm"], "dwm"),
    (&["epiwm"], "EPIwm"),
    (&["fluxbox", "startfluxbox"], "Fluxbox"),
    (&["flwm"], "FLWM"),
    (&["fvwm", "fvwm2", "fvwm3"], "FVWM"),
    (&["fvwm95"], "FVWM95"),
    (&["golem"], "Golem"),
    (&["i3"], "i3"),
    (&["icewm", "icewm-session"], "IceWM"),
    (&["ion", "ion2", "ion3"], "Ion"),
    (&["jwm"], "JWM"),
    (&["kahakai"], "Kahakai"),
    (&["larswm"], "larswm"),
    (&["mlvwm"], "MLVWM"),
    (&["mwm"], "Motif Window Manager"),
    (&["olvwm"], "OLVWM"),
    (&["olwm"], "OLWM"),
    (&["openbox", "openbox-session"], "Openbox"),
    (&["particleman"], "ParticleMan"),
    (&["pekwm"], "PekWM"),
    (&["pwm", "pwm2", "pwm3"], "PWM"),
    (&["qvwm"], "qvwm"),
    (&["razor-session"], "Razor-qt"),
    (&["ratpoison"], "Ratpoison"),
    (&["sapphire"], "Sapphire"),
    (&["sawfish"], "Sawfish"),
    (&["sithwm"], "SithWM"),
    (&["startede"], "EDE"),
    (&["startstump"], "StumpWM"),
    (&["sway"], "Sway"),
    (&["twm"], "twm"),
    (&["uwm"], "UDE"),
    (&["w9wm"], "w9wm"),
    (&["wmaker"], "Window Maker"),
    (&["wmx"], "wmx"),
    (&["wmi", "wmii"], "wmii"),
    (&["windowlab"], "WindowLab"),
    (&["xmonad"], "xmonad"),
];

/// x2go's session launcher; x2go is offered when it is installed.
const X2GO: &str = "x2goruncommand";

/// The sessions x2go can start → their executables.
const X2GO_SESSIONS: &[(&str, &[&str])] = &[
    ("KDE", &["startkde", "startplasma-x11"]),
    ("GNOME", &["gnome-session"]),
    ("UNITY", &["unity"]),
    ("XFCE", &["xfce4-session"]),
    ("LXDE", &["startlxde"]),
    ("MATE", &["mate-session"]),
    ("CINNAMON", &["cinnamon"]),
    ("TRINITY", &["starttrinity"]),
];

fn any_installed(executables: &BTreeSet<String>, names: &[&str]) -> bool {
    names.iter().any(|n| executables.contains(*n))
}

/// The `GUI` value of a Unix guest, from the names of its executables.
pub(super) fn gui(executables: &BTreeSet<String>) -> String {
    if !any_installed(executables, X_SERVERS) {
        return "No GUI".to_owned();
    }
    let desktops: Vec<&str> = DESKTOPS
        .iter()
        .filter(|(exes, _)| any_installed(executables, exes))
        .map(|&(_, name)| name)
        .collect();
    if desktops.is_empty() {
        "Unknown".to_owned()
    } else {
        desktops.join(" | ")
    }
}

/// The x2go entries of `REMOTE_CONNECTION`: nothing without x2go, one
/// `x2go:session=NAME` per installed session, or a bare `x2go`.
pub(super) fn x2go_entries(executables: &BTreeSet<String>) -> Vec<String> {
    if !executables.contains(X2GO) {
        return Vec::new();
    }
    let sessions: Vec<String> = X2GO_SESSIONS
        .iter()
        .filter(|(_, exes)| any_installed(executables, exes))
        .map(|(name, _)| format!("x2go:session={name}"))
        .collect();
    if sessions.is_empty() {
        vec!["x2go".to_owned()]
    } else {
        sessions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exes(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn no_x_no_gui() {
        assert_eq!(gui(&exes(&["bash", "gnome-session"])), "No GUI");
    }

    #[test]
    fn desktops_in_table_order() {
        assert_eq!(gui(&exes(&["startx"])), "Unknown");
        assert_eq!(
            gui(&exes(&[
                "Xorg",
                "xfce4-session",
                "startplasma-x11",
                "xmonad",
                "startx"
            ])),
            "KDE | Xfce | xmonad"
        );
        assert_eq!(gui(&exes(&["Xwayland", "gnome-session"])), "GNOME");
    }

    #[test]
    fn x2go() {
        assert!(x2go_entries(&exes(&["startx", "gnome-session"])).is_empty());
        assert_eq!(x2go_entries(&exes(&[X2GO])), ["x2go"]);
        assert_eq!(
            x2go_entries(&exes(&[X2GO, "xfce4-session", "gnome-session"])),
            ["x2go:session=GNOME", "x2go:session=XFCE"]
        );
    }

    #[test]
    fn table_is_sane() {
        let mut seen = BTreeSet::new();
        for (exes, name) in DESKTOPS {
            assert!(!exes.is_empty() && !name.is_empty());
            for exe in *exes {
                assert!(seen.insert(*exe), "{exe} listed twice");
            }
        }
    }
}
