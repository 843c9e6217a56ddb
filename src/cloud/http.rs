//! The HTTP layer of the cloud clients: one blocking client with
//! timeouts, and requests retried on the failures that retrying can fix
//! (connection errors, timeouts, 500/502/503/504) with a bounded,
//! logged exponential backoff. Each attempt rebuilds its request, so
//! bodies are never half-consumed. Nothing here ever logs a header value:
//! tokens travel only in headers.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::HeaderMap;

use crate::cloud::Secret;
use crate::cloud::error::{CloudError, short_message};

/// Attempts per request, the first included.
const ATTEMPTS: u32 = 5;
/// The first backoff; it doubles after each failed attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Seconds a request may take before it is given up and retried
/// (`SNF_HTTP_TIMEOUT` overrides the default of 300).
pub const TIMEOUT_ENV: &str = "SNF_HTTP_TIMEOUT";

/// A finished exchange, body read.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The URL, for messages (no credentials in it).
    pub url: String,
}

impl Reply {
    /// One header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// This reply as an error of `what`.
    pub fn error(&self, what: &str) -> CloudError {
        CloudError::Status {
            what: what.to_owned(),
            url: self.url.clone(),
            status: self.status,
            message: short_message(&self.text()),
        }
    }

    /// The body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, CloudError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            CloudError::Protocol(format!(
                "{what}: the answer from {} is not the expected JSON: {e}",
                self.url
            ))
        })
    }
}

/// The client, plus the retry notes not yet shown to the user.
pub struct Http {
    client: Client,
    notes: Mutex<Vec<String>>,
}

impl Http {
    /// A client with connect and read timeouts.
    pub fn new() -> Result<Http, CloudError> {
        let client = Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(request_timeout())
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("snf-image-creator/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CloudError::Config(format!("setting up the HTTP client: {e}")))?;
        Ok(Http {
            client,
            notes: Mutex::new(Vec::new()),
        })
    }

    /// The underlying client, to build requests with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Retry notes gathered since the last call (for the reporter).
    pub fn take_notes(&self) -> Vec<String> {
        self.notes
            .lock()
            .map(|mut n| std::mem::take(&mut *n))
            .unwrap_or_default()
    }

    fn note(&self, msg: String) {
        if let Ok(mut n) = self.notes.lock() {
            n.push(msg);
        }
    }

    /// The one way the cloud clients make a request: send what `build`
    /// makes (rebuilt for every attempt), retrying transient failures, and
    /// pass the reply only if its status is one of `ok`. Any other status
    /// is an error naming `what` (which names the object), the URL
    /// without credentials and the server's short message; 401 and 403
    /// are of [`ErrorKind::Auth`](crate::cloud::ErrorKind::Auth).
    pub fn call(
        &self,
        what: &str,
        ok: &[u16],
        build: &dyn Fn(&Client) -> RequestBuilder,
    ) -> Result<Reply, CloudError> {
        let reply = self.send(what, build)?;
        if ok.contains(&reply.status) {
            Ok(reply)
        } else {
            Err(reply.error(what))
        }
    }

    /// [`Http::call`] for a HEAD or GET that tells whether something is
    /// there: `true` on 200 or 204, `false` on 404.
    pub fn exists(
        &self,
        what: &str,
        build: &dyn Fn(&Client) -> RequestBuilder,
    ) -> Result<bool, CloudError> {
        Ok(self.call(what, &[200, 204, 404], build)?.status != 404)
    }

    /// [`Http::call`] for a request that checks credentials: a refusal
    /// (401, 403) becomes [`CloudError::Auth`] with `hint`, which says
    /// what to check.
    pub fn authenticate(
        &self,
        what: &str,
        ok: &[u16],
        hint: &str,
        build: &dyn Fn(&Client) -> RequestBuilder,
    ) -> Result<Reply, CloudError> {
        self.call(what, ok, build).map_err(|e| match e {
            CloudError::Status {
                url,
                status: status @ (401 | 403),
                ..
            } => CloudError::Auth {
                url,
                status,
                message: hint.to_owned(),
            },
            other => other,
        })
    }

    /// Send the request `build` makes, retrying transient failures.
    fn send(
        &self,
        what: &str,
        build: &dyn Fn(&Client) -> RequestBuilder,
    ) -> Result<Reply, CloudError> {
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            let result = self.once(what, build);
            let transient = match &result {
                Ok(r) => matches!(r.status, 500 | 502 | 503 | 504),
                Err(e) => e.is_transient(),
            };
            if !transient || attempt == ATTEMPTS {
                return match result {
                    Ok(r) if transient => Err(r.error(what)),
                    other => other,
                };
            }
            let why = match &result {
                Ok(r) => format!("HTTP {} from {}", r.status, r.url),
                Err(e) => e.to_string(),
            };
            self.note(format!(
                "{what}: {why} (attempt {attempt} of {ATTEMPTS}); retrying in {:.2} s",
                backoff.as_secs_f64()
            ));
            // Backing off gives a restarting or overloaded server time.
            std::thread::sleep(backoff);
            backoff *= 2;
        }
        unreachable!("the last attempt always returns")
    }

    fn once(
        &self,
        what: &str,
        build: &dyn Fn(&Client) -> RequestBuilder,
    ) -> Result<Reply, CloudError> {
        let req = build(&self.client)
            .build()
            .map_err(|e| CloudError::Protocol(format!("{what}: building the request: {e}")))?;
        let url = display_url(req.url());
        let transport = |e: reqwest::Error| CloudError::Transport {
            what: what.to_owned(),
            url: url.clone(),
            message: describe(&e),
        };
        let resp = self.client.execute(req).map_err(transport)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().map_err(transport)?.to_vec();
        Ok(Reply {
            status,
            headers,
            body,
            url,
        })
    }
}

/// What authentication taught a backend, once it has authenticated.
pub fn session<T>(cell: &OnceLock<T>) -> Result<&T, CloudError> {
    cell.get()
        .ok_or_else(|| CloudError::Protocol("not authenticated yet".into()))
}

/// A request carrying `token` as `X-Auth-Token` (Astakos, Keystone),
/// when there is one.
pub fn with_token(b: RequestBuilder, token: Option<&Secret>) -> RequestBuilder {
    match token {
        Some(t) => b.header("X-Auth-Token", t.expose()),
        None => b,
    }
}

fn request_timeout() -> Duration {
    let secs = std::env::var(TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&s| s > 0)
        .unwrap_or(300);
    Duration::from_secs(secs)
}

/// A URL for messages: scheme, host and path, without credentials or query.
pub fn display_url(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.to_string()
}

/// A reqwest error in a few words, without its URL (we show our own).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "transfer failed"
    };
    let mut root: &dyn std::error::Error = e;
    while let Some(s) = root.source() {
        root = s;
    }
    format!("{kind} ({root})")
}
