//! The screens of the stack and their identities: what a screen is for
//! ([`ScreenId`]) and what a menu item stands for ([`Entry`]).

use std::path::PathBuf;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::Widget;

use super::component::Component;
use super::job::RunView;

/// Which screen is on top: what a component's `id()` says, for tests
/// and for the screens under it. It routes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScreenId {
    /// The media browser.
    Browser,
    /// "Do you want to exit?"
    ConfirmExit,
    /// A message with OK that goes back to what was under it.
    Notice,
    /// Initialization failed: OK goes back to the browser.
    InitFailed,
    /// Wizard or expert mode?
    ModeChoice,
    /// Unsupported media: go on in expert mode?
    Unsupported,
    /// The media has a backing chain: use it?
    BackingChain,
    /// Bundle Host: the planned layout, then on?
    BundleHost,
    /// The secret scan found secrets before an upload: go on?
    Secrets,
    /// A wizard page.
    Wizard(super::wizard::Page),
    /// The form adding a cloud (`editing` is `None`) or editing one, in the
    /// wizard or the Register menu.
    AccountForm {
        kind: crate::cloud::config::list::CloudKind,
        editing: Option<String>,
        back: super::accounts::Back,
    },
    /// Add a cloud: which kind?
    CloudKind,
    /// Delete this cloud account?
    ConfirmDeleteAccount(String),
    ExpertMain,
    Customize,
    SysprepTasks,
    SysprepParams,
    /// Editing the value of this parameter.
    SysprepParam(String),
    SysprepHelp,
    SysprepPreview,
    /// Customize → VirtIO: the drivers' directory.
    VirtIO,
    /// The running Mount, under its job's view.
    Mount,
    /// "The guest is mounted on DIR".
    Mounted,
    /// `--no-snapshot`: mount the original media?
    ConfirmMountOriginal,
    Properties,
    /// Editing the value of this property.
    PropertyValue(String),
    PropertyNewKey,
    /// The value of a new property with this name.
    PropertyNewValue(String),
    /// Delete this property?
    ConfirmDeleteProperty(String),
    Exclude,
    ExtractPath,
    ExtractOverwrite(PathBuf),
    Log,
    LogSavePath,
    Help,
    ConfirmReset,
    /// The expert Register menu.
    Register,
    Clouds,
    UploadForm,
    /// Some objects exist: overwrite them?
    ConfirmOverwrite {
        object: String,
        container: String,
    },
    RegisterForm,
    /// Public or private, for a registration of this name and description.
    RegisterPublic {
        name: String,
        description: String,
    },
    Info,
    InfoSavePath,
    /// Expert → Images: every name in the image store.
    Images,
    /// The versions of this image name.
    ImageVersions(String),
    /// Diff: which version to compare with.
    ImageDiffPick,
    ImageTag,
    /// Promote: to which channel.
    ImagePromote,
    /// Production for a version never in test: skip the test channel?
    ConfirmSkipTest,
    ImageShow,
    ImageFiles,
    ImageDiff,
}

/// What a menu item stands for: its identity, never its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A cloud of the list.
    Cloud(crate::cloud::config::list::CloudRef),
    /// A registration type: public or private.
    Public(bool),
}

/// One screen of the stack.
pub enum Screen {
    /// A flow that owns its state (see [`Component`]).
    Component(Box<dyn Component>),
    Running(RunView),
}

impl Screen {
    /// Whether the screen is a dialog, drawn over the one under it.
    pub fn is_dialog(&self) -> bool {
        match self {
            Screen::Component(c) => c.is_dialog(),
            Screen::Running(_) => false,
        }
    }

    pub fn render(&self, area: Rect, buf: &mut Buffer) {
        match self {
            Screen::Component(c) => c.render(area, buf),
            Screen::Running(w) => w.render(area, buf),
        }
    }
}

/// Draw the title bar, the screens of `stack` (a dialog over the screen
/// under it) and the status line.
pub fn draw(stack: &[Screen], status_line: &str, frame: &mut Frame) {
    let [title, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let reversed = Style::new().add_modifier(Modifier::REVERSED);
    let heading = format!(
        "snf-image-creator {}: cloud images from disk images",
        env!("CARGO_PKG_VERSION")
    );
    frame.render_widget(Line::from(heading).style(reversed), title);
    let under = usize::from(stack.last().is_some_and(Screen::is_dialog));
    let from = stack.len().saturating_sub(1 + under);
    for screen in &stack[from..] {
        screen.render(body, frame.buffer_mut());
    }
    frame.render_widget(Line::from(status_line).style(reversed), status);
}
