//! The configuration of every process, layered from defaults, file and environment.

use std::path::Path;

use anyhow::{Context, Result};
use spiegel_aggregate::AggregateConfig;
use spiegel_ingest::IngestConfig;
use spiegel_publish::PublishConfig;

/// The configuration of every process: each stage's section, each with defaults. Layered as
/// in Arroyo: the built-in defaults, then the file (`--config`/`SPIEGEL_CONFIG`, JSON or TOML
/// by extension), then `SPIEGEL__SECTION__KEY` environment variables (for example
/// `SPIEGEL__PUBLISH__THRESHOLD=12`). A key that no section knows is an error, wherever it
/// comes from, so a misspelt setting never silently does nothing.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PipelineConfig {
    pub(crate) ingest: IngestConfig,
    pub(crate) aggregate: AggregateConfig,
    pub(crate) publish: PublishConfig,
    /// How the separate stage processes reach Kafka (not used by `spiegel run`).
    #[cfg(feature = "kafka")]
    pub(crate) kafka: spiegel_transport::kafka::KafkaConfig,
}

/// The prefix of configuration environment variables; `__` separates section and key.
const ENV_PREFIX: &str = "SPIEGEL__";

impl PipelineConfig {
    pub(crate) fn load(path: Option<&Path>) -> Result<Self> {
        use figment::providers::{Env, Format, Json, Serialized, Toml};
        let mut figment = figment::Figment::from(Serialized::defaults(Self::default()));
        if let Some(path) = path {
            if !path.is_file() {
                anyhow::bail!("configuration {}: no such file", path.display());
            }
            figment = match path.extension().and_then(|e| e.to_str()) {
                Some("toml") => figment.merge(Toml::file_exact(path)),
                _ => figment.merge(Json::file_exact(path)),
            };
        }
        figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__"));
        let config: Self = figment.extract().map_err(|e| {
            // figment names the key and where it came from (file or variable).
            anyhow::anyhow!(
                "configuration: {}",
                e.into_iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })?;
        // Thresholds below what docs/release-rules.md allows stop every command, not only the
        // publish stage.
        config.publish.validate().context("configuration")?;
        Ok(config)
    }
}

/// What `spiegel config show` prints in place of a secret.
const MASK: &str = "********";

/// Words in a setting's name that make its value a secret.
const SECRET_WORDS: [&str; 6] = [
    "password",
    "secret",
    "token",
    "credential",
    "key.pem",
    "sasl.jaas",
];

impl PipelineConfig {
    /// The effective configuration as `spiegel config show` prints it: every value, secrets
    /// (Kafka client settings named like passwords, keys or tokens, and the SASL password from
    /// the environment) replaced by a mask that says only whether one is set.
    pub(crate) fn masked(&self) -> Result<serde_json::Value> {
        let mut value = serde_json::to_value(self)?;
        if let Some(properties) = value
            .pointer_mut("/kafka/properties")
            .and_then(serde_json::Value::as_object_mut)
        {
            for (name, setting) in properties.iter_mut() {
                let name = name.to_ascii_lowercase();
                if SECRET_WORDS.iter().any(|word| name.contains(word)) {
                    *setting = serde_json::Value::from(MASK);
                }
            }
            if std::env::var_os("SPIEGEL_KAFKA_SASL_PASSWORD").is_some() {
                properties.insert(
                    "sasl.password".to_owned(),
                    serde_json::Value::from(format!("{MASK} (SPIEGEL_KAFKA_SASL_PASSWORD)")),
                );
            }
        }
        Ok(value)
    }
}
