//! Who may send a request to either port (REST and MCP): the `Host` it names and the browser
//! `Origin` it comes from. A web page on another origin must not drive a server on this
//! machine (DNS rebinding names a foreign host; a cross-origin `fetch` carries its `Origin`).
//!
//! - `Host` must be one of the hosts MCP accepts ([`allowed_hosts`]: the
//!   loopback names, the bound `host` unless it is a wildcard, and `allowed_hosts`), with any
//!   port unless the entry names one; else 403 `forbidden`. A request without `Host` is 400.
//! - `Origin`, when present, must be the request's own origin (its host and port are those of
//!   `Host`) or one of `cors.allowed_origins`; else 403 `forbidden`. Browsers send `Origin` on every
//!   cross-origin request that can write (even `mode: 'no-cors'`), and on same-origin ones that
//!   are not GET or HEAD (Swagger UI on `/docs`).

use crate::Config;
use crate::gateway::errors::plain;
use axum::http::uri::Authority;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;

/// A `host[:port]` as compared: lower case, without IPv6 brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostPort {
    host: String,
    port: Option<u16>,
}

impl HostPort {
    fn of(authority: &Authority) -> HostPort {
        HostPort {
            host: authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase(),
            port: authority.port_u16(),
        }
    }

    fn parse(s: &str) -> Option<HostPort> {
        Authority::try_from(s.trim())
            .ok()
            .filter(|a| !a.as_str().contains('@'))
            .map(|a| HostPort::of(&a))
    }
}

/// Normalizes a browser origin (`scheme://host[:port]`, http or https, nothing after) to lower
/// case without its scheme's default port; `None` when it is not one.
pub(crate) fn normalize(origin: &str) -> Option<String> {
    let (scheme, host, port) = parse_origin(origin)?;
    Some(match port {
        Some(p) if p != default_port(&scheme) => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

/// The scheme, host (as in a URL, IPv6 in brackets) and explicit port of an origin.
fn parse_origin(origin: &str) -> Option<(String, String, Option<u16>)> {
    let origin = origin.trim();
    let uri = Uri::try_from(origin).ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = uri.authority()?;
    if authority.as_str().contains('@') || authority.host().is_empty() {
        return None;
    }
    // Nothing after the authority: no path (a bare `/` is what `Uri` reports for none), no query.
    let rest = &origin[origin.find("://")? + 3 + authority.as_str().len()..];
    if !rest.is_empty() {
        return None;
    }
    Some((
        scheme,
        authority.host().to_ascii_lowercase(),
        authority.port_u16(),
    ))
}

/// The hosts both ports accept in `Host` (the MCP port's streamable HTTP transport too): rmcp's loopback defaults, the
/// configured `allowed_hosts`, and the bound `host` unless it is a wildcard address.
pub(crate) fn allowed_hosts(config: &Config) -> Vec<String> {
    let mut hosts = rmcp::transport::streamable_http_server::StreamableHttpServerConfig::default()
        .allowed_hosts;
    let wildcard = config
        .host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified());
    if !wildcard {
        hosts.push(config.host.clone());
    }
    hosts.extend(config.allowed_hosts.iter().cloned());
    hosts.sort();
    hosts.dedup();
    hosts
}

/// The `Host` and `Origin` rules of one server.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    hosts: Vec<HostPort>,
    cors: Vec<String>,
}

impl Guard {
    pub(crate) fn new(config: &Config) -> Guard {
        Guard {
            hosts: allowed_hosts(config)
                .iter()
                .filter_map(|h| HostPort::parse(h).or_else(|| HostPort::parse(&format!("[{h}]"))))
                .collect(),
            cors: config.cors_allowed(),
        }
    }

    /// Whether cross-origin requests from some origins are allowed (then CORS headers are
    /// answered for them).
    pub(crate) fn cors_origins(&self) -> &[String] {
        &self.cors
    }

    /// Whether a `Host` value of the plain form `host[:port]` (no IPv6 brackets, no user info,
    /// a port of digits) names an allowed host. `false` only means "not decided here": the
    /// full check parses the value.
    fn allows_plain(&self, value: &str) -> bool {
        let value = value.trim();
        if value.contains(['@', '[', ']']) {
            return false;
        }
        let (host, port) = match value.split_once(':') {
            None => (value, None),
            Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                match p.parse::<u16>() {
                    Ok(port) => (h, Some(port)),
                    Err(_) => return false,
                }
            }
            Some(_) => return false,
        };
        self.hosts.iter().any(|allowed| {
            allowed.host.eq_ignore_ascii_case(host) && allowed.port.is_none_or(|p| port == Some(p))
        })
    }

    /// The answer refusing a foreign `Host` or a foreign `Origin` (the error object), if any.
    pub(crate) fn refusal(&self, headers: &HeaderMap, uri: &Uri) -> Option<Response> {
        // The common case, checked without allocating: a plain allowed `Host` and no `Origin`.
        if !headers.contains_key(header::ORIGIN)
            && headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|h| self.allows_plain(h))
        {
            return None;
        }
        let host = match headers.get(header::HOST) {
            Some(v) => v.to_str().ok().and_then(HostPort::parse),
            None => uri.authority().map(HostPort::of),
        };
        let Some(host) = host else {
            return Some(plain(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the request has no valid Host header",
            ));
        };
        let known = self.hosts.iter().any(|allowed| {
            allowed.host == host.host && allowed.port.is_none_or(|p| host.port == Some(p))
        });
        if !known {
            return Some(plain(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "host `{}` is not allowed (add it to `allowed_hosts`)",
                    host.host
                ),
            ));
        }
        // No `Origin`: not a browser's cross-origin request.
        let origin = headers.get(header::ORIGIN)?;
        let text = origin.to_str().unwrap_or("");
        if let Some((scheme, ohost, oport)) = parse_origin(text) {
            let same = ohost.trim_start_matches('[').trim_end_matches(']') == host.host
                && oport.unwrap_or(default_port(&scheme)) == host.port.unwrap_or(80);
            if same || normalize(text).is_some_and(|o| self.cors.contains(&o)) {
                return None;
            }
        }
        Some(plain(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("origin `{text}` is not allowed (add it to `cors.allowed_origins`)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_normalize_or_are_refused() {
        assert_eq!(
            normalize("HTTP://Example.com:80").as_deref(),
            Some("http://example.com")
        );
        assert_eq!(
            normalize("https://a.b:8443").as_deref(),
            Some("https://a.b:8443")
        );
        assert_eq!(
            normalize("http://[::1]:3000").as_deref(),
            Some("http://[::1]:3000")
        );
        for bad in [
            "null",
            "*",
            "example.com",
            "ftp://a.b",
            "http://a.b/",
            "http://a.b/x",
            "http://u@a.b",
        ] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
    }

    /// The allocation-free check of a plain `Host` accepts only what the full check accepts.
    #[test]
    fn the_plain_host_check_agrees_with_the_full_one() {
        let guard = Guard {
            hosts: ["localhost", "127.0.0.1", "Example.COM:8080", "[::1]"]
                .iter()
                .filter_map(|h| HostPort::parse(h))
                .collect(),
            cors: Vec::new(),
        };
        let full = |value: &str| {
            HostPort::parse(value).is_some_and(|host| {
                guard
                    .hosts
                    .iter()
                    .any(|a| a.host == host.host && a.port.is_none_or(|p| host.port == Some(p)))
            })
        };
        let mut plain = Vec::new();
        for value in [
            "localhost",
            "LOCALHOST:3000",
            " 127.0.0.1:8080 ",
            "127.0.0.1:",
            "127.0.0.1:99999",
            "127.0.0.1:+80",
            "127.0.0.1:080",
            "example.com:8080",
            "example.com:8081",
            "example.com",
            "evil.com",
            "u@localhost",
            "[::1]:80",
            "",
        ] {
            if guard.allows_plain(value) {
                assert!(full(value), "{value}");
                plain.push(value);
            }
        }
        assert_eq!(
            plain,
            [
                "localhost",
                "LOCALHOST:3000",
                " 127.0.0.1:8080 ",
                "127.0.0.1:080",
                "example.com:8080"
            ]
        );
        // IPv6 and the rest go the full way, which accepts this one.
        assert!(full("[::1]:80"));
    }
}
