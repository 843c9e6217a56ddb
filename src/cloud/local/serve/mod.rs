//! `serve`: the local store over HTTP, speaking the parts of the Synnefo
//! APIs that kamaki and our own client use: Astakos (token → user and
//! service catalog), Pithos (containers, objects, the hashmap upload with
//! its 409 list of missing blocks, block `POST ?update`, sharing, ranged
//! reads) and Plankton (register, list, show, unregister). This is the
//! team image server; `snf-image-creator images` and kamaki read it.
//!
//! Requests are served by a few threads; every change to the store is an
//! atomic rename, so concurrent uploads of shared blocks are safe. The
//! request log holds methods, paths and status codes, never headers.

mod astakos;
mod images;
mod pithos;

#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use pithos::{parse_hashmap, parse_range};

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use percent_encoding::percent_decode_str;

use crate::cloud::error::{CloudError, ErrorKind};
use crate::cloud::ids;
use crate::cloud::local::store::Store;

/// Worker threads answering requests.
const WORKERS: usize = 8;
/// The largest request body buffer allocated before any of it arrives.
const MAX_PRESIZE: usize = 64 << 20;
/// The largest request body read into memory (a block, a hashmap, a JSON
/// request); object data is streamed to the store instead.
const MAX_BODY: u64 = 64 << 20;

/// Who a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub uuid: String,
    pub name: String,
}

/// The tokens the server accepts.
#[derive(Debug, Clone, Default)]
pub struct Tokens(HashMap<String, User>);

impl Tokens {
    /// Read a token file: one `TOKEN UUID [NAME]` per line, `#` comments.
    pub fn load(path: &Path) -> Result<Tokens, CloudError> {
        let text = crate::untrusted::read_text(path, crate::untrusted::CONFIG_LIMIT)
            .map_err(|e| CloudError::io("reading", path, e))?;
        let mut map = HashMap::new();
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let mut parts = line.split_whitespace();
            let (Some(token), Some(uuid)) = (parts.next(), parts.next()) else {
                return Err(CloudError::Config(format!(
                    "{}: each line must be `TOKEN UUID [NAME]'",
                    path.display()
                )));
            };
            let name = parts.next().unwrap_or(uuid).to_owned();
            map.insert(
                token.to_owned(),
                User {
                    uuid: uuid.to_owned(),
                    name,
                },
            );
        }
        Ok(Tokens(map))
    }

    /// The token file to use: `path`, or the store's `tokens` file, which
    /// is created with one fresh token for the store's owner (mode 0600).
    pub fn load_or_create(
        store: &Store,
        path: Option<&Path>,
    ) -> Result<(Tokens, PathBuf), CloudError> {
        if let Some(p) = path {
            return Ok((Self::load(p)?, p.to_owned()));
        }
        let Some(dir) = store.local_dir() else {
            return Err(CloudError::Config(format!(
                "serve takes a store in a directory, not {}",
                store.describe()
            )));
        };
        let p = dir.join("tokens");
        if !p.exists() {
            let token = ids::token().map_err(|e| CloudError::io("reading", "/dev/urandom", e))?;
            let text = format!("# TOKEN UUID NAME\n{token} {} local\n", store.owner());
            crate::cloud::config::write_private(&p, &text)?;
        }
        Ok((Self::load(&p)?, p))
    }

    fn user(&self, token: &str) -> Option<&User> {
        self.0.get(token)
    }
}

/// Where the server sends its request log lines.
pub type Log = Arc<dyn Fn(String) + Send + Sync>;

/// A running server.
pub struct Server {
    http: Arc<tiny_http::Server>,
    addr: SocketAddr,
    workers: Vec<std::thread::JoinHandle<()>>,
}

/// What a handler answers.
pub(crate) struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Body,
}

pub(crate) enum Body {
    Empty,
    Bytes(Vec<u8>),
    /// A stream of `len` bytes (object data).
    Stream(Box<dyn Read + Send>, usize),
}

impl Answer {
    pub(crate) fn new(status: u16) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    pub(crate) fn header(mut self, k: &str, v: impl Into<String>) -> Answer {
        self.headers.push((k.to_owned(), v.into()));
        self
    }

    pub(crate) fn json(status: u16, v: &serde_json::Value) -> Answer {
        let mut a = Answer::new(status).header("Content-Type", "application/json; charset=utf-8");
        a.body = Body::Bytes(v.to_string().into_bytes());
        a
    }

    pub(crate) fn text(status: u16, t: impl Into<String>) -> Answer {
        let mut a = Answer::new(status).header("Content-Type", "text/plain; charset=utf-8");
        a.body = Body::Bytes(t.into().into_bytes());
        a
    }

    pub(crate) fn body(mut self, b: Body) -> Answer {
        self.body = b;
        self
    }

    /// An error answer for a store error.
    pub(crate) fn from_error(e: &CloudError) -> Answer {
        if e.kind() == ErrorKind::Full {
            // Server paths are nobody else's business.
            return Answer::text(507, "no space left on the server");
        }
        let status = match e.kind() {
            ErrorKind::NotFound => 404,
            ErrorKind::Full => 507,
            ErrorKind::Auth => 403,
            ErrorKind::Exists => 409,
            ErrorKind::Server | ErrorKind::Local => match e {
                CloudError::Protocol(_) | CloudError::Config(_) => 400,
                _ => 500,
            },
            _ => 500,
        };
        Answer::text(status, e.to_string())
    }
}

/// One request, as the handlers see it.
pub(crate) struct Call<'a> {
    pub method: String,
    /// The decoded path segments after the service prefix.
    pub path: Vec<String>,
    pub query: HashMap<String, String>,
    pub req: &'a mut tiny_http::Request,
    pub store: &'a Store,
    pub tokens: &'a Tokens,
    /// `http://host:port`, from the Host header.
    pub base: String,
}

impl Call<'_> {
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.req
            .headers()
            .iter()
            .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str().to_owned())
    }

    /// All headers whose name starts with `prefix` (lower-cased names).
    pub(crate) fn headers_with(&self, prefix: &str) -> Vec<(String, String)> {
        self.req
            .headers()
            .iter()
            .filter_map(|h| {
                let name = h.field.as_str().as_str().to_ascii_lowercase();
                name.starts_with(prefix)
                    .then(|| (name, h.value.as_str().to_owned()))
            })
            .collect()
    }

    /// The user of the request's token.
    pub(crate) fn user(&self) -> Option<User> {
        self.header("X-Auth-Token")
            .and_then(|t| self.tokens.user(&t).cloned())
    }

    pub(crate) fn read_body(&mut self) -> Result<Vec<u8>, Answer> {
        // Sized up front: a block is read without growing the buffer.
        let len = self.req.body_length().unwrap_or(0).min(MAX_PRESIZE);
        let mut body = Vec::with_capacity(len);
        self.req
            .as_reader()
            .take(MAX_BODY + 1)
            .read_to_end(&mut body)
            .map_err(|e| Answer::text(400, format!("reading the request body: {e}")))?;
        if body.len() as u64 > MAX_BODY {
            return Err(Answer::text(
                413,
                format!("the request body is larger than {MAX_BODY} bytes"),
            ));
        }
        Ok(body)
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.query.contains_key(key)
    }
}

pub(crate) fn unauthorized() -> Answer {
    Answer::json(
        401,
        &serde_json::json!({"unauthorized": {"code": 401, "message": "Invalid token", "details": ""}}),
    )
}

impl Server {
    /// Bind `listen` and start answering requests from the store at `root`.
    pub fn start(
        root: &Path,
        listen: &str,
        tokens: Tokens,
        log: Log,
    ) -> Result<Server, CloudError> {
        let store = Arc::new(Store::open(root)?);
        let http = tiny_http::Server::http(listen)
            .map_err(|e| CloudError::Config(format!("cannot listen on {listen}: {e}")))?;
        let addr = http
            .server_addr()
            .to_ip()
            .ok_or_else(|| CloudError::Config(format!("{listen} is not an IP address")))?;
        let http = Arc::new(http);
        let tokens = Arc::new(tokens);
        let workers = (0..WORKERS)
            .map(|_| {
                let (http, store, tokens) = (http.clone(), store.clone(), tokens.clone());
                let log = log.clone();
                std::thread::spawn(move || {
                    while let Ok(req) = http.recv() {
                        log(handle(req, &store, &tokens));
                    }
                })
            })
            .collect();
        Ok(Server {
            http,
            addr,
            workers,
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Astakos URL to give clients (`-a`, kamaki's `url`).
    pub fn identity_url(&self) -> String {
        format!("http://{}/identity/v2.0", self.addr)
    }

    /// Serve until the process is stopped.
    pub fn wait(mut self) {
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.http.unblock();
        for _ in 0..self.workers.len() {
            self.http.unblock();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// Answer one request; returns its log line.
fn handle(mut req: tiny_http::Request, store: &Store, tokens: &Tokens) -> String {
    let method = req.method().as_str().to_uppercase();
    let url = req.url().to_owned();
    let (path, segments, query) = parse_target(&url);
    let host = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Host"))
        .map(|h| h.value.as_str().to_owned())
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    let head = method == "HEAD";
    let answer = {
        let mut call = Call {
            method: method.clone(),
            path: Vec::new(),
            query,
            req: &mut req,
            store,
            tokens,
            base: format!("http://{host}"),
        };
        route(&mut call, &segments)
    };
    let status = answer.status;
    respond(req, answer, head);
    format!("{method} {path} {status}")
}

fn route(call: &mut Call<'_>, segs: &[String]) -> Answer {
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    match s.as_slice() {
        ["identity", "v2.0", "tokens"] | ["identity", "v2.0", "tokens", ""] => {
            astakos::tokens(call)
        }
        ["account", "v1.0", "user_catalogs"] => astakos::user_catalogs(call),
        ["object-store", "v1", rest @ ..] => {
            call.path = rest.iter().map(|x| x.to_string()).collect();
            pithos::dispatch(call)
        }
        ["image", "v1.0", "images", rest @ ..] => {
            call.path = rest.iter().map(|x| x.to_string()).collect();
            images::dispatch(call)
        }
        _ => Answer::text(404, "no such API"),
    }
}

fn respond(req: tiny_http::Request, a: Answer, head: bool) {
    let headers: Vec<tiny_http::Header> = a
        .headers
        .iter()
        .filter_map(|(k, v)| tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).ok())
        .collect();
    let status = tiny_http::StatusCode(a.status);
    let (reader, len): (Box<dyn Read + Send>, usize) = match a.body {
        Body::Empty => (Box::new(std::io::empty()), 0),
        Body::Bytes(b) => {
            let n = b.len();
            (Box::new(std::io::Cursor::new(b)), n)
        }
        Body::Stream(r, n) if head => {
            drop(r);
            (Box::new(std::io::empty()), n)
        }
        Body::Stream(r, n) => (r, n),
    };
    let resp = tiny_http::Response::new(status, headers, reader, Some(len), None);
    let _ = req.respond(resp);
}

/// A request target (`/a/b%20c?k=v`): its path, the path's decoded
/// segments after the leading `/`, and the decoded query.
pub(crate) fn parse_target(url: &str) -> (&str, Vec<String>, HashMap<String, String>) {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let segments = path
        .split('/')
        .skip(1)
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    (path, segments, parse_query(query))
}

fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let d = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (d(k), d(v))
        })
        .collect()
}
