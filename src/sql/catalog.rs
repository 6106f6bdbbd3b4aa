//! The catalog queries of schema discovery (`crate::introspect`): fixed text, every value
//! (a schema, a table name) bound. Kept here so that `sql` stays the only module that writes
//! SQL text.

/// SQLite's catalog: `sqlite_master` and the table-valued pragmas.
pub(crate) mod sqlite {
    /// Every table and view, with its SQL (for the checks of enums).
    pub(crate) const OBJECTS: &str = "SELECT name, type, COALESCE(sql, '') FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name";

    /// A table's columns.
    pub(crate) const COLUMNS: &str =
        "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1) ORDER BY cid";

    /// A table's indexes.
    pub(crate) const INDEXES: &str =
        "SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1) ORDER BY name";

    /// An index's columns.
    pub(crate) const INDEX_COLUMNS: &str =
        "SELECT cid, name FROM pragma_index_info(?1) ORDER BY seqno";

    /// A table's foreign keys, one row per column.
    pub(crate) const FOREIGN_KEYS: &str = "SELECT id, \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list(?1) ORDER BY id, seq";
}

/// PostgreSQL's catalog (`pg_catalog`).
pub(crate) mod postgres {
    /// The schema's tables and views.
    pub(crate) const RELATIONS: &str = "SELECT c.relname::text, c.relkind::text FROM pg_class c \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY c.relname";

    /// Every column of the schema's tables, in table order, with type, nullability, default, identity and enum labels.
    pub(crate) const COLUMNS: &str = "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), \
     a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity::text <> '', \
     CASE WHEN t.typtype = 'e' THEN ARRAY(SELECT e.enumlabel::text FROM pg_enum e \
          WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) END \
     FROM pg_attribute a \
     JOIN pg_class c ON c.oid = a.attrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_type t ON t.oid = a.atttypid \
     LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 \
       AND NOT a.attisdropped \
     ORDER BY c.relname, a.attnum";

    /// Every index (the primary key's too), with its columns in order.
    pub(crate) const INDEXES: &str = "SELECT c.relname::text, i.relname::text, x.indisprimary, x.indisunique, \
     (x.indpred IS NOT NULL OR x.indexprs IS NOT NULL), \
     ARRAY(SELECT a.attname::text FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(attnum, ord) \
           JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum \
           WHERE k.ord <= x.indnkeyatts ORDER BY k.ord) \
     FROM pg_index x \
     JOIN pg_class c ON c.oid = x.indrelid \
     JOIN pg_class i ON i.oid = x.indexrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname = $1 ORDER BY c.relname, i.relname";

    /// Every foreign key, with its columns and the delete action.
    pub(crate) const FOREIGN_KEYS: &str = "SELECT c.relname::text, k.conname::text, f.relname::text, \
     ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(attnum, ord) \
           JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum ORDER BY u.ord), \
     ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(attnum, ord) \
           JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum ORDER BY u.ord), \
     k.confdeltype::text \
     FROM pg_constraint k \
     JOIN pg_class c ON c.oid = k.conrelid \
     JOIN pg_class f ON f.oid = k.confrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname = $1 AND k.contype = 'f' ORDER BY c.relname, k.conname";

    /// Checks on one column, for enums Flowgate writes as `CHECK (col IN (...))`.
    pub(crate) const CHECKS: &str = "SELECT c.relname::text, a.attname::text, pg_get_constraintdef(k.oid) \
     FROM pg_constraint k \
     JOIN pg_class c ON c.oid = k.conrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] \
     WHERE n.nspname = $1 AND k.contype = 'c' AND cardinality(k.conkey) = 1";

    /// The connection's current schema (the first of its `search_path` that exists).
    pub(crate) const CURRENT_SCHEMA: &str = "SELECT current_schema()";
}

/// MySQL's and MariaDB's catalog (`information_schema`).
pub(crate) mod mysql {
    /// The database's tables and views.
    pub(crate) const TABLES: &str = "SELECT CAST(TABLE_NAME AS CHAR), CAST(TABLE_TYPE AS CHAR) \
     FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME";

    /// Every column of the schema's tables, in table order, with type, nullability, default, identity and enum labels.
    pub(crate) const COLUMNS: &str = "SELECT CAST(TABLE_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR), \
     CAST(COLUMN_TYPE AS CHAR), CAST(IS_NULLABLE AS CHAR), CAST(COLUMN_DEFAULT AS CHAR), \
     CAST(EXTRA AS CHAR) \
     FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
     ORDER BY TABLE_NAME, ORDINAL_POSITION";

    /// Every index (the primary key's too), with its columns in order.
    pub(crate) const INDEXES: &str = "SELECT CAST(TABLE_NAME AS CHAR), CAST(INDEX_NAME AS CHAR), \
     CAST(NON_UNIQUE AS SIGNED), CAST(COLUMN_NAME AS CHAR), CAST(SUB_PART AS SIGNED) \
     FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
     ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX";

    /// Every foreign key, with its columns and the delete action.
    pub(crate) const FOREIGN_KEYS: &str = "SELECT CAST(k.TABLE_NAME AS CHAR), CAST(k.CONSTRAINT_NAME AS CHAR), \
     CAST(k.COLUMN_NAME AS CHAR), CAST(k.REFERENCED_TABLE_NAME AS CHAR), \
     CAST(k.REFERENCED_COLUMN_NAME AS CHAR), CAST(r.DELETE_RULE AS CHAR) \
     FROM information_schema.KEY_COLUMN_USAGE k \
     JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
       ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
      AND r.TABLE_NAME = k.TABLE_NAME \
     WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL \
     ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION";

    /// MariaDB's JSON is a long text with `CHECK (json_valid(col))`, the check named after it.
    pub(crate) const JSON_CHECKS: &str = "SELECT CAST(TABLE_NAME AS CHAR), CAST(CONSTRAINT_NAME AS CHAR), \
     CAST(CHECK_CLAUSE AS CHAR) \
     FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()";

    /// The server's version (`...-MariaDB` on MariaDB).
    pub(crate) const VERSION: &str = "SELECT VERSION()";
}
