//! The Pithos subset: account and container listings, container create and
//! HEAD (block size and hash), the hashmap `PUT` (201, or 409 with the
//! missing blocks), block `POST ?update`, plain `PUT` of data, object
//! HEAD/GET (whole, ranged, or as a hashmap), `POST ?update` for sharing
//! and metadata, and DELETE.

use serde_json::{Value, json};

use super::{Answer, Body, Call, User, unauthorized};
use crate::cloud::error::CloudError;
use crate::cloud::ids::rfc3339;
use crate::cloud::local::history::Blocks;
use crate::cloud::local::reader::ObjectReader;
use crate::cloud::local::store::ObjectRecord;
use crate::cloud::pithos::hashmap::{BLOCK_HASH, DEFAULT_BLOCK_SIZE, Hashmap};
use crate::cloud::pithos::transfer::Offer;

/// Route `/object-store/v1/ACCOUNT[/CONTAINER[/OBJECT…]]`.
pub(super) fn dispatch(call: &mut Call<'_>) -> Answer {
    let Some(user) = call.user() else {
        return unauthorized();
    };
    let path = call.path.clone();
    let (account, container, object) = match path.as_slice() {
        [] => return Answer::text(404, "no account"),
        [a, ..] if a.is_empty() => return Answer::text(404, "no account"),
        [a] => (a.as_str(), None, None),
        [a, c] if c.is_empty() => (a.as_str(), None, None),
        [a, c] => (a.as_str(), Some(c.as_str()), None),
        [a, c, rest @ ..] => (a.as_str(), Some(c.as_str()), Some(rest.join("/"))),
    };
    let own = account == user.uuid;
    let reading = matches!(call.method.as_str(), "GET" | "HEAD");
    if !(own || reading && object.is_some()) {
        return Answer::text(403, "not your account");
    }
    let result = match (container, object) {
        (None, _) => account_op(call, account),
        (Some(c), None) => container_op(call, account, c),
        (Some(c), Some(o)) => object_op(call, &user, account, c, &o),
    };
    result.unwrap_or_else(|e| Answer::from_error(&e))
}

fn account_op(call: &mut Call<'_>, account: &str) -> Result<Answer, CloudError> {
    let names = call.store.containers(account)?;
    match call.method.as_str() {
        "HEAD" => Ok(Answer::new(204).header("X-Account-Container-Count", names.len().to_string())),
        "GET" if call.query.get("format").map(String::as_str) == Some("json") => {
            let list: Vec<Value> = names
                .iter()
                .map(|n| {
                    let objs = call.store.objects(account, n).unwrap_or_default();
                    let bytes: u64 = objs.iter().map(|o| o.bytes).sum();
                    json!({"name": n, "count": objs.len(), "bytes": bytes})
                })
                .collect();
            Ok(Answer::json(200, &json!(list)))
        }
        "GET" => Ok(listing(&names)),
        _ => Ok(Answer::text(405, "method not allowed")),
    }
}

fn listing(names: &[String]) -> Answer {
    if names.is_empty() {
        return Answer::new(204);
    }
    Answer::text(
        200,
        names.iter().map(|n| format!("{n}\n")).collect::<String>(),
    )
}

fn container_op(call: &mut Call<'_>, account: &str, container: &str) -> Result<Answer, CloudError> {
    let store = call.store;
    if call.method == "PUT" {
        let created = store.create_container(account, container)?;
        return Ok(Answer::new(if created { 201 } else { 202 }));
    }
    if !store.container_exists(account, container) {
        return Ok(Answer::text(
            404,
            format!("container {container} does not exist"),
        ));
    }
    match call.method.as_str() {
        "HEAD" => {
            let objs = store.objects(account, container)?;
            Ok(Answer::new(204)
                .header("X-Container-Block-Size", DEFAULT_BLOCK_SIZE.to_string())
                .header("X-Container-Block-Hash", BLOCK_HASH)
                .header("X-Container-Object-Count", objs.len().to_string())
                .header(
                    "X-Container-Bytes-Used",
                    objs.iter().map(|o| o.bytes).sum::<u64>().to_string(),
                )
                .header("X-Container-Policy-Quota", "0")
                .header("X-Container-Policy-Versioning", "auto"))
        }
        "GET" => list_objects(call, account, container),
        "POST" if call.has("update") => put_blocks(call),
        "POST" => Ok(Answer::new(202)),
        "DELETE" => Ok(Answer::text(409, "deleting containers is not supported")),
        _ => Ok(Answer::text(405, "method not allowed")),
    }
}

fn list_objects(call: &Call<'_>, account: &str, container: &str) -> Result<Answer, CloudError> {
    let prefix = call.query.get("prefix").cloned().unwrap_or_default();
    let objs: Vec<ObjectRecord> = call
        .store
        .objects(account, container)?
        .into_iter()
        .filter(|o| o.name.starts_with(&prefix))
        .collect();
    if call.query.get("format").map(String::as_str) != Some("json") {
        let names: Vec<String> = objs.into_iter().map(|o| o.name).collect();
        return Ok(listing(&names));
    }
    let list: Vec<Value> = objs
        .iter()
        .map(|o| {
            json!({"name": o.name, "bytes": o.bytes, "hash": o.hash, "content_type": o.content_type,
                   "last_modified": rfc3339(o.modified), "x_object_uuid": o.uuid,
                   "x_object_version": o.version, "x_object_hash": o.hash,
                   "x_object_sharing": o.sharing.clone().unwrap_or_default()})
        })
        .collect();
    Ok(Answer::json(200, &json!(list)))
}

/// `POST container?update`: the body is one or more blocks.
fn put_blocks(call: &mut Call<'_>) -> Result<Answer, CloudError> {
    let body = match call.read_body() {
        Ok(b) => b,
        Err(a) => return Ok(a),
    };
    let mut hashes = Vec::new();
    for chunk in body.chunks(DEFAULT_BLOCK_SIZE as usize) {
        hashes.push(call.store.put_block(chunk)?);
    }
    Ok(Answer::json(202, &json!(hashes)))
}

fn object_op(
    call: &mut Call<'_>,
    user: &User,
    account: &str,
    container: &str,
    name: &str,
) -> Result<Answer, CloudError> {
    let store = call.store;
    match call.method.as_str() {
        "PUT" => put_object(call, account, container, name),
        "DELETE" => Ok(match store.delete_object(account, container, name)? {
            true => Answer::new(204),
            false => Answer::text(404, "no such object"),
        }),
        method => {
            let Some(obj) = store.object(account, container, name)? else {
                return Ok(Answer::text(
                    404,
                    format!("no object {name} in {container}"),
                ));
            };
            if account != user.uuid && !obj.is_world_readable() {
                return Ok(Answer::text(403, "the object is not shared with you"));
            }
            match method {
                "HEAD" => Ok(object_headers(Answer::new(200), &obj, account)),
                "GET" => get_object(call, &obj, account),
                "POST" => update_object(call, account, container, obj),
                _ => Ok(Answer::text(405, "method not allowed")),
            }
        }
    }
}

fn object_headers(a: Answer, o: &ObjectRecord, account: &str) -> Answer {
    let mut a = a
        .header("Content-Type", o.content_type.clone())
        .header("ETag", o.hash.clone())
        .header("X-Object-Hash", o.hash.clone())
        .header("X-Object-UUID", o.uuid.clone())
        .header("X-Object-Version", o.version.to_string())
        .header("X-Object-Modified-By", account)
        .header("Last-Modified", rfc3339(o.modified));
    if let Some(s) = &o.sharing {
        a = a.header("X-Object-Sharing", s.clone());
    }
    for (k, v) in &o.meta {
        a = a.header(&format!("X-Object-Meta-{k}"), v.clone());
    }
    a
}

fn put_object(
    call: &mut Call<'_>,
    account: &str,
    container: &str,
    name: &str,
) -> Result<Answer, CloudError> {
    let store = call.store;
    if !store.container_exists(account, container) {
        return Ok(Answer::text(
            404,
            format!("container {container} does not exist"),
        ));
    }
    let Some(ctype) = call.header("Content-Type") else {
        return Ok(Answer::text(411, "Content-Type is required"));
    };
    let rec = if call.has("hashmap") {
        match put_hashmap(call, (account, container), name, &ctype)? {
            Ok(rec) => rec,
            Err(answer) => return Ok(answer),
        }
    } else {
        let mut reader = call.req.as_reader();
        store.put_data(account, container, name, &mut reader, &ctype)?
    };
    let rec = apply_meta(call, rec);
    store.save_object(account, container, &rec)?;
    Ok(Answer::new(201)
        .header("ETag", rec.hash.clone())
        .header("X-Object-Version", rec.version.to_string()))
}

/// `PUT ?hashmap`: the new object, or the answer to give instead (409
/// with the missing blocks, or a bad request).
fn put_hashmap(
    call: &mut Call<'_>,
    (account, container): (&str, &str),
    name: &str,
    ctype: &str,
) -> Result<Result<ObjectRecord, Answer>, CloudError> {
    let body = match call.read_body() {
        Ok(b) => b,
        Err(a) => return Ok(Err(a)),
    };
    let map = parse_hashmap(&body)?;
    match call.store.offer(account, container, name, &map, ctype)? {
        (Offer::Missing(m), _) => Ok(Err(Answer::json(409, &json!(m)))),
        (Offer::Created(_), Some(rec)) => Ok(Ok(rec)),
        (Offer::Created(_), None) => Err(CloudError::Protocol("no record".into())),
    }
}

/// The JSON body of a `PUT ?hashmap`: `bytes` and `hashes`, with
/// `block_size` and `block_hash` defaulting to Synnefo's.
pub(crate) fn parse_hashmap(body: &[u8]) -> Result<Hashmap, CloudError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| CloudError::Protocol(format!("the hashmap is not JSON: {e}")))?;
    Ok(Hashmap {
        block_size: v["block_size"].as_u64().unwrap_or(DEFAULT_BLOCK_SIZE),
        block_hash: v["block_hash"].as_str().unwrap_or(BLOCK_HASH).to_owned(),
        bytes: v["bytes"]
            .as_u64()
            .ok_or_else(|| CloudError::Protocol("the hashmap has no bytes".into()))?,
        hashes: serde_json::from_value(v["hashes"].clone())
            .map_err(|_| CloudError::Protocol("the hashmap has no hashes".into()))?,
    })
}

/// Take `X-Object-Meta-*` and `X-Object-Sharing` from the request.
fn apply_meta(call: &Call<'_>, mut rec: ObjectRecord) -> ObjectRecord {
    for (k, v) in call.headers_with("x-object-meta-") {
        rec.meta.insert(k["x-object-meta-".len()..].to_owned(), v);
    }
    if let Some(s) = call.header("X-Object-Sharing") {
        rec.sharing = (!s.trim().is_empty()).then(|| s.trim().to_owned());
    }
    if call
        .header("X-Object-Public")
        .is_some_and(|p| p.eq_ignore_ascii_case("true"))
    {
        rec.sharing = Some("read=*".into());
    }
    rec
}

fn update_object(
    call: &mut Call<'_>,
    account: &str,
    container: &str,
    obj: ObjectRecord,
) -> Result<Answer, CloudError> {
    let rec = apply_meta(call, obj);
    call.store.save_object(account, container, &rec)?;
    Ok(Answer::new(202))
}

fn get_object(call: &Call<'_>, obj: &ObjectRecord, account: &str) -> Result<Answer, CloudError> {
    if call.has("hashmap") {
        let v = json!({"block_hash": BLOCK_HASH, "block_size": obj.block_size,
                       "bytes": obj.bytes, "hashes": obj.hashes});
        return Ok(object_headers(Answer::json(200, &v), obj, account)
            .header("Content-Type", "application/json"));
    }
    let (start, end, partial) = match call
        .header("Range")
        .and_then(|r| parse_range(&r, obj.bytes))
    {
        Some((s, e)) => (s, e, true),
        None => (0, obj.bytes, false),
    };
    let reader = ObjectReader::new(call.store.clone(), Blocks::from(obj), start, end);
    let mut a = object_headers(Answer::new(if partial { 206 } else { 200 }), obj, account);
    if partial {
        a = a.header(
            "Content-Range",
            format!("bytes {start}-{}/{}", end.saturating_sub(1), obj.bytes),
        );
    }
    Ok(a.body(Body::Stream(Box::new(reader), (end - start) as usize)))
}

/// `bytes=A-B`, `bytes=A-` or `bytes=-N` → [start, end).
pub(crate) fn parse_range(h: &str, size: u64) -> Option<(u64, u64)> {
    let spec = h.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split(',').next()?.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => (size.saturating_sub(n.parse().ok()?), size),
        (a, "") => (a.parse().ok()?, size),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.saturating_add(1).min(size),
        ),
    };
    (start < end).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::cloud::local::store::Store;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=0-1000", 100), Some((0, 100)));
        assert_eq!(parse_range("bytes=50-40", 100), None);
        assert_eq!(parse_range("items=1-2", 100), None);
    }

    /// A request body past the limit is refused (413), not read whole.
    #[test]
    fn oversized_bodies_are_refused() {
        const UUID: &str = "0b0e2f1a-1111-4222-8333-944445555666";
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::write(&tokens, format!("tok {UUID} tester\n")).unwrap();
        let server = super::super::Server::start(
            &dir.path().join("store"),
            "127.0.0.1:0",
            super::super::Tokens::load(&tokens).unwrap(),
            std::sync::Arc::new(|_| {}),
        )
        .unwrap();
        let base = format!("http://{}/object-store/v1/{UUID}/images", server.addr());
        let http = reqwest::blocking::Client::new();
        let put = |url: String, body: Vec<u8>| {
            http.put(url)
                .header("X-Auth-Token", "tok")
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .unwrap()
                .status()
                .as_u16()
        };
        assert!((200..300).contains(&put(base.clone(), Vec::new())));
        let big = vec![b' '; super::super::MAX_BODY as usize + 1];
        assert_eq!(put(format!("{base}/big?hashmap"), big), 413);
        let small = br#"{"bytes": 0, "hashes": []}"#.to_vec();
        assert_eq!(put(format!("{base}/empty?hashmap"), small), 201);
    }

    #[test]
    fn reader_pads_and_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.create_container("a", "c").unwrap();
        let data: Vec<u8> = (0..(DEFAULT_BLOCK_SIZE as usize + 10))
            .map(|i| (i % 7) as u8)
            .collect();
        let rec = s.put_data("a", "c", "o", &mut &data[..], "x").unwrap();
        let mut out = Vec::new();
        ObjectReader::new(s.clone(), Blocks::from(&rec), 5, rec.bytes)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, &data[5..]);
    }
}
