//! The one list of clouds the wizard's Clouds page and the Register menu's
//! Cloud screen show: [`crate::cloud::config::list`]'s, each named as
//! `--cloud` names it and described with its kind.

use super::app::{Entry, Facts};
use super::widgets::Menu;
use crate::cloud::config::list::{self, CloudRef, Listed};

/// The clouds, read once and kept until a cloud is saved or deleted.
pub fn listed(facts: &mut Facts) -> Vec<Listed> {
    let paths = facts.cloud.paths.clone();
    (facts.clouds.get_or_insert_with(|| list::list(&paths))).clone()
}

/// The clouds as menu items: the `--cloud` name, then the kind and what
/// the cloud is.
pub fn items(listed: Vec<Listed>) -> Vec<(Entry, String, String)> {
    (listed.into_iter())
        .map(|l| {
            let name = l.cloud.arg().unwrap_or_else(|| "local".into());
            let about = match l.cloud {
                CloudRef::Local => l.about,
                ref c => format!("{}: {}", c.kind().title(), l.about),
            };
            (Entry::Cloud(l.cloud), name, about)
        })
        .collect()
}

/// The cloud a menu of clouds is on.
pub fn current(menu: &Menu<Entry>) -> Option<CloudRef> {
    match menu.current() {
        Some(Entry::Cloud(cloud)) => Some(cloud.clone()),
        _ => None,
    }
}
