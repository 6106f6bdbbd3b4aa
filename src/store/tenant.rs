//! [`TenantStore`]: a store handle that acts for one tenant (DESIGN 13.4, "one shared data
//! layer, a light app per tenant").

use super::{Store, Transaction};
use crate::context::Context;
use crate::error::Result;
use crate::model::ModelInfo;
use crate::operation::{OpKind, Operation};
use crate::output::{Form, Output};
use crate::params::Params;
use serde_json::Value;
use std::sync::Arc;

/// A [`Store`] scoped to one tenant: every operation acts for it, whatever tenant its context
/// names. Made by [`Store::for_tenant`]; it costs a clone of the store's handle and the
/// tenant's id, nothing at start-up and nothing per tenant.
#[derive(Clone, Debug)]
pub struct TenantStore {
    store: Store,
    tenant: Arc<str>,
}

impl TenantStore {
    pub(crate) fn new(store: Store, tenant: &str) -> Result<TenantStore> {
        crate::context::check_tenant_id(tenant)?;
        Ok(TenantStore {
            store,
            tenant: Arc::from(tenant),
        })
    }

    /// The tenant it acts for.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The store underneath (not scoped).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// `ctx` acting for this tenant.
    pub fn context(&self, ctx: &Context) -> Context {
        Context {
            tenant: Some(self.tenant.to_string()),
            ..ctx.clone()
        }
    }

    /// [`Store::execute`] for this tenant.
    pub async fn execute(&self, ctx: &Context, op: &Operation) -> Result<Value> {
        self.store.execute(&self.context(ctx), op).await
    }

    /// [`Store::run`] for this tenant.
    pub async fn run(
        &self,
        ctx: &Context,
        model: &ModelInfo,
        kind: OpKind,
        params: &Value,
    ) -> Result<Value> {
        self.store
            .run(&self.context(ctx), model, kind, params)
            .await
    }

    /// [`Store::run_params`] for this tenant.
    pub async fn run_params(
        &self,
        ctx: &Context,
        model: &ModelInfo,
        kind: OpKind,
        params: &Params,
    ) -> Result<Value> {
        self.store
            .run_params(&self.context(ctx), model, kind, params)
            .await
    }

    /// [`Store::run_output`] for this tenant.
    pub async fn run_output(
        &self,
        ctx: &Context,
        model: &ModelInfo,
        kind: OpKind,
        params: &Params,
        form: Form,
    ) -> Result<Output> {
        self.store
            .run_output(&self.context(ctx), model, kind, params, form)
            .await
    }

    /// [`Store::begin`]: a transaction whose operations all act for this tenant.
    pub async fn begin(&self) -> Result<Transaction> {
        let mut tx = self.store.begin().await?;
        tx.tenant = Some(self.tenant.clone());
        Ok(tx)
    }
}
