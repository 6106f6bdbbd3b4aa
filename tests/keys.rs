//! API keys in the data layer (`flowgate::keys`) on SQLite, PostgreSQL and MySQL: a key is shown
//! once and kept only as its hash; it is found by its secret, listed without it, revoked,
//! expires, and records its last use.
#![allow(missing_docs)]

mod common;

use common::Backend;
use flowgate::keys::{self, ApiKeys, NewKey};
use flowgate::{Schema, Store, StoreConfig};
use std::time::Duration;

async fn app(backend: Backend) -> Option<Store> {
    let url = common::fresh_url(backend).await?;
    let mut cfg = StoreConfig::new(url);
    cfg.pool_size = 2;
    Some(
        Store::connect(&cfg, Schema::default())
            .await
            .expect("connect"),
    )
}

async fn keys_are_created_found_listed_and_revoked(b: Backend) {
    let Some(store) = app(b).await else { return };
    assert!(
        ApiKeys::existing(&store).await.unwrap().is_none(),
        "no table before open"
    );
    let keys = ApiKeys::open(&store).await.unwrap();
    assert!(ApiKeys::existing(&store).await.unwrap().is_some());

    let mut new = NewKey::new("ci-bot", ["reader", "editor"]);
    new.tenant = Some("acme".into());
    let (info, secret) = keys.create(new).await.unwrap();
    assert!(keys::looks_like_key(&secret), "{secret}");
    assert_eq!(info.name, "ci-bot");
    assert_eq!(info.roles, ["reader", "editor"]);
    assert_eq!(info.tenant.as_deref(), Some("acme"));
    assert!(secret.starts_with(&info.prefix) && info.prefix.len() == 10);
    assert!(info.is_usable(chrono::Utc::now()));
    assert_eq!(info.to_json()["status"], "active");

    // Only the hash is stored: no column of the table holds the key.
    let listed = keys.list().await.unwrap();
    assert_eq!(listed, vec![info.clone()]);
    let text = serde_json::to_string(&listed[0].to_json()).unwrap();
    assert!(!text.contains(&secret), "{text}");

    // Found by its secret; another secret of the same shape finds nothing.
    assert_eq!(keys.find(&secret).await.unwrap(), Some(info.clone()));
    assert_eq!(keys.find(&keys::generate_secret()).await.unwrap(), None);
    assert_eq!(keys.find("not a key").await.unwrap(), None);

    // A name is used once.
    let e = keys
        .create(NewKey::new("ci-bot", ["reader"]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "conflict");
    assert_eq!(e.to_json()["field"], "name", "{}", e.to_json());

    // Revoked by name or by id; revoking again changes nothing.
    let revoked = keys.revoke("ci-bot").await.unwrap();
    assert!(revoked.revoked_at.is_some());
    assert!(!revoked.is_usable(chrono::Utc::now()));
    assert_eq!(revoked.to_json()["status"], "revoked");
    let again = keys.revoke(&info.id.to_string()).await.unwrap();
    assert_eq!(again.revoked_at, revoked.revoked_at);
    let found = keys.find(&secret).await.unwrap().expect("still stored");
    assert!(!found.is_usable(chrono::Utc::now()));
    let e = keys.revoke("nobody").await.unwrap_err();
    assert_eq!(e.code(), "not_found");
    store.close().await;
}

async fn keys_expire_and_record_their_last_use(b: Backend) {
    let Some(store) = app(b).await else { return };
    let keys = ApiKeys::open(&store).await.unwrap();
    let mut new = NewKey::new("short", ["reader"]);
    new.expires_in = Some(Duration::from_secs(3600));
    let (info, secret) = keys.create(new).await.unwrap();
    let expires = info.expires_at.expect("an expiry");
    let now = chrono::Utc::now();
    assert!(expires > now + chrono::Duration::minutes(59), "{expires}");
    assert!(info.is_usable(now));
    assert!(!info.is_usable(expires));
    assert_eq!(
        info.status(expires + chrono::Duration::seconds(1)),
        "expired"
    );

    assert_eq!(info.last_used_at, None);
    let at = flowgate::value::now();
    keys.touch(&[(info.id, at), (info.id + 1000, at)])
        .await
        .unwrap();
    let found = keys.find(&secret).await.unwrap().unwrap();
    assert_eq!(found.last_used_at, Some(at));

    // Bad input is a validation error naming the field, and creates nothing.
    for (bad, field) in [
        (NewKey::new("has space", ["reader"]), "name"),
        (NewKey::new("42", ["reader"]), "name"),
        (NewKey::new("ok", Vec::<String>::new()), "roles"),
        (NewKey::new("ok", ["re ader"]), "roles.0"),
    ] {
        let e = keys.create(bad).await.unwrap_err();
        assert_eq!(e.code(), "validation");
        assert_eq!(e.to_json()["field"], field, "{}", e.to_json());
    }
    assert_eq!(keys.list().await.unwrap().len(), 1);
    store.close().await;
}

conformance!(
    keys_are_created_found_listed_and_revoked,
    keys_expire_and_record_their_last_use
);
