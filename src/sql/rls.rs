//! PostgreSQL row-level security on tenant-scoped tables (DESIGN 13.4): the second wall.
//!
//! Every statement the store builds on a tenant-scoped model already names its tenant
//! (`Filter::Tenant`, the new rows' `tenant_id`). On PostgreSQL the table also carries a policy
//! that lets a statement see and write only the rows of the tenant set on its connection
//! (`flowgate.tenant_id`), forced on the table's owner too, so that a query that forgot the
//! filter still sees one tenant. The store sets the tenant before each operation on a scoped
//! model ([`set_tenant`]): transaction-local inside a transaction (`SET LOCAL`), for the
//! connection otherwise, where the next operation on a scoped model sets its own. A connection
//! with no tenant set sees no row of a scoped table.
//!
//! Nothing in Flowgate reads a scoped table for no tenant or for all of them. Superusers and roles with `BYPASSRLS` pass every policy: the wall holds for the role
//! Flowgate connects as only when it is neither (README, "Tenancy").

use super::{Dialect, Stmt};
use crate::model::{ModelInfo, TENANT_COLUMN};

/// The setting that names the tenant of the statements on a connection.
pub const TENANT_SETTING: &str = "flowgate.tenant_id";

/// The policy's name on every tenant-scoped table.
pub const POLICY: &str = "flowgate_tenant";

/// A PostgreSQL identifier, quoted (model tables are validated snake_case names already).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The statements that put the policy on a scoped model's table: row-level security enabled
/// and forced (the owner is held too), the policy made unless there. Nothing on other databases or on
/// a shared model. Running them again changes nothing.
pub fn enable(model: &ModelInfo, d: Dialect) -> Vec<Stmt> {
    if d != Dialect::Postgres || !model.is_tenant_scoped() {
        return Vec::new();
    }
    let table = ident(&model.table);
    let col = ident(TENANT_COLUMN);
    let tenant = format!("current_setting('{TENANT_SETTING}', true)");
    vec![
        Stmt::raw(format!("ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")),
        Stmt::raw(format!("ALTER TABLE {table} FORCE ROW LEVEL SECURITY")),
        // Made once: an existing policy of the name is this one (no notice for a missing one).
        Stmt::raw(format!(
            "DO $$ BEGIN CREATE POLICY {POLICY} ON {table} \
             USING ({col} = {tenant}) WITH CHECK ({col} = {tenant}); \
             EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )),
    ]
}

/// The statements that take the policy off (turning tenancy off for a model): nothing on other
/// databases or on a shared model.
pub fn disable(model: &ModelInfo, d: Dialect) -> Vec<Stmt> {
    if d != Dialect::Postgres || !model.is_tenant_scoped() {
        return Vec::new();
    }
    let table = ident(&model.table);
    vec![
        Stmt::raw(format!("DROP POLICY IF EXISTS {POLICY} ON {table}")),
        Stmt::raw(format!("ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")),
        Stmt::raw(format!("ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")),
    ]
}

/// Sets the tenant of the statements that follow on a PostgreSQL connection: until the
/// transaction ends when `local`, otherwise until set again.
pub fn set_tenant(tenant: &str, local: bool) -> Stmt {
    Stmt {
        sql: "SELECT set_config($1, $2, $3)".into(),
        values: vec![
            sea_query::Value::from(TENANT_SETTING),
            sea_query::Value::from(tenant.to_string()),
            sea_query::Value::from(local),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FieldDef, FieldType, ModelDef, Schema};

    fn model(scoped: bool) -> std::sync::Arc<ModelInfo> {
        let mut defs = vec![
            ModelDef::new("Note")
                .tenant_scoped(scoped)
                .field(FieldDef::new("body", FieldType::Text)),
        ];
        crate::model::resolve_tenancy(&mut defs, true);
        Schema::new(defs).unwrap().get("Note").unwrap().clone()
    }

    #[test]
    fn policies_only_on_postgres_scoped_tables() {
        assert_eq!(enable(&model(true), Dialect::Postgres).len(), 3);
        assert!(enable(&model(true), Dialect::Sqlite).is_empty());
        assert!(enable(&model(true), Dialect::MySql).is_empty());
        assert!(enable(&model(false), Dialect::Postgres).is_empty());
        assert!(disable(&model(false), Dialect::Postgres).is_empty());
        let create = &enable(&model(true), Dialect::Postgres)[2].sql;
        assert!(create.contains("ON \"notes\""), "{create}");
        assert!(
            create.contains(
                "WITH CHECK (\"tenant_id\" = current_setting('flowgate.tenant_id', true))"
            ),
            "{create}"
        );
    }

    #[test]
    fn the_tenant_is_bound_never_written_in() {
        let s = set_tenant("a'; DROP TABLE notes; --", true);
        assert!(!s.sql.contains("DROP"));
        assert_eq!(s.values.len(), 3);
    }
}
