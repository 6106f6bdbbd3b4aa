//! Success answers encoded once, and conditional reads: a read's answer carries a strong `ETag`
//! (the first 128 bits of the SHA-256 of its JSON body, in hex), and a request whose
//! `If-None-Match` names that tag (or `*`) gets 304 with no body.
//!
//! Compression (`tower-http`, outside the router) changes the body's bytes, so a compressed
//! answer's tag gets the coding as a suffix (`"<hash>-gzip"`, `"<hash>-br"`): a strong tag
//! stands for exact bytes. `If-None-Match` matches a tag with or without such a suffix, since
//! they stand for the same JSON.

use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The `If-None-Match` header of a request, if any.
pub(crate) struct IfNoneMatch(Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(IfNoneMatch(
            parts.headers.get(header::IF_NONE_MATCH).cloned(),
        ))
    }
}

/// The content codings whose suffix a tag may carry (see the module's documentation).
const CODINGS: [&str; 2] = ["gzip", "br"];

/// The strong entity tag of a body, quoted.
fn tag_of(body: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(body);
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for b in &digest[..16] {
        tag.push(HEX[usize::from(b >> 4)] as char);
        tag.push(HEX[usize::from(b & 15)] as char);
    }
    tag.push('"');
    tag
}

/// Whether `If-None-Match` names `tag` (compared weakly, as RFC 9110 says for this header;
/// a coding suffix is ignored) or is `*`.
fn matches(if_none_match: &HeaderValue, tag: &str) -> bool {
    let Ok(list) = if_none_match.to_str() else {
        return false;
    };
    let bare = &tag[1..tag.len() - 1];
    list.split(',').map(str::trim).any(|t| {
        if t == "*" {
            return true;
        }
        let t = t.strip_prefix("W/").unwrap_or(t);
        let Some(inner) = t.strip_prefix('"').and_then(|t| t.strip_suffix('"')) else {
            return false;
        };
        inner == bare
            || CODINGS.iter().any(|c| {
                inner
                    .strip_suffix(c)
                    .and_then(|i| i.strip_suffix('-'))
                    .is_some_and(|i| i == bare)
            })
    })
}

/// A success answer with `status` and `body`, the result's JSON text (encoded once, by the store
/// for a read or a list). With `read` (a read's `If-None-Match`, present or not), the answer
/// carries an `ETag`, or is 304 when it matches.
pub(crate) fn answer(status: StatusCode, body: Vec<u8>, read: Option<IfNoneMatch>) -> Response {
    let Some(IfNoneMatch(inm)) = read else {
        return json_response(status, body);
    };
    let tag = tag_of(&body);
    let etag = HeaderValue::from_str(&tag).ok();
    let mut resp = if inm.as_ref().is_some_and(|inm| matches(inm, &tag)) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        json_response(status, body)
    };
    if let Some(etag) = etag {
        resp.headers_mut().insert(header::ETAG, etag);
    }
    resp
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        Bytes::from(body),
    )
        .into_response()
}

/// Gives a compressed answer's `ETag` its coding as a suffix (see the module's documentation).
/// Runs outside the compression layer.
pub(crate) fn tag_coding(resp: &mut Response) {
    let Some(coding) = resp.headers().get(header::CONTENT_ENCODING) else {
        return;
    };
    let Some(coding) = CODINGS
        .iter()
        .find(|c| coding.as_bytes().eq_ignore_ascii_case(c.as_bytes()))
    else {
        return;
    };
    let Some(tag) = resp
        .headers()
        .get(header::ETAG)
        .and_then(|t| t.to_str().ok())
    else {
        return;
    };
    let Some(inner) = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')) else {
        return;
    };
    if let Ok(v) = HeaderValue::from_str(&format!("\"{inner}-{coding}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly_and_ignores_a_coding_suffix() {
        let tag = tag_of(b"{\"id\":1}");
        assert_eq!(tag.len(), 34);
        let bare = &tag[1..33];
        for yes in [
            tag.clone(),
            format!("W/{tag}"),
            "*".into(),
            format!("\"other\", {tag}"),
            format!("\"{bare}-gzip\""),
            format!("\"{bare}-br\""),
        ] {
            assert!(
                matches(&HeaderValue::from_str(&yes).unwrap(), &tag),
                "{yes}"
            );
        }
        for no in [
            "\"other\"".to_string(),
            bare.to_string(),
            format!("\"{bare}-zstd\""),
            format!("\"{bare}x\""),
            String::new(),
        ] {
            assert!(!matches(&HeaderValue::from_str(&no).unwrap(), &tag), "{no}");
        }
    }
}
