//! Static Large Objects: how an image too big for one Swift object is
//! cut into segments (at most [`MAX_SEGMENT`] bytes each, at most
//! [`MAX_SEGMENTS`] of them), what the segments are named (as
//! python-swiftclient names them, so `swift delete` knows them), and the
//! manifest that joins them (`PUT ?multipart-manifest=put`).

use serde_json::{Value, json};

use crate::cloud::error::CloudError;

/// Swift's largest single object (its `max_file_size`, 5 GiB and 2 bytes
/// by default): the default segment size, and the largest allowed.
pub const MAX_SEGMENT: u64 = 5 * 1024 * 1024 * 1024;
/// Segments per manifest (Swift's default `max_manifest_segments`).
pub const MAX_SEGMENTS: u64 = 1000;
/// The segment size, in bytes (`K`, `M` and `G` suffixes allowed): images
/// larger than it are uploaded as a Static Large Object. For testing and
/// for clusters with a smaller `max_file_size`.
pub const SEGMENT_ENV: &str = "SNF_SWIFT_SEGMENT_SIZE";

/// One segment: its number (from 0) and byte range of the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub index: usize,
    pub offset: u64,
    pub len: u64,
}

/// The segment size `SNF_SWIFT_SEGMENT_SIZE` asks for, else [`MAX_SEGMENT`].
pub fn segment_size() -> Result<u64, CloudError> {
    match std::env::var(SEGMENT_ENV) {
        Ok(v) if !v.is_empty() => parse_size(&v).ok_or_else(|| {
            CloudError::Config(format!(
                "{SEGMENT_ENV}={v}: give a size from 1 byte to 5G (such as 1048576 or 100M)"
            ))
        }),
        _ => Ok(MAX_SEGMENT),
    }
}

/// `N`, `NK`, `NM` or `NG` (binary units), from 1 to [`MAX_SEGMENT`].
fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().last()? {
        (i, 'k' | 'K') => (&t[..i], 1 << 10),
        (i, 'm' | 'M') => (&t[..i], 1 << 20),
        (i, 'g' | 'G') => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    let n = digits.parse::<u64>().ok()?.checked_mul(unit)?;
    (1..=MAX_SEGMENT).contains(&n).then_some(n)
}

/// The segments of an image of `size` bytes cut at `segment` bytes (more
/// when the count would pass [`MAX_SEGMENTS`]); an error when even
/// [`MAX_SEGMENT`]-byte segments would be too many.
pub fn plan(size: u64, segment: u64) -> Result<Vec<Segment>, CloudError> {
    let seg = segment.max(size.div_ceil(MAX_SEGMENTS)).max(1);
    if seg > MAX_SEGMENT {
        return Err(CloudError::Full(format!(
            "an image of {size} bytes is larger than one Swift Static Large Object \
             holds ({MAX_SEGMENTS} segments of at most {MAX_SEGMENT} bytes)"
        )));
    }
    Ok((0..size.div_ceil(seg))
        .map(|i| Segment {
            index: i as usize,
            offset: i * seg,
            len: (size - i * seg).min(seg),
        })
        .collect())
}

/// The container the segments of `container`'s objects go to.
pub fn segments_container(container: &str) -> String {
    format!("{container}_segments")
}

/// The names of an upload's segments share this prefix:
/// `OBJECT/slo/STAMP/SIZE/SEGMENT_SIZE/` (python-swiftclient's form).
pub fn segment_prefix(object: &str, stamp: u64, size: u64, segments: &[Segment]) -> String {
    let seg = segments.first().map_or(0, |s| s.len);
    format!("{object}/slo/{stamp}/{size}/{seg}/")
}

/// The name of segment `s` under `prefix`.
pub fn segment_name(prefix: &str, s: &Segment) -> String {
    format!("{prefix}{:08}", s.index)
}

/// The SLO manifest: each segment's path (`/CONTAINER/NAME`), ETag and
/// size, in order.
pub fn manifest(
    container: &str,
    names: &[String],
    etags: &[String],
    segments: &[Segment],
) -> Value {
    Value::Array(
        segments
            .iter()
            .zip(names)
            .zip(etags)
            .map(|((s, name), etag)| {
                json!({"path": format!("/{container}/{name}"), "etag": etag, "size_bytes": s.len})
            })
            .collect(),
    )
}

/// The segment paths (`CONTAINER/NAME`, without the leading `/`) of the
/// manifest Swift gives for `GET ?multipart-manifest=get&format=raw`.
pub fn manifest_paths(raw: &Value) -> Vec<String> {
    raw.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["path"].as_str())
        .map(|p| p.trim_start_matches('/').to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_sizes() {
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("100M"), Some(100 << 20));
        assert_eq!(parse_size("5g"), Some(MAX_SEGMENT));
        assert_eq!(parse_size("6G"), None, "above Swift's object limit");
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn plans_segments() {
        let p = plan(10, 4).unwrap();
        let ranges: Vec<(u64, u64)> = p.iter().map(|s| (s.offset, s.len)).collect();
        assert_eq!(ranges, [(0, 4), (4, 4), (8, 2)]);
        assert_eq!(plan(8, 4).unwrap().len(), 2, "no empty last segment");
        assert!(plan(0, 4).unwrap().is_empty());
        // Too many segments: they grow, to at most MAX_SEGMENTS.
        let p = plan(10_000 << 20, 1 << 20).unwrap();
        assert_eq!(p.len(), 1000);
        assert_eq!(p[0].len, 10 << 20);
        assert_eq!(p.iter().map(|s| s.len).sum::<u64>(), 10_000 << 20);
        assert!(plan(MAX_SEGMENT * MAX_SEGMENTS + 1, MAX_SEGMENT).is_err());
    }

    #[test]
    fn names_and_manifest() {
        let segs = plan(10, 4).unwrap();
        let prefix = segment_prefix("debian.diskdump", 1700000000, 10, &segs);
        assert_eq!(prefix, "debian.diskdump/slo/1700000000/10/4/");
        let names: Vec<String> = segs.iter().map(|s| segment_name(&prefix, s)).collect();
        assert_eq!(names[2], "debian.diskdump/slo/1700000000/10/4/00000002");
        let etags = vec!["a".to_owned(), "b".into(), "c".into()];
        let m = manifest(&segments_container("images"), &names, &etags, &segs);
        assert_eq!(m.as_array().unwrap().len(), 3);
        assert_eq!(
            m[2],
            json!({"path": "/images_segments/debian.diskdump/slo/1700000000/10/4/00000002",
                   "etag": "c", "size_bytes": 2})
        );
        let raw = json!([{"path": "/images_segments/x/00000000", "etag": "a"}, {"nopath": 1}]);
        assert_eq!(manifest_paths(&raw), ["images_segments/x/00000000"]);
    }
}
