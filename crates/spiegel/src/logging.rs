//! Log lines on stderr and, with the `otel` feature, spans to an OpenTelemetry collector.

use crate::cli::LogFormat;
#[cfg(feature = "otel")]
use crate::telemetry;

#[cfg(not(feature = "otel"))]
mod telemetry {
    /// Built without the `otel` feature: nothing to export.
    pub(crate) struct Telemetry;
}

/// What must live as long as the process logs: the span exporter, flushed when dropped.
pub(crate) type Exporting = Option<telemetry::Telemetry>;

/// Log lines on stderr and, with the `otel` feature and an OTLP endpoint configured, the
/// spans to an OpenTelemetry collector; both filtered by `filter`.
pub(crate) fn init_logging(
    filter: &str,
    format: LogFormat,
    command: &str,
) -> anyhow::Result<Exporting> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = || {
        tracing_subscriber::EnvFilter::try_new(filter)
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"))
    };
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    #[cfg_attr(not(feature = "otel"), allow(unused_mut))]
    let mut layers: Vec<Box<dyn tracing_subscriber::Layer<_> + Send + Sync>> = vec![match format {
        // Fields (stage, submission id, release) as keys of their own, for the collector.
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_filter(filter())
            .boxed(),
        // Colour codes only on a terminal, never in a log file.
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(filter())
            .boxed(),
    }];
    #[cfg(feature = "otel")]
    let exporting = match telemetry::layer(command)? {
        Some((spans, telemetry)) => {
            layers.push(spans.with_filter(filter()).boxed());
            Some(telemetry)
        }
        None => None,
    };
    #[cfg(not(feature = "otel"))]
    let exporting = {
        let _ = command;
        None
    };
    tracing_subscriber::registry().with(layers).init();
    Ok(exporting)
}
