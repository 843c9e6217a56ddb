//! The texts of `--print-syspreps` and `--print-sysprep-params`, in the
//! original's layout.

use super::{PARAMS, Params, Selection, Task};

/// Wrap `text` at `width` columns.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("never empty");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word.to_owned());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

/// "Enabled system preparation operations:" then the disabled ones, each
/// `    name:` with its description tab-indented and wrapped at 72 columns.
pub fn tasks_text(tasks: &[&Task], selection: &Selection) -> String {
    let mut text = String::new();
    for (title, on) in [("Enabled", true), ("Disabled", false)] {
        text.push_str(&format!("{title} system preparation operations:\n"));
        let chosen: Vec<&&Task> = tasks
            .iter()
            .filter(|t| selection.enabled(t) == on)
            .collect();
        if chosen.is_empty() {
            text.push_str("(none)\n");
        }
        for t in chosen {
            text.push_str(&format!("    {}:\n", t.name));
            for line in wrap(t.description, 72) {
                text.push_str(&format!("\t{line}\n"));
            }
        }
        text.push('\n');
    }
    text
}

/// "System preparation parameters:" then, per parameter, `NAME:`,
/// `DESCRIPTION:`, `TYPE:` and `VALUE:` with the labels padded to 13.
pub fn params_text(params: &Params) -> String {
    let mut text = String::from("System preparation parameters:\n\n");
    for p in PARAMS {
        for (label, value) in [
            ("NAME:", p.name.to_owned()),
            ("DESCRIPTION:", p.description.to_owned()),
            ("TYPE:", p.kind.name()),
            ("VALUE:", params.shown(p.name).to_owned()),
        ] {
            text.push_str(&format!("    {label:<13}{value}\n"));
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::profile::{LinuxFlavor, Profile};

    #[test]
    fn layouts() {
        let tasks = crate::sysprep::tasks_for(&Profile::Linux(LinuxFlavor::Generic));
        let text = tasks_text(&tasks, &Selection::default());
        let disabled = text
            .find("Disabled system preparation operations:")
            .unwrap();
        assert!(
            text.starts_with(
                "Enabled system preparation operations:\n    cleanup-cache:\n\tRemove"
            )
        );
        assert!(text.find("    cleanup-mail:").unwrap() > disabled);
        assert!(text.lines().all(|l| l.len() <= 73), "{text}");
        let p = params_text(&Params::default());
        assert!(p.contains("    NAME:        bootmenu_timeout\n"), "{p}");
        assert!(
            p.contains("    TYPE:        posint\n    VALUE:       10\n"),
            "{p}"
        );
        assert_eq!(wrap("a b c", 3), ["a b", "c"]);
    }
}
