//! The requests the UI's runs are built from: the options every run shares,
//! and the export with the user's edits.

use std::path::Path;

use super::app::Facts;
use crate::plan::{Request, TreeRequest};

impl Facts {
    /// The options every run shares. A run on the session's own overlay
    /// names the original it was made of, whose chain is what is checked.
    pub fn base_request(&self, media: &Path) -> Request {
        let own_overlay = self.mount.scratch.as_ref().and_then(|s| s.overlay());
        let overlay_of = (self.session.as_ref())
            .filter(|_| own_overlay == Some(media))
            .map(|s| s.source.clone());
        Request {
            source: media.to_owned(),
            tmpdir: self.opts.tmpdir.clone(),
            no_snapshot: self.opts.no_snapshot,
            allow_backing_file: self.chain.allowed_for.as_deref()
                == Some(overlay_of.as_deref().unwrap_or(media)),
            overlay_of,
            tree: TreeRequest {
                snapshot_root: self.snapshot_root && media == Path::new("/"),
                ..TreeRequest::default()
            },
            ..Request::default()
        }
    }

    /// The request of a run that exports with the user's edits.
    pub fn export_request(&self, out: &Path) -> Option<Request> {
        let session = self.session.as_ref()?;
        Some(Request {
            outfile: Some(out.to_owned()),
            force: true,
            allow_unsupported: session.unsupported.is_some(),
            metadata: self
                .edits
                .set
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
            unset: self.edits.unset.iter().cloned().collect(),
            sysprep: self.sysprep_request(),
            ..self.base_request(&self.work_source()?)
        })
    }
}

/// The command line's words in validation messages, and the UI's, in the
/// order they are replaced (longer phrases first).
const UI_WORDS: &[(&str, &str)] = &[
    (
        "is given to both --enable-sysprep and --disable-sysprep",
        "is both switched on and off",
    ),
    ("(see --print-syspreps)", "(see Customize → Sysprep)"),
    (
        "(see --print-sysprep-params)",
        "(see Customize → Sysprep → Parameters)",
    ),
    (
        " (refused even with -f): choose another -o",
        ": choose another file name",
    ),
    (
        "use -f to overwrite it, or choose another -o",
        "choose another file name",
    ),
    ("--enable-sysprep ", "system preparation task "),
    ("--disable-sysprep ", "system preparation task "),
    ("--sysprep-param ", "parameter "),
    ("--install-virtio ", "VirtIO driver directory "),
    ("-o ", "file "),
    ("-u ", "object name "),
    ("-r: ", ""),
    ("-m ", "property "),
    ("--container ", "container "),
];

/// A validation message as the UI says it: where it names a command-line
/// option, the UI names what the user filled in instead.
pub fn in_ui_words(message: &str) -> String {
    let mut text = message.to_owned();
    for (cli, ui) in UI_WORDS {
        text = replace_words(&text, cli, ui);
    }
    text
}

/// `text` with `from` replaced; an option only where it starts a word.
fn replace_words(text: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let before = match at {
            0 => out.chars().last(),
            _ => rest[..at].chars().last(),
        };
        let starts_word = !from.starts_with('-') || before.is_none_or(|c| c == ' ' || c == '(');
        out.push_str(&rest[..at]);
        out.push_str(if starts_word { to } else { from });
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::in_ui_words;

    #[test]
    fn refusals_name_what_the_ui_shows_not_flags() {
        let said = in_ui_words(
            "--enable-sysprep nope: no such system preparation task (see --print-syspreps)",
        );
        assert_eq!(
            said,
            "system preparation task nope: no such system preparation task (see Customize → Sysprep)"
        );
        let said = in_ui_words(
            "-o /a.img: /a.img is the same file as the input /a.img, which must never be written to (refused even with -f): choose another -o",
        );
        assert!(!said.contains("-o") && !said.contains("-f"), "{said}");
        assert!(said.starts_with("file /a.img:"), "{said}");
        assert_eq!(in_ui_words("--no-sysprep-o x"), "--no-sysprep-o x");
        let said = in_ui_words("--install-virtio /gone: reading /gone");
        assert_eq!(said, "VirtIO driver directory /gone: reading /gone");
    }
}
