//! `--print-syspreps` and `--print-sysprep-params`: their texts, in the
//! original's layout, and their JSON documents.

use serde_json::json;

use super::{PARAMS, Params, Selection, Task};
use crate::progress::Listing;

/// The tasks, enabled first: `{"syspreps": [{"name", "enabled", "default",
/// "description", "params"}…]}` beside the text.
pub fn tasks(tasks: &[&Task], selection: &Selection) -> Listing {
    let mut rows: Vec<&&Task> = tasks.iter().collect();
    rows.sort_by_key(|t| !selection.enabled(t));
    let rows: Vec<serde_json::Value> = (rows.into_iter())
        .map(|t| {
            json!({
                "name": t.name,
                "enabled": selection.enabled(t),
                "default": t.default,
                "description": t.description,
                "params": t.params,
            })
        })
        .collect();
    Listing {
        text: tasks_text(tasks, selection),
        json: json!({ "syspreps": rows }),
    }
}

/// The parameters: `{"sysprep_params": [{"name", "type", "default",
/// "value", "description"}…]}` beside the text.
pub fn params(params: &Params) -> Listing {
    let rows: Vec<serde_json::Value> = (PARAMS.iter())
        .map(|p| {
            json!({
                "name": p.name,
                "type": p.kind.name(),
                "default": p.default,
                "value": params.shown(p.name),
                "description": p.description,
            })
        })
        .collect();
    Listing {
        text: params_text(params),
        json: json!({ "sysprep_params": rows }),
    }
}

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

    #[test]
    fn json_documents_name_their_listing() {
        let table = crate::sysprep::tasks_for(&Profile::Linux(LinuxFlavor::Generic));
        let selection = Selection::new(&["cleanup-mail".into()], &["cleanup-tmp".into()]).unwrap();
        let listed = tasks(&table, &selection).json;
        let rows = listed["syspreps"].as_array().unwrap();
        assert_eq!(rows.len(), table.len());
        let row = |name: &str| rows.iter().find(|r| r["name"] == name).unwrap().clone();
        assert_eq!(row("cleanup-mail")["enabled"], true);
        assert_eq!(row("cleanup-mail")["default"], false);
        assert_eq!(row("cleanup-tmp")["enabled"], false);
        let first_disabled = rows.iter().position(|r| r["enabled"] == false).unwrap();
        assert!(rows[first_disabled..].iter().all(|r| r["enabled"] == false));

        let params = params(&Params::from_assignments(&["bootmenu_timeout=3".into()]).unwrap());
        let rows = params.json["sysprep_params"].as_array().unwrap();
        let boot = rows
            .iter()
            .find(|r| r["name"] == "bootmenu_timeout")
            .unwrap();
        assert_eq!(
            (boot["value"].as_str(), boot["default"].as_str()),
            (Some("3"), Some("10"))
        );
        assert_eq!(boot["type"], "posint");
    }
}
