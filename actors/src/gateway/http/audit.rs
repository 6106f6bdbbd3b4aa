//! `GET /audit?model=&record_id=&principal=&since=&cursor=&limit=`: the audit trail, newest
//! first, for callers with `admin:audit`; a tenant's callers see only its rows (the rules are
//! `crate::audit`'s, shared with MCP).

use super::{ApiError, Ctx, Query};
use crate::dispatch::Dispatcher;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub(super) fn routes() -> Router<Dispatcher> {
    Router::new().route("/audit", get(list))
}

async fn list(State(d): State<Dispatcher>, Ctx(ctx): Ctx, Query(q): Query) -> Response {
    let page = match crate::audit::query_from(&q) {
        Ok(q) => crate::audit::list(&d, &ctx.principal, ctx.tenant, q).await,
        Err(e) => Err(e),
    };
    match page {
        Ok(page) => Json(page).into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}
