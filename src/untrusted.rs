//! Input nobody vouches for: files of the user's read with a size limit
//! ([`read_file`]), and YAML (a guest's cloud-init configuration, netplan
//! files, a user's `clouds.yaml`) checked before it is loaded ([`load_yaml`]).
//!
//! `yaml-rust2` copies the node an alias names each time the alias appears,
//! so a few lines of nested aliases ("billion laughs") expand to billions
//! of nodes, and its loader recurses once per nesting level, so deep
//! nesting overflows the stack. [`load_yaml`] first walks the document's events
//! (an iterative parser: no recursion), counting every node as it would
//! be after alias expansion and the nesting depth, and refuses a document
//! past [`MAX_NODES`] or [`MAX_DEPTH`] before anything is built.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::{ScanError, Yaml, YamlLoader};

/// The most nodes (after alias expansion) a document may have.
pub const MAX_NODES: u64 = 100_000;
/// The deepest nesting of sequences and mappings a document may have.
pub const MAX_DEPTH: usize = 64;

/// The most the product reads of a configuration file of the user's
/// (`~/.kamakirc`, `clouds.yaml`, an `authorized_keys` file…).
pub const CONFIG_LIMIT: u64 = 1 << 20;

/// The content of the file at `path`, refused (`InvalidData`) past `limit`
/// bytes. Reads at most `limit + 1` bytes, so a device or a FIFO that never
/// ends cannot fill the memory.
pub fn read_file(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    std::fs::File::open(path)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut data)?;
    if data.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes, the most read of such a file"),
        ));
    }
    Ok(data)
}

/// [`read_file`] as text (lossy UTF-8).
pub fn read_text(path: &Path, limit: u64) -> std::io::Result<String> {
    read_file(path, limit).map(|d| String::from_utf8_lossy(&d).into_owned())
}

/// Why a text is not acceptable YAML.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    #[error("nested more than {MAX_DEPTH} levels deep")]
    TooDeep,
    #[error("more than {MAX_NODES} nodes once its aliases are expanded")]
    TooLarge,
    #[error(transparent)]
    Syntax(#[from] ScanError),
}

/// The documents of `text`, or why it is not acceptable YAML.
pub fn load_yaml(text: &str) -> Result<Vec<Yaml>, YamlError> {
    check(text)?;
    Ok(YamlLoader::load_from_str(text)?)
}

/// Refuse a document that would expand past the limits.
fn check(text: &str) -> Result<(), YamlError> {
    let mut parser = Parser::new_from_str(text);
    // Nodes in each anchored subtree, by anchor id.
    let mut anchored: HashMap<usize, u64> = HashMap::new();
    // Open collections: their anchor and the node count at their start.
    let mut open: Vec<(usize, u64)> = Vec::new();
    let mut nodes: u64 = 0;
    loop {
        let (event, _) = parser.next_token()?;
        let added = match event {
            Event::StreamEnd => return Ok(()),
            Event::Scalar(_, _, anchor, _) => {
                if anchor > 0 {
                    anchored.insert(anchor, 1);
                }
                1
            }
            Event::Alias(id) => anchored.get(&id).copied().unwrap_or(1),
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if open.len() >= MAX_DEPTH {
                    return Err(YamlError::TooDeep);
                }
                open.push((anchor, nodes));
                1
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((anchor, start)) = open.pop()
                    && anchor > 0
                {
                    anchored.insert(anchor, nodes - start);
                }
                0
            }
            _ => 0,
        };
        nodes = nodes.saturating_add(added);
        if nodes > MAX_NODES {
            return Err(YamlError::TooLarge);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_documents_load() {
        let docs = load_yaml("a: [1, 2]\nb: &x {c: d}\ne: *x\n---\n- f\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["e"]["c"].as_str(), Some("d"));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (i, prev) in ('b'..='j').zip('a'..) {
            let refs = vec![format!("*{prev}"); 10].join(", ");
            bomb.push_str(&format!("{i}: &{i} [{refs}]\n"));
        }
        let err = load_yaml(&bomb).unwrap_err().to_string();
        assert!(err.contains("aliases are expanded"), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        // The scanner itself stops flow collections nested past 255.
        assert!(load_yaml(&deep).is_err());
        let flow = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(
            load_yaml(&flow)
                .unwrap_err()
                .to_string()
                .contains("levels deep")
        );
        let mapping = "a:\n".to_owned()
            + &(1..200)
                .map(|i| format!("{}a:\n", " ".repeat(i)))
                .collect::<String>();
        assert!(
            load_yaml(&mapping)
                .unwrap_err()
                .to_string()
                .contains("levels deep")
        );
    }

    #[test]
    fn host_files_are_read_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_file(&path, 5).unwrap(), b"12345");
        let err = read_file(&path, 4).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        // An endless device is cut off, not read to the end.
        let err = read_file(Path::new("/dev/zero"), 1 << 10).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    }

    #[test]
    fn syntax_errors_are_errors() {
        assert!(load_yaml("a: [1, 2\n").is_err());
    }
}
