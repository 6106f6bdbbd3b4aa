//! `flowgate introspect`: an existing database's tables as a schema file (DESIGN 13.10).

use super::args::{IntrospectArgs, SchemaFormat};
use anyhow::Context as _;
use flowgate::introspect::{self, Options};
use std::process::ExitCode;

pub(crate) async fn introspect_cmd(args: IntrospectArgs) -> anyhow::Result<ExitCode> {
    let opts = Options {
        tables: args.tables,
        schema: args.schema,
        managed: args.managed,
    };
    let found = introspect::introspect(&args.database_url, &opts).await?;
    let by_extension = args
        .output
        .as_ref()
        .and_then(|p| p.extension())
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let format = args.format.unwrap_or(if by_extension {
        SchemaFormat::Json
    } else {
        SchemaFormat::Toml
    });
    let text = match format {
        SchemaFormat::Toml => introspect::to_toml(&found),
        SchemaFormat::Json => {
            for line in found.remarks() {
                eprintln!("{line}");
            }
            let mut text = serde_json::to_string_pretty(&introspect::to_json(&found))?;
            text.push('\n');
            text
        }
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "{} models written to {} ({} tables not served)",
                found.models.len(),
                path.display(),
                found.skipped.len()
            );
        }
        None => {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error.
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
        }
    }
    Ok(ExitCode::SUCCESS)
}
