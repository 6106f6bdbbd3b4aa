//! `/admin/keys`: API keys over REST, for callers with `admin:keys` (DESIGN 13.1).
//!
//! - `GET /admin/keys`: every key's id, name, prefix, roles, tenant and times; never a key.
//! - `POST /admin/keys` `{"name", "roles": [...], "tenant"?, "expires_in"?}`: 201 with the new
//!   key under `key`, shown this once (the database keeps only its SHA-256).
//! - `DELETE /admin/keys/{name or id}`: revokes it; this server stops accepting it at once,
//!   other instances within `auth.key_cache_seconds`.

use super::{ApiError, Authenticated, Body, Path, admin, body_json};
use crate::dispatch::Dispatcher;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use flowgate::Error;
use flowgate::keys::{ApiKeys, KeyInfo, NewKey};
use serde_json::{Value, json};

pub(super) fn routes() -> Router<Dispatcher> {
    Router::new()
        .route("/admin/keys", get(list).post(create))
        .route("/admin/keys/{key}", delete(revoke))
}

/// The key table, or 503 while it is being opened.
fn keys(d: &Dispatcher) -> Result<&ApiKeys, Error> {
    d.auth().keys().attached()
}

async fn list(State(d): State<Dispatcher>, Authenticated(caller): Authenticated) -> Response {
    if let Err(refused) = admin(&d, &caller, "keys") {
        return *refused;
    }
    let result = match keys(&d) {
        Ok(k) => k.list().await,
        Err(e) => Err(e),
    };
    match result {
        Ok(list) => {
            let keys: Vec<Value> = list.iter().map(KeyInfo::to_json).collect();
            Json(json!({ "keys": keys })).into_response()
        }
        Err(e) => ApiError(e).into_response(),
    }
}

/// Reads `{"name", "roles", "tenant"?, "expires_in"?}`, naming the field at fault.
fn new_key(body: Value) -> Result<NewKey, Error> {
    let Value::Object(mut obj) = body else {
        return Err(Error::validation(
            "body",
            "expected an object with name and roles",
        ));
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !["name", "roles", "tenant", "expires_in"].contains(&k.as_str()))
    {
        return Err(Error::validation(
            k.clone(),
            format!("unknown field `{k}` (expected name, roles, tenant, expires_in)"),
        ));
    }
    let name = match obj.remove("name") {
        Some(Value::String(s)) => s,
        _ => {
            return Err(Error::validation(
                "name",
                "name is required and must be text",
            ));
        }
    };
    let roles = match obj.remove("roles") {
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|r| match r {
                Value::String(s) => Ok(s),
                _ => Err(Error::validation("roles", "every role must be text")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => {
            return Err(Error::validation(
                "roles",
                "roles is required: a list of role names",
            ));
        }
    };
    let tenant = match obj.remove("tenant") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(Error::validation("tenant", "tenant must be text")),
    };
    let expires_in = match obj.remove("expires_in") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(flowgate::keys::parse_duration(&s)?),
        Some(_) => {
            return Err(Error::validation(
                "expires_in",
                "expires_in must be a duration such as \"30d\"",
            ));
        }
    };
    Ok(NewKey {
        name,
        roles,
        tenant,
        expires_in,
    })
}

async fn create(
    State(d): State<Dispatcher>,
    Authenticated(caller): Authenticated,
    Body(body): Body,
) -> Response {
    if let Err(refused) = admin(&d, &caller, "keys") {
        return *refused;
    }
    let body = match body_json(&body) {
        Ok(v) => v,
        Err(resp) => return *resp,
    };
    let result = async {
        let new = new_key(body)?;
        if let Some(role) = new.roles.iter().find(|r| !d.auth().policy().knows(r)) {
            return Err(Error::validation(
                "roles",
                format!("unknown role `{role}` (configure it under [auth.roles.{role}])"),
            ));
        }
        keys(&d)?.create(new).await
    }
    .await;
    match result {
        Ok((info, secret)) => {
            let mut obj = info.to_json();
            obj["key"] = Value::String(secret);
            (StatusCode::CREATED, Json(obj)).into_response()
        }
        Err(e) => ApiError(e).into_response(),
    }
}

async fn revoke(
    State(d): State<Dispatcher>,
    Authenticated(caller): Authenticated,
    Path(key): Path<String>,
) -> Response {
    if let Err(refused) = admin(&d, &caller, "keys") {
        return *refused;
    }
    let result = match keys(&d) {
        Ok(k) => k.revoke(&key).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(info) => {
            d.auth().keys().forget(info.id);
            Json(info.to_json()).into_response()
        }
        Err(e) => ApiError(e).into_response(),
    }
}
