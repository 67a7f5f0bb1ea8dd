//! OpenTelemetry export of the spans (feature `otel`): where work is done per submission and
//! per release, the stages open spans (`submission` with provider, period and submission id;
//! `release` with the release id), and with `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set they go, batched, to that OTLP/HTTP collector
//! (protobuf; `OTEL_EXPORTER_OTLP_HEADERS`, `…_TIMEOUT` and `…_COMPRESSION` as the
//! specification says). The service is `OTEL_SERVICE_NAME`, or `spiegel-<command>`. Without
//! the variable nothing is exported and no client is built. Spans carry what the log lines
//! carry, never a BSN, key, token or pseudonym.

use anyhow::{Context, Result};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::SdkTracerProvider;

/// The variables that switch the export on.
const ENDPOINTS: [&str; 2] = [
    opentelemetry_otlp::OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    opentelemetry_otlp::OTEL_EXPORTER_OTLP_ENDPOINT,
];

/// Flushes what is still batched when the process ends.
pub(crate) struct Telemetry {
    provider: SdkTracerProvider,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("spiegel: OpenTelemetry: the last spans were not exported: {error}");
        }
    }
}

/// The layer exporting spans, if an endpoint is configured, with what flushes it at the end.
pub(crate) fn layer<S>(
    command: &str,
) -> Result<Option<(impl tracing_subscriber::Layer<S> + Send + Sync, Telemetry)>>
where
    S: tracing::Subscriber
        + for<'span> tracing_subscriber::registry::LookupSpan<'span>
        + Send
        + Sync,
{
    if !ENDPOINTS.iter().any(|v| std::env::var_os(v).is_some()) {
        return Ok(None);
    }
    // The HTTP client uses rustls without a built-in provider choice (as the webhooks do).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .build()
        .context("OpenTelemetry: building the OTLP/HTTP span exporter")?;
    let service =
        std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| format!("spiegel-{command}"));
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(service)
                .build(),
        )
        .build();
    let tracer = provider.tracer("spiegel");
    Ok(Some((
        tracing_opentelemetry::layer().with_tracer(tracer),
        Telemetry { provider },
    )))
}
