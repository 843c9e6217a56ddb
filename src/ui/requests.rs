//! The requests the UI's runs are built from: the options every run shares,
//! and the export with the user's edits.

use std::path::Path;

use super::app::Facts;
use crate::plan::Request;

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
