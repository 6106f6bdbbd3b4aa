//! `$regex` patterns: the subset that SQLite (Rust's regex crate), PostgreSQL (ARE) and MySQL
//! (PCRE, ICU) read alike.
//!
//! A pattern must compile with the regex crate and keep to syntax the three engines share. Outside
//! it they differ silently or fail: `\b` is a word boundary in Rust and PCRE but a backspace in
//! PostgreSQL; `\z`, `\pL` and inline flags after the start are errors there; inside brackets
//! PostgreSQL refuses `\D`, `\S` and `\W`; `\x41B` is one character in PostgreSQL and two elsewhere.
//! One difference remains: without `(?s)`, `.` matches a newline on PostgreSQL only.

/// Escapes every engine reads alike outside brackets: the class shorthands and a few controls.
const ESCAPES: &str = "dDsSwWntr";
/// Inside brackets PostgreSQL takes only the positive shorthands.
const CLASS_ESCAPES: &str = "dswntr";

/// Checks a `$regex` pattern; the error is a reason in lowercase.
pub(crate) fn check_regex(pattern: &str) -> Result<(), String> {
    if pattern.len() > 1000 {
        return Err("a regular expression is at most 1000 bytes".into());
    }
    regex::Regex::new(pattern).map_err(|e| {
        let last = e
            .to_string()
            .lines()
            .last()
            .unwrap_or("invalid")
            .trim()
            .to_string();
        format!("not a valid regular expression: {last}")
    })?;
    check_portable(pattern)?;
    check_repetitions(pattern)
}

/// PostgreSQL refuses a counted repetition above 255 (`a{1000}`: "invalid repetition count"), so
/// every engine gets the same bound.
const MAX_REPEAT: u32 = 255;

fn check_repetitions(pattern: &str) -> Result<(), String> {
    use regex_syntax::ast::{Ast, RepetitionKind, RepetitionRange};
    fn walk(ast: &Ast) -> Result<(), String> {
        match ast {
            Ast::Repetition(rep) => {
                if let RepetitionKind::Range(range) = &rep.op.kind {
                    let most = match *range {
                        RepetitionRange::Exactly(n) | RepetitionRange::AtLeast(n) => n,
                        RepetitionRange::Bounded(m, n) => m.max(n),
                    };
                    if most > MAX_REPEAT {
                        return Err(format!(
                            "a counted repetition is at most {{{MAX_REPEAT}}} (got {most})"
                        ));
                    }
                }
                walk(&rep.ast)
            }
            Ast::Group(g) => walk(&g.ast),
            Ast::Alternation(a) => a.asts.iter().try_for_each(walk),
            Ast::Concat(c) => c.asts.iter().try_for_each(walk),
            _ => Ok(()),
        }
    }
    match regex_syntax::ast::parse::Parser::new().parse(pattern) {
        Ok(ast) => walk(&ast),
        // It compiled above; a parse failure here is a difference between the two parsers.
        Err(e) => Err(format!("not a valid regular expression: {e}")),
    }
}

/// Refuses the syntax the engines read differently (see the module docs). The pattern compiles,
/// so brackets and groups are balanced.
fn check_portable(pattern: &str) -> Result<(), String> {
    let mut in_class = false;
    let mut iter = pattern.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        match c {
            '\\' => {
                let e = iter.next().map(|(_, e)| e).unwrap_or('\\');
                let allowed = if in_class { CLASS_ESCAPES } else { ESCAPES };
                if !(e.is_ascii_punctuation() || allowed.contains(e)) {
                    return Err(format!(
                        "`\\{e}` is not read alike by every database{}",
                        if in_class { " inside brackets" } else { "" }
                    ));
                }
            }
            '[' if !in_class => {
                in_class = true;
                // A `]` right after `[` or `[^` is a literal.
                if iter.peek().is_some_and(|&(_, n)| n == '^') {
                    iter.next();
                }
                if iter.peek().is_some_and(|&(_, n)| n == ']') {
                    iter.next();
                }
            }
            '[' if pattern[i..].starts_with("[:") => {
                // A POSIX class such as `[:digit:]` inside brackets.
                let end = pattern[i..].find(":]").map_or(pattern.len(), |e| i + e + 2);
                while iter.peek().is_some_and(|&(j, _)| j < end) {
                    iter.next();
                }
            }
            ']' if in_class => in_class = false,
            '(' if !in_class && pattern[i..].starts_with("(?") => check_group(pattern, i)?,
            _ => {}
        }
    }
    Ok(())
}

/// `(?:...)` is fine anywhere; flags only as `(?i)`, `(?s)` or `(?is)` at the very start.
fn check_group(pattern: &str, at: usize) -> Result<(), String> {
    let rest = &pattern[at + 2..];
    if rest.starts_with(':') {
        return Ok(());
    }
    let flags: &str = &rest[..rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len())];
    let leading_flags = at == 0
        && !flags.is_empty()
        && flags.chars().all(|f| f == 'i' || f == 's')
        && rest[flags.len()..].starts_with(')');
    if leading_flags {
        Ok(())
    } else {
        Err("of the `(?` groups only `(?:...)`, and `(?i)` or `(?s)` at the very start, are read alike by every database".into())
    }
}

#[cfg(test)]
mod tests {
    use super::check_regex;

    #[test]
    fn takes_the_common_subset() {
        for ok in [
            "^a.c$",
            "(?i)^alpha$",
            "(?is)a.b",
            "(?:ab)+c{2,3}",
            r"\d+\.\d*",
            r"\s\S\w\W",
            r"[\d\s_-]",
            r"[^\]a]",
            "[]a]",
            "[[:digit:]x]+",
            r"\(\)\[\]\{\}\\\$\^\|\?\*\+",
            "a{255}",
            "a|b",
            "[(?]",
        ] {
            assert_eq!(check_regex(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_what_engines_read_differently() {
        for bad in [
            r"\bword\b",
            r"\Aa",
            r"a\z",
            r"\pL",
            r"\x41",
            r"[\D]",
            r"[a\W]",
            "a(?i)b",
            "(?m)^a",
            "(?i:a)b",
            "(?P<n>a)",
            "(?x)a b",
            "a{1000}",
            "a{2,256}",
            "(ab{300,})c",
        ] {
            assert!(check_regex(bad).is_err(), "{bad}");
        }
        assert!(
            check_regex("(")
                .unwrap_err()
                .starts_with("not a valid regular expression")
        );
        assert!(check_regex(r"\bx").unwrap_err().contains(r"`\b`"));
    }
}
