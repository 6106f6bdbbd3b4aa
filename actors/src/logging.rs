//! The binary's log subscriber: `tracing-subscriber`'s formatter on stderr, text (the default)
//! or JSON lines (`log_format = "json"`, `FLOWGATE_LOG_FORMAT`), filtered by `RUST_LOG` or the
//! command's default; ANSI colours only when stderr is a terminal.
//!
//! The subscriber is installed before the configuration is read (so that reading it can log),
//! with the format `FLOWGATE_LOG_FORMAT` names; once a server's configuration is resolved
//! (which may set `log_format` in a file), [`set_format`] swaps the formatter in place through
//! a `reload` layer. A process that installed its own subscriber (an application embedding the
//! `Supervisor`) is left alone.

use serde::de::{Deserialize, Deserializer, Error};
use serde::{Serialize, Serializer};
use std::io::IsTerminal;
use std::sync::{Mutex, OnceLock};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (`tracing-subscriber`'s default format).
    #[default]
    Text,
    /// One JSON object per line (`tracing-subscriber`'s `json` format).
    Json,
}

impl LogFormat {
    /// The format named `name` (`text` or `json`).
    pub fn parse(name: &str) -> Option<LogFormat> {
        match name {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl Serialize for LogFormat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Refuses any other value, naming the key.
impl<'de> Deserialize<'de> for LogFormat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v =
            String::deserialize(d).map_err(|e| D::Error::custom(format!("`log_format`: {e}")))?;
        LogFormat::parse(&v).ok_or_else(|| {
            D::Error::custom(format!(
                "`log_format`: unknown format `{v}` (expected `text` or `json`)"
            ))
        })
    }
}

type Formatter = Box<dyn Layer<Registry> + Send + Sync>;

/// The handle that swaps the formatter, when [`init`] installed the subscriber, and the format
/// in use.
static RELOAD: OnceLock<(reload::Handle<Formatter, Registry>, Mutex<LogFormat>)> = OnceLock::new();

fn formatter(format: LogFormat) -> Formatter {
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => layer.with_ansi(std::io::stderr().is_terminal()).boxed(),
        LogFormat::Json => layer.json().with_ansi(false).boxed(),
    }
}

/// Installs the process's subscriber, logging to stderr; `RUST_LOG` wins over `default`. The
/// format is `FLOWGATE_LOG_FORMAT`'s (text when unset or unknown: the configuration refuses an
/// unknown one when it is read).
pub fn init(default: &str) {
    let format = std::env::var("FLOWGATE_LOG_FORMAT")
        .ok()
        .and_then(|v| LogFormat::parse(&v))
        .unwrap_or_default();
    let (layer, handle) = reload::Layer::new(formatter(format));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    if tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .try_init()
        .is_ok()
    {
        let _ = RELOAD.set((handle, Mutex::new(format)));
    }
}

/// Writes the log in `format` from now on, if [`init`] installed the subscriber. Called before
/// a server starts anything (a formatter finds the fields of a span it saw open, so it is only
/// swapped when the format changes).
pub fn set_format(format: LogFormat) {
    let Some((handle, current)) = RELOAD.get() else {
        return;
    };
    let mut current = current.lock().unwrap_or_else(|e| e.into_inner());
    if *current != format && handle.reload(formatter(format)).is_ok() {
        *current = format;
    }
}
