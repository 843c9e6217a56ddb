//! The errors of the cloud clients, with a small stable [`ErrorKind`] that
//! front ends branch on. No variant ever carries a token or a secret: the
//! messages are built from URLs without credentials, status codes and the
//! server's own (shortened) error text.

use std::path::PathBuf;

/// What went wrong, in the few classes a caller acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The credentials were refused (wrong or expired token, bad keys).
    Auth,
    /// The named account, cloud or container is not there.
    NotFound,
    /// The object or image exists and overwriting was not asked for.
    Exists,
    /// The server has no room for the data.
    Full,
    /// The server answered with an error we could not get past.
    Server,
    /// The server could not be reached, or the connection broke.
    Network,
    /// Local configuration or files.
    Local,
}

/// An error of a cloud operation.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    /// Authentication was refused.
    #[error("authentication at {url} failed (HTTP {status}): {message}")]
    Auth {
        url: String,
        status: u16,
        message: String,
    },
    /// A request got an error answer.
    #[error("{what} failed (HTTP {status} from {url}): {message}")]
    Status {
        what: String,
        url: String,
        status: u16,
        message: String,
    },
    /// The server could not be reached or the transfer broke, after retries.
    #[error("{what}: cannot reach {url}: {message}")]
    Transport {
        what: String,
        url: String,
        message: String,
    },
    /// Something is missing (container, cloud, image).
    #[error("{0}")]
    NotFound(String),
    /// Something is already there.
    #[error("{0}")]
    Exists(String),
    /// No room left.
    #[error("{0}")]
    Full(String),
    /// The answer did not make sense.
    #[error("{0}")]
    Protocol(String),
    /// Local configuration is wrong.
    #[error("{0}")]
    Config(String),
    /// Reading or writing a local file.
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl CloudError {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CloudError::Auth { .. } => ErrorKind::Auth,
            CloudError::Status { status: 401, .. } | CloudError::Status { status: 403, .. } => {
                ErrorKind::Auth
            }
            CloudError::Status { status: 404, .. } | CloudError::NotFound(_) => ErrorKind::NotFound,
            CloudError::Status { status: 413, .. }
            | CloudError::Status { status: 507, .. }
            | CloudError::Full(_) => ErrorKind::Full,
            CloudError::Status { .. } | CloudError::Protocol(_) => ErrorKind::Server,
            CloudError::Transport { .. } => ErrorKind::Network,
            CloudError::Exists(_) => ErrorKind::Exists,
            CloudError::Config(_) | CloudError::Io { .. } => ErrorKind::Local,
        }
    }

    /// Whether trying the same request again may help (5xx but a full
    /// disk, and broken connections).
    pub fn is_transient(&self) -> bool {
        match self {
            CloudError::Transport { .. } => true,
            CloudError::Status { status, .. } => matches!(status, 500 | 502 | 503 | 504),
            _ => false,
        }
    }

    /// An I/O error on a local path.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path: PathBuf = path.into();
        // tempfile wraps its errors (keeping the kind, not the errno).
        let full = source.raw_os_error() == Some(libc::ENOSPC)
            || matches!(
                source.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            );
        if full {
            return CloudError::Full(format!(
                "no space left on the device holding {}",
                path.display()
            ));
        }
        CloudError::Io { what, path, source }
    }
}

/// Shorten a server's error body to something fit for one line.
pub fn short_message(body: &str) -> String {
    let flat: String = body
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect();
    if flat.is_empty() {
        "no details given".into()
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_transience() {
        let st = |status| CloudError::Status {
            what: "x".into(),
            url: "u".into(),
            status,
            message: "m".into(),
        };
        assert_eq!(st(401).kind(), ErrorKind::Auth);
        assert_eq!(st(507).kind(), ErrorKind::Full);
        assert!(st(503).is_transient());
        assert!(!st(507).is_transient());
        assert!(!st(404).is_transient());
        assert_eq!(short_message("  a\n  b  "), "a b");
        assert_eq!(short_message(""), "no details given");
    }
}
