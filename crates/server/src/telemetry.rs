//! Structured JSON logs through `tracing`, one object per line on stdout.
//!
//! `MEDVAULT_LOG` sets the filter (`info`, `debug,sqlx=warn`, ...). Nothing logs a header,
//! a body or a raw path: request logs name the route template only (see `http::metrics`).

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const DEFAULT_FILTER: &str = "info,sqlx=warn";

/// Where log lines go: the server's stdout, or stderr for commands whose stdout is their output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    Stdout,
    Stderr,
}

pub fn init(target: LogTarget) {
    let (filter, invalid) = match std::env::var("MEDVAULT_LOG") {
        Ok(value) => match value.parse::<Targets>() {
            Ok(filter) => (filter, None),
            Err(_) => (default_filter(), Some(value)),
        },
        Err(_) => (default_filter(), None),
    };
    let logs = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(move || -> Box<dyn std::io::Write> {
            match target {
                LogTarget::Stdout => Box::new(std::io::stdout()),
                LogTarget::Stderr => Box::new(std::io::stderr()),
            }
        });
    // A second initialisation (tests calling into the library) keeps the first subscriber.
    if tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .try_init()
        .is_ok()
    {
        install_panic_hook();
    }
    if let Some(value) = invalid {
        tracing::warn!(value = %value, "MEDVAULT_LOG is not a valid filter; using the default");
    }
}

fn default_filter() -> Targets {
    DEFAULT_FILTER.parse().expect("the default filter is valid")
}

/// Panic payloads can quote the data being processed, so only the location is logged.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()));
        tracing::error!(location = location.as_deref().unwrap_or("unknown"), "panic");
    }));
}
