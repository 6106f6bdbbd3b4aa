//! Remote mode: the command line calls a running server. Every operation goes through the one
//! door `POST /nodes/{Model}{Op}Node`, so its params and result are those of REST and MCP; the
//! models come from `GET /models`, the board from `GET /health/ready`.

use super::args::Server;
use super::models::{ModelEntry, entries};
use super::output::Failure;
use reqwest::StatusCode;
use serde_json::{Map, Value};
use std::time::Duration;

/// A server and the models it serves.
pub(crate) struct Remote {
    base: String,
    http: reqwest::Client,
    /// The served models.
    pub(crate) models: Vec<ModelEntry>,
}

/// The HTTP client of a server: it sends the token, when given, on every request.
fn client(server: Server<'_>) -> Result<reqwest::Client, Failure> {
    let token = server.token;
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(tenant) = server.tenant {
        let value = reqwest::header::HeaderValue::from_str(tenant)
            .map_err(|_| Failure::usage("--tenant must be printable ASCII"))?;
        headers.insert("x-tenant-id", value);
    }
    if let Some(token) = token {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| Failure::usage("--token must be printable ASCII"))?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .default_headers(headers)
        .build()
        .map_err(|e| Failure::new("internal", format!("cannot make an HTTP client: {e}")))
}

fn base_of(url: &str) -> Result<String, Failure> {
    let base = url.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(Failure::usage(format!(
            "--server takes an http:// or https:// URL, got {url:?}"
        )));
    }
    Ok(base.to_string())
}

async fn send(base: &str, req: reqwest::RequestBuilder) -> Result<(StatusCode, Value), Failure> {
    let resp = req.send().await.map_err(|e| {
        Failure::new(
            "unavailable",
            format!("cannot reach the server at {base}: {e}"),
        )
    })?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| {
        Failure::new(
            "unavailable",
            format!("the server at {base} broke off its answer: {e}"),
        )
    })?;
    let body = serde_json::from_slice(&bytes).map_err(|_| {
        Failure::new(
            "internal",
            format!("the server at {base} answered {status} without JSON"),
        )
    })?;
    Ok((status, body))
}

/// The error object of an error response (`{"error": {...}}`).
fn failure_of(status: StatusCode, mut body: Value) -> Failure {
    match body.get_mut("error").map(Value::take) {
        Some(e @ Value::Object(_)) => Failure(e),
        _ => Failure::new("internal", format!("the server answered {status}")),
    }
}

impl Remote {
    /// Reaches the server and reads its models.
    pub(crate) async fn connect(server: Server<'_>) -> Result<Remote, Failure> {
        let base = base_of(server.url)?;
        let http = client(server)?;
        let (status, body) = send(&base, http.get(format!("{base}/models"))).await?;
        if !status.is_success() {
            return Err(failure_of(status, body));
        }
        let mut defs = Vec::new();
        for m in body["models"].as_array().into_iter().flatten() {
            let name = m["name"].as_str().unwrap_or_default();
            let mut one = Map::new();
            one.insert(name.to_string(), m["definition"].clone());
            let doc = serde_json::json!({ "models": one }).to_string();
            let parsed = flowgate::model::parse_json(&doc, &format!("{base}/models"))?;
            defs.extend(parsed.into_iter().map(|d| (d, m["version"].as_i64())));
        }
        Ok(Remote {
            models: entries(defs)?,
            base,
            http,
        })
    }

    /// `POST /nodes/{node}` with the params as the body: the result, or the error object.
    pub(crate) async fn call(&self, node: &str, params: &Value) -> Result<Value, Failure> {
        let req = self
            .http
            .post(format!("{}/nodes/{node}", self.base))
            .json(params);
        let (status, body) = send(&self.base, req).await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(failure_of(status, body))
        }
    }

    /// A URL of path segments under the server's base, each percent-encoded.
    fn url(&self, segments: &[&str]) -> Result<reqwest::Url, Failure> {
        let mut url = reqwest::Url::parse(&self.base)
            .map_err(|e| Failure::usage(format!("--server {}: {e}", self.base)))?;
        url.path_segments_mut()
            .map_err(|()| Failure::usage(format!("--server {} cannot take a path", self.base)))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// `GET` of a path (its segments): the body, or the error object.
    pub(crate) async fn get(&self, segments: &[&str]) -> Result<Value, Failure> {
        self.get_query(segments, &[]).await
    }

    /// `GET` of a path (its segments) with query parameters: the body, or the error object.
    pub(crate) async fn get_query(
        &self,
        segments: &[&str],
        query: &[(String, String)],
    ) -> Result<Value, Failure> {
        let req = self.http.get(self.url(segments)?).query(query);
        let (status, body) = send(&self.base, req).await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(failure_of(status, body))
        }
    }

    /// `POST` of a JSON body to a path (its segments): the body, or the error object.
    pub(crate) async fn post(&self, segments: &[&str], body: &Value) -> Result<Value, Failure> {
        let req = self.http.post(self.url(segments)?).json(body);
        let (status, body) = send(&self.base, req).await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(failure_of(status, body))
        }
    }

    /// The server's readiness board (`GET /health/ready`; 503 is an answer, not a failure).
    pub(crate) async fn board(server: Server<'_>) -> Result<Value, Failure> {
        let base = base_of(server.url)?;
        let http = client(server)?;
        let (status, body) = send(&base, http.get(format!("{base}/health/ready"))).await?;
        if status.is_success() || status == StatusCode::SERVICE_UNAVAILABLE {
            Ok(body)
        } else {
            Err(failure_of(status, body))
        }
    }
}
