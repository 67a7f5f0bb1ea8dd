//! `spiegel`: the one binary of the Spiegel trusted third party. This file only parses the
//! command line ([`cli`]) and hands it to the command's module ([`commands`]).
// A command-line program's output is its interface.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod args;
#[cfg(feature = "kafka")]
mod checkpoints;
mod cli;
mod commands;
mod config;
mod generate;
mod health;
mod inputs;
mod key_files;
mod logging;
mod pages;
mod pipeline;
mod records;
#[cfg(feature = "kafka")]
mod stages;
#[cfg(feature = "otel")]
mod telemetry;

use std::process::ExitCode;

use cli::{Cli, Command};

fn main() -> ExitCode {
    use clap::{CommandFactory as _, FromArgMatches as _};
    let matches = match Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(error) => {
            #[cfg(not(feature = "kafka"))]
            if let Some(hint) = cli::kafka_hint(&error) {
                eprintln!("spiegel: {hint}");
                return ExitCode::from(2);
            }
            error.exit()
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let _exporting = match logging::init_logging(
        &cli.log,
        cli.log_format,
        matches.subcommand_name().unwrap_or("spiegel"),
    ) {
        Ok(exporting) => exporting,
        Err(error) => {
            eprintln!("spiegel: {error:#}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Generate(args) => commands::generate::run(args),
        Command::Validate(args) => commands::validate::run(&args),
        Command::Prepare(args) => commands::prepare::run(&args),
        Command::Run(args) => commands::run::run(&args),
        Command::Demo(args) => commands::demo::run(&args),
        Command::Render(args) => commands::render::run(&args),
        Command::Annotate(args) => commands::annotate::run(&args),
        Command::Tokens { command } => commands::tokens::run(&command),
        Command::Serve(args) => commands::serve::run(&args),
        Command::Certs { command } => commands::certs::run(&command),
        Command::Config { command } => commands::config::run(&command),
        Command::Audit { command } => commands::audit::run(&command),
        Command::DeadLetter { command } => commands::dead_letter::run(&command),
        Command::Keys { command } => commands::keys::run(&command),
        #[cfg(feature = "kafka")]
        Command::Topics { command } => commands::stages::topics(&command),
        #[cfg(feature = "kafka")]
        Command::Submit(args) => commands::stages::submit(&args),
        #[cfg(feature = "kafka")]
        Command::Ingest(args) => commands::stages::ingest(&args),
        #[cfg(feature = "kafka")]
        Command::Pseudonymise(args) => commands::stages::pseudonymise(&args),
        #[cfg(feature = "kafka")]
        Command::Aggregate(args) => commands::stages::aggregate(&args),
        #[cfg(feature = "kafka")]
        Command::Publish(args) => commands::stages::publish(&args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("spiegel: {error:#}");
            ExitCode::from(2)
        }
    }
}
