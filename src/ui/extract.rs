//! Expert → Extract: where to save the image, a question before
//! overwriting an image or its side files, the run, and the files it wrote.
//! A name that is one of the files the media reads is refused.

use std::path::{Path, PathBuf};

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::app::{Facts, ScreenId};
use super::component::{Action, Component, start_or_refuse};
use super::job::{JobKind, JobResult, job_error};
use super::widgets::{Btn, Dialog, Input, Reply};

/// The Extract flow.
pub struct Extract {
    path: Input,
    /// The file that exists, with the question, while asking.
    overwrite: Option<(PathBuf, Dialog)>,
}

impl Extract {
    /// The prompt, with the OS's name as the file's.
    pub fn new(facts: &Facts) -> Extract {
        let name = facts.os_display_name();
        let path = Input::new(
            "Extract",
            "Save image as:",
            &format!("{name}.diskdump"),
            &[Btn::Ok, Btn::Cancel],
        );
        Extract {
            path,
            overwrite: None,
        }
    }

    /// The path typed, or why it cannot be written.
    fn checked_path(&self, facts: &Facts) -> anyhow::Result<PathBuf> {
        let path = PathBuf::from(self.path.value.trim());
        if path.as_os_str().is_empty() || path.is_dir() {
            anyhow::bail!("Give the name of a file, not a directory.");
        }
        if let Some(c) = facts.clash_with_media(&path) {
            anyhow::bail!(
                "{} is {}, which is never written to. Give another name.",
                c.output.display(),
                c.input.display()
            );
        }
        Ok(path)
    }

    fn on_path(&mut self, facts: &Facts) -> Vec<Action> {
        let path = match self.checked_path(facts) {
            Ok(p) => p,
            // The field stays, so the answer can be mended.
            Err(why) => return vec![Action::notice("Extract", format!("{why:#}"))],
        };
        let existing = crate::plan::output_paths(&path)
            .into_iter()
            .find(|p| p.exists());
        let Some(existing) = existing else {
            return start(&path, facts);
        };
        let text = format!(
            "{} already exists. Overwrite the image and its side files?",
            existing.display()
        );
        let dialog = Dialog::new("Overwrite?", &text, &[Btn::Yes, Btn::No]).defaulting_to(Btn::No);
        self.overwrite = Some((path, dialog));
        Vec::new()
    }
}

fn start(path: &Path, facts: &Facts) -> Vec<Action> {
    match facts.export_request(path) {
        Some(request) => start_or_refuse(
            JobKind::Extract,
            "Image Extraction",
            request,
            Default::default(),
        ),
        None => vec![Action::Pop],
    }
}

impl Component for Extract {
    fn id(&self) -> ScreenId {
        match &self.overwrite {
            Some((path, _)) => ScreenId::ExtractOverwrite(path.clone()),
            None => ScreenId::ExtractPath,
        }
    }

    fn on_key(&mut self, key: KeyEvent, facts: &mut Facts) -> Vec<Action> {
        if let Some((path, dialog)) = &mut self.overwrite {
            return match dialog.on_key(key) {
                Reply::None => Vec::new(),
                Reply::Button(Btn::Yes) => start(path, facts),
                _ => vec![Action::Pop],
            };
        }
        match self.path.on_key(key) {
            Reply::None => Vec::new(),
            Reply::Button(Btn::Ok) => self.on_path(facts),
            _ => vec![Action::Pop],
        }
    }

    /// The run ended: list the files, or say what went wrong.
    fn on_job_done(&mut self, result: JobResult, _: &str, _: &mut Facts) -> Vec<Action> {
        let notice = match result {
            Ok(outcome) => {
                let files: Vec<String> = (outcome.written.iter())
                    .map(|p| format!(" * {}", p.display()))
                    .collect();
                let text = format!("The image was extracted:\n{}", files.join("\n"));
                Action::notice("Image Extraction", text)
            }
            Err(e) => Action::notice("Image Extraction failed", job_error(&e)),
        };
        vec![Action::Pop, notice]
    }

    fn render(&self, area: Rect, buf: &mut Buffer) {
        match &self.overwrite {
            Some((_, dialog)) => dialog.render(area, buf),
            None => self.path.render(area, buf),
        }
    }

    fn is_dialog(&self) -> bool {
        self.overwrite.is_some()
    }
}
