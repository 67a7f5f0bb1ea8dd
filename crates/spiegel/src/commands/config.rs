//! `spiegel config show`: the configuration in effect.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::config::PipelineConfig;

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Prints the configuration in effect (built-in defaults, then the file, then
    /// `SPIEGEL__SECTION__KEY` variables) as JSON, every secret masked; fails on a key no
    /// section knows.
    Show {
        /// The configuration file (JSON, or TOML by its `.toml` extension).
        #[arg(long, env = "SPIEGEL_CONFIG")]
        config: Option<PathBuf>,
        /// What the stage processes' own options override of the `kafka` section.
        #[cfg(feature = "kafka")]
        #[command(flatten)]
        kafka: crate::stages::KafkaOverrides,
    },
}

/// Prints the effective configuration, every secret masked.
pub(crate) fn run(command: &ConfigCommand) -> anyhow::Result<ExitCode> {
    let ConfigCommand::Show { config, .. } = command;
    #[cfg_attr(not(feature = "kafka"), allow(unused_mut))]
    let mut effective = PipelineConfig::load(config.as_deref())?;
    #[cfg(feature = "kafka")]
    {
        let ConfigCommand::Show { kafka, .. } = command;
        kafka.apply(&mut effective.kafka);
    }
    println!("{}", serde_json::to_string_pretty(&effective.masked()?)?);
    Ok(ExitCode::SUCCESS)
}
