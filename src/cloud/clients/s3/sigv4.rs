//! AWS Signature Version 4 for S3 requests: the canonical request, the
//! string to sign and the derived key, as the AWS documentation specifies
//! (valueless query keys such as `?uploads` are signed as `uploads=`,
//! which some clients get wrong).

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

use crate::cloud::Secret;
use crate::cloud::ids::rfc3339;
use crate::cloud::pithos::hashmap::hex;

/// Characters left as they are: the unreserved set.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Access key, secret and session token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: Secret,
    pub session_token: Option<Secret>,
}

/// URI-encode one path segment or query part.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any size");
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// The headers to add to a request: `x-amz-date`, `x-amz-content-sha256`,
/// the session token if any, and `Authorization`.
#[allow(clippy::too_many_arguments)]
pub fn sign(
    creds: &Credentials,
    region: &str,
    method: &str,
    host: &str,
    path: &str,
    query: &[(String, String)],
    payload_hash: &str,
    extra: &[(&str, &str)],
    unix_time: u64,
) -> Vec<(String, String)> {
    let amz_date = amz_date(unix_time);
    let date = &amz_date[..8];
    let headers = headers_to_sign(creds, host, payload_hash, &amz_date, extra);
    let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    let signed = signed.join(";");
    let canonical = canonical_request(method, path, query, &headers, &signed, payload_hash);
    let scope = format!("{date}/{region}/s3/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let signature = hex(&hmac(&signing_key(creds, date, region), &to_sign));
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
        creds.access_key
    );
    let mut out: Vec<(String, String)> = headers.into_iter().filter(|(k, _)| k != "host").collect();
    out.push(("authorization".into(), auth));
    out
}

/// `20261122T120000Z` for a Unix time.
fn amz_date(unix_time: u64) -> String {
    // 2026-11-22T12:00:00+00:00 → 20261122T120000Z
    let stamp = rfc3339(unix_time);
    format!("{}Z", &stamp[..19]).replace(['-', ':'], "")
}

/// The headers that are signed, lower-case and sorted.
fn headers_to_sign(
    creds: &Credentials,
    host: &str,
    payload_hash: &str,
    amz_date: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut headers = vec![
        ("host".to_owned(), host.to_owned()),
        ("x-amz-content-sha256".to_owned(), payload_hash.to_owned()),
        ("x-amz-date".to_owned(), amz_date.to_owned()),
    ];
    headers.extend(
        extra
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned())),
    );
    if let Some(t) = &creds.session_token {
        headers.push(("x-amz-security-token".into(), t.expose().to_owned()));
    }
    headers.sort();
    headers
}

/// The canonical request: method, path, sorted query, sorted headers.
fn canonical_request(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    signed: &str,
    payload_hash: &str,
) -> String {
    let mut q: Vec<(String, String)> = query.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    q.sort();
    let canonical_query: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let canonical_headers: String = headers
        .iter()
        .map(|(k, v)| format!("{k}:{}\n", v.trim()))
        .collect();
    format!(
        "{method}\n{path}\n{}\n{canonical_headers}\n{signed}\n{payload_hash}",
        canonical_query.join("&")
    )
}

/// The key derived from the secret for one day, region and service.
fn signing_key(creds: &Credentials, date: &str, region: &str) -> Vec<u8> {
    let mut key = hmac(
        format!("AWS4{}", creds.secret_key.expose()).as_bytes(),
        date,
    );
    for part in [region, "s3", "aws4_request"] {
        key = hmac(&key, part);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The "GET Bucket Lifecycle" example of the AWS SigV4 documentation
    /// for S3 (a valueless query key, signed as `lifecycle=`).
    #[test]
    fn matches_the_aws_example() {
        let creds = Credentials {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            session_token: None,
        };
        // 20130524T000000Z
        let t = 1_369_353_600;
        let empty = sha256_hex(b"");
        let q = [("lifecycle".to_owned(), String::new())];
        let h = sign(
            &creds,
            "us-east-1",
            "GET",
            "examplebucket.s3.amazonaws.com",
            "/",
            &q,
            &empty,
            &[],
            t,
        );
        let auth = &h.iter().find(|(k, _)| k == "authorization").unwrap().1;
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
        );
        assert_eq!(encode("a b/c~"), "a%20b%2Fc~");
    }
}
