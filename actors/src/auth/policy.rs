//! Authorization (DESIGN 13.2): roles map to permissions, and a principal may do what one of its
//! roles grants.
//!
//! A permission is `<Model>:<op>` (`Book:bulk_delete`), `workflow:<name>` or `admin:<area>`. A
//! role lists patterns it allows and patterns it denies, each a permission with `*` for either
//! part (`Book:*`, `*:read`, `workflow:*`, `*`). A role grants a permission when one of its
//! `allow` patterns matches it and none of its `deny` patterns does; a principal holds a
//! permission when any of its roles grants it. Roles nobody configured grant nothing.
//!
//! Built in: `admin` (everything) and `reader` (read, list and count on every model); a
//! configured role of the same name replaces the built-in one. The `anonymous` role is what a
//! caller without a credential holds: everything when authentication is not required (a
//! loopback server), nothing otherwise, unless `[auth.roles.anonymous]` says otherwise.

use super::config::RoleConfig;
use flowgate::OpKind;
use std::collections::BTreeMap;
use std::fmt;

/// The areas of `admin:<area>` permissions.
pub const ADMIN_AREAS: [&str; 7] = [
    "models",
    "workflows",
    "keys",
    "audit",
    "metrics",
    "migrations",
    "tenants",
];

/// Something a principal may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission<'a> {
    /// An operation on a model: `Book:read`.
    Op {
        /// The model's name.
        model: &'a str,
        /// The operation.
        op: OpKind,
    },
    /// Running a workflow: `workflow:signup`.
    Workflow(&'a str),
    /// An administrative area: `admin:keys`.
    Admin(&'a str),
}

impl fmt::Display for Permission<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Permission::Op { model, op } => write!(f, "{model}:{}", op.as_str()),
            Permission::Workflow(name) => write!(f, "workflow:{name}"),
            Permission::Admin(area) => write!(f, "admin:{area}"),
        }
    }
}

/// One side of a pattern: a name, or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Any,
    Is(String),
}

impl Part {
    fn of(s: &str) -> Part {
        if s == "*" {
            Part::Any
        } else {
            Part::Is(s.to_string())
        }
    }

    fn matches(&self, s: &str) -> bool {
        match self {
            Part::Any => true,
            Part::Is(x) => x == s,
        }
    }
}

/// A permission pattern of a role.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// `*`: everything.
    All,
    /// `<Model|*>:<op|*>`.
    Op(Part, Option<OpKind>),
    /// `workflow:<name|*>`.
    Workflow(Part),
    /// `admin:<area|*>`.
    Admin(Part),
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, String> {
        if text == "*" {
            return Ok(Pattern::All);
        }
        let Some((left, right)) = text.split_once(':') else {
            return Err(format!(
                "`{text}` is not a permission (expected `<Model>:<op>`, `workflow:<name>`, \
                 `admin:<area>` or `*`)"
            ));
        };
        if right.is_empty() || right.contains(':') {
            return Err(format!("`{text}` is not a permission"));
        }
        match left {
            "workflow" => Ok(Pattern::Workflow(Part::of(right))),
            "admin" => {
                if right != "*" && !ADMIN_AREAS.contains(&right) {
                    return Err(format!(
                        "`{text}`: unknown admin area `{right}` (expected one of {})",
                        ADMIN_AREAS.join(", ")
                    ));
                }
                Ok(Pattern::Admin(Part::of(right)))
            }
            model => {
                let model_ok = model == "*"
                    || (!model.is_empty()
                        && model.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
                if !model_ok {
                    return Err(format!("`{text}`: `{model}` is not a model name or `*`"));
                }
                let op = match right {
                    "*" => None,
                    name => Some(OpKind::parse(name).ok_or_else(|| {
                        let known: Vec<&str> = OpKind::ALL.iter().map(|k| k.as_str()).collect();
                        format!(
                            "`{text}`: unknown operation `{name}` (expected `*` or one of {})",
                            known.join(", ")
                        )
                    })?),
                };
                Ok(Pattern::Op(Part::of(model), op))
            }
        }
    }

    fn matches(&self, p: Permission<'_>) -> bool {
        match (self, p) {
            (Pattern::All, _) => true,
            (Pattern::Op(model, op), Permission::Op { model: m, op: o }) => {
                model.matches(m) && op.is_none_or(|op| op == o)
            }
            (Pattern::Workflow(name), Permission::Workflow(w)) => name.matches(w),
            (Pattern::Admin(area), Permission::Admin(a)) => area.matches(a),
            _ => false,
        }
    }
}

/// A role: what it allows, minus what it denies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Role {
    allow: Vec<Pattern>,
    deny: Vec<Pattern>,
}

impl Role {
    fn grants(&self, p: Permission<'_>) -> bool {
        self.allow.iter().any(|a| a.matches(p)) && !self.deny.iter().any(|d| d.matches(p))
    }

    fn everything() -> Role {
        Role {
            allow: vec![Pattern::All],
            deny: Vec::new(),
        }
    }
}

/// The roles of a server, built once from `[auth.roles]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    roles: BTreeMap<String, Role>,
    /// Whether the anonymous role grants everything (and nothing is denied to it), so that the
    /// request path can skip authorization for anonymous callers.
    anonymous_all: bool,
}

/// The name of the role of callers without a credential.
pub const ANONYMOUS_ROLE: &str = "anonymous";

impl Policy {
    /// The built-in roles overlaid with `configured`; `anonymous_all` says whether a caller
    /// without a credential may do everything (authentication not required) or nothing, when
    /// `configured` has no `anonymous` role. An unknown permission or operation is an error
    /// naming the role and the entry (`auth.roles.editor.allow: ...`).
    pub fn new(
        configured: &BTreeMap<String, RoleConfig>,
        anonymous_all: bool,
    ) -> Result<Policy, String> {
        let mut roles = BTreeMap::new();
        roles.insert("admin".to_string(), Role::everything());
        let reader = ["*:read", "*:list", "*:count"]
            .into_iter()
            .map(|p| Pattern::parse(p).expect("built-in patterns parse"))
            .collect();
        roles.insert(
            "reader".to_string(),
            Role {
                allow: reader,
                deny: Vec::new(),
            },
        );
        roles.insert(
            ANONYMOUS_ROLE.to_string(),
            if anonymous_all {
                Role::everything()
            } else {
                Role::default()
            },
        );
        for (name, config) in configured {
            let parse = |list: &[String], key: &str| -> Result<Vec<Pattern>, String> {
                list.iter()
                    .map(|p| {
                        Pattern::parse(p.trim())
                            .map_err(|e| format!("auth.roles.{name}.{key}: {e}"))
                    })
                    .collect()
            };
            roles.insert(
                name.clone(),
                Role {
                    allow: parse(&config.allow, "allow")?,
                    deny: parse(&config.deny, "deny")?,
                },
            );
        }
        let anonymous_all = roles
            .get(ANONYMOUS_ROLE)
            .is_some_and(|r| r.deny.is_empty() && r.allow.contains(&Pattern::All));
        Ok(Policy {
            roles,
            anonymous_all,
        })
    }

    /// Whether a principal with `roles` holds `p`.
    pub fn allows<S: AsRef<str>>(&self, roles: &[S], p: Permission<'_>) -> bool {
        roles.iter().any(|r| {
            self.roles
                .get(r.as_ref())
                .is_some_and(|role| role.grants(p))
        })
    }

    /// Whether a caller without a credential may do everything.
    pub fn anonymous_may_do_all(&self) -> bool {
        self.anonymous_all
    }

    /// Whether `p` is granted to the anonymous role.
    pub fn anonymous_allows(&self, p: Permission<'_>) -> bool {
        self.allows(&[ANONYMOUS_ROLE], p)
    }

    /// Whether the role is known (built in or configured).
    pub fn knows(&self, role: &str) -> bool {
        self.roles.contains_key(role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(allow: &[&str], deny: &[&str]) -> RoleConfig {
        RoleConfig {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn op(model: &str, op: OpKind) -> Permission<'_> {
        Permission::Op { model, op }
    }

    #[test]
    fn the_issue_s_editor_role() {
        let mut roles = BTreeMap::new();
        roles.insert(
            "editor".to_string(),
            role(
                &["Book:*", "Author:read", "Author:list", "workflow:signup"],
                &["Book:bulk_delete"],
            ),
        );
        let policy = Policy::new(&roles, false).unwrap();
        let editor = ["editor"];
        assert!(policy.allows(&editor, op("Book", OpKind::Create)));
        assert!(policy.allows(&editor, op("Book", OpKind::BulkUpsert)));
        assert!(!policy.allows(&editor, op("Book", OpKind::BulkDelete)));
        assert!(policy.allows(&editor, op("Author", OpKind::Read)));
        assert!(!policy.allows(&editor, op("Author", OpKind::Delete)));
        assert!(policy.allows(&editor, Permission::Workflow("signup")));
        assert!(!policy.allows(&editor, Permission::Workflow("other")));
        assert!(!policy.allows(&editor, Permission::Admin("keys")));
        // Another role of the same principal may grant what one role denies.
        assert!(policy.allows(&["editor", "admin"], op("Book", OpKind::BulkDelete)));
        // Built-ins.
        assert!(policy.allows(&["admin"], Permission::Admin("keys")));
        assert!(policy.allows(&["reader"], op("Book", OpKind::Count)));
        assert!(!policy.allows(&["reader"], op("Book", OpKind::Update)));
        assert!(!policy.allows(&["reader"], Permission::Workflow("signup")));
        // Unknown roles grant nothing; anonymous gets nothing when auth is required.
        assert!(!policy.allows(&["ghost"], op("Book", OpKind::Read)));
        assert!(!policy.anonymous_allows(op("Book", OpKind::Read)));
        assert!(!policy.anonymous_may_do_all());
        let open = Policy::new(&BTreeMap::new(), true).unwrap();
        assert!(open.anonymous_may_do_all());
        assert!(open.anonymous_allows(Permission::Admin("keys")));
    }

    #[test]
    fn a_configured_anonymous_role_replaces_the_default() {
        let mut roles = BTreeMap::new();
        roles.insert("anonymous".to_string(), role(&["*:read"], &[]));
        let policy = Policy::new(&roles, true).unwrap();
        assert!(!policy.anonymous_may_do_all());
        assert!(policy.anonymous_allows(op("Book", OpKind::Read)));
        assert!(!policy.anonymous_allows(op("Book", OpKind::Create)));
    }

    #[test]
    fn bad_patterns_name_the_role_and_the_entry() {
        for (pattern, expected) in [
            ("Book:frobnicate", "unknown operation `frobnicate`"),
            ("admin:everything", "unknown admin area `everything`"),
            ("Book", "is not a permission"),
            ("Bo ok:read", "is not a model name"),
            ("Book:read:x", "is not a permission"),
            ("Book:", "is not a permission"),
        ] {
            let mut roles = BTreeMap::new();
            roles.insert("editor".to_string(), role(&[], &[pattern]));
            let e = Policy::new(&roles, false).unwrap_err();
            assert!(e.starts_with("auth.roles.editor.deny: "), "{e}");
            assert!(e.contains(expected), "{pattern}: {e}");
        }
    }

    #[test]
    fn permissions_print_as_configured() {
        assert_eq!(
            op("Book", OpKind::BulkDelete).to_string(),
            "Book:bulk_delete"
        );
        assert_eq!(
            Permission::Workflow("signup").to_string(),
            "workflow:signup"
        );
        assert_eq!(Permission::Admin("keys").to_string(), "admin:keys");
    }
}
