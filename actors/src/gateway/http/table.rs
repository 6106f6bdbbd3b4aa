//! The one table of the REST routes of a model's operations: for each operation its HTTP
//! method, its path template, where its params come from and its success status. The axum
//! router (`http.rs` `router`) and the OpenAPI document (`openapi.rs`) are both generated from
//! it, so the two cannot drift. Plain data: it imports neither.
//!
//! Besides these routes every operation is also served by the uniform door
//! [`NODE_PATH`] (`POST /nodes/{Model}{Op}Node`), its params the JSON body, with the same
//! success status as its REST route.

use flowgate::OpKind;

/// An HTTP method of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    /// The lower-case name, as OpenAPI keys a path item's operations.
    pub const fn lower(self) -> &'static str {
        match self {
            HttpMethod::Get => "get",
            HttpMethod::Post => "post",
            HttpMethod::Put => "put",
            HttpMethod::Patch => "patch",
            HttpMethod::Delete => "delete",
        }
    }
}

/// Where an operation's params come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamsSource {
    /// The query string is the params (every value as text).
    Query,
    /// The JSON body is the params, as is.
    Body,
    /// The `{id}` of the path, with the query string's params beside it.
    IdAndQuery,
    /// The `{id}` of the path alone.
    Id,
    /// The `{id}` of the path, and the JSON body as `fields` (flat, or wrapped as
    /// `{"fields": {...}}`; no body is no `fields`).
    IdAndFields,
}

impl ParamsSource {
    /// Whether the route reads a JSON body (so 413 and 415 are possible).
    pub const fn has_body(self) -> bool {
        matches!(self, ParamsSource::Body | ParamsSource::IdAndFields)
    }
}

/// One REST route of a model's operation.
#[derive(Debug, Clone, Copy)]
pub struct HttpRoute {
    /// The operation.
    pub op: OpKind,
    /// The method.
    pub method: HttpMethod,
    /// The path template: `{table}` is the model's table, `{id}` a record's id.
    pub path: &'static str,
    /// Where the params come from.
    pub params: ParamsSource,
    /// The status of a success.
    pub status: u16,
}

impl HttpRoute {
    /// Whether the route only reads (a `GET`): its answer carries an `ETag`, and
    /// `If-None-Match` with that tag answers 304.
    pub const fn is_read(&self) -> bool {
        matches!(self.method, HttpMethod::Get)
    }

    /// The path of the route for `table`, with `{id}` left as the template's.
    pub fn path_for(&self, table: &str) -> String {
        self.path.replacen("{table}", table, 1)
    }
}

const fn route(
    op: OpKind,
    method: HttpMethod,
    path: &'static str,
    params: ParamsSource,
    status: u16,
) -> HttpRoute {
    HttpRoute {
        op,
        method,
        path,
        params,
        status,
    }
}

use HttpMethod::{Delete, Get, Patch, Post, Put};

/// Every model operation's REST route (DESIGN section 6), in the order of the OpenAPI
/// document: routes of one path together.
pub const ROUTES: &[HttpRoute] = &[
    route(
        OpKind::Create,
        Post,
        "/api/{table}",
        ParamsSource::Body,
        201,
    ),
    route(OpKind::List, Get, "/api/{table}", ParamsSource::Query, 200),
    route(OpKind::Upsert, Put, "/api/{table}", ParamsSource::Body, 200),
    route(
        OpKind::Count,
        Get,
        "/api/{table}/count",
        ParamsSource::Query,
        200,
    ),
    route(
        OpKind::BulkCreate,
        Post,
        "/api/{table}/bulk",
        ParamsSource::Body,
        200,
    ),
    route(
        OpKind::BulkUpdate,
        Patch,
        "/api/{table}/bulk",
        ParamsSource::Body,
        200,
    ),
    route(
        OpKind::BulkUpsert,
        Put,
        "/api/{table}/bulk",
        ParamsSource::Body,
        200,
    ),
    route(
        OpKind::BulkDelete,
        Post,
        "/api/{table}/bulk-delete",
        ParamsSource::Body,
        200,
    ),
    route(
        OpKind::Read,
        Get,
        "/api/{table}/{id}",
        ParamsSource::IdAndQuery,
        200,
    ),
    route(
        OpKind::Update,
        Patch,
        "/api/{table}/{id}",
        ParamsSource::IdAndFields,
        200,
    ),
    route(
        OpKind::Delete,
        Delete,
        "/api/{table}/{id}",
        ParamsSource::Id,
        200,
    ),
];

/// The uniform door: `POST` with the operation's params as the JSON body, for every operation.
pub const NODE_PATH: &str = "/nodes/{node}";

/// The REST route of `op`.
pub fn route_of(op: OpKind) -> &'static HttpRoute {
    ROUTES
        .iter()
        .find(|r| r.op == op)
        .expect("every operation has a REST route (tested)")
}

/// The success status of `op`, on its REST route and on the node door alike.
pub fn success_status(op: OpKind) -> u16 {
    route_of(op).status
}

/// The distinct path templates, in table order, each with its routes.
pub fn paths() -> Vec<(&'static str, Vec<&'static HttpRoute>)> {
    let mut out: Vec<(&'static str, Vec<&'static HttpRoute>)> = Vec::new();
    for r in ROUTES {
        match out.iter_mut().find(|(p, _)| *p == r.path) {
            Some((_, routes)) => routes.push(r),
            None => out.push((r.path, vec![r])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_one_route_and_no_route_is_taken_twice() {
        for op in OpKind::ALL {
            assert_eq!(ROUTES.iter().filter(|r| r.op == op).count(), 1, "{op}");
        }
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.path == b.path && a.method == b.method),
                    "{} {} taken twice",
                    a.method.lower(),
                    a.path
                );
            }
        }
        assert_eq!(success_status(OpKind::Create), 201);
        assert!(route_of(OpKind::Count).is_read());
    }
}
