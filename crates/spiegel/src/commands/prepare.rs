//! `spiegel prepare`: stage 1 at the provider.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use spiegel_ingest::{Column, Format, Ingest, ValidRecord};
use spiegel_pseudonymise::SourceKey;

use clap::Args;

use crate::args::ValidationArgs;

#[derive(Debug, Args)]
pub(crate) struct PrepareArgs {
    /// The stage-1 key file (K1) received from the TTP.
    #[arg(long, env = "SPIEGEL_SOURCE_KEY_FILE")]
    source_key: PathBuf,
    /// The submission with BSNs.
    input: PathBuf,
    /// Where to write the submission with client tokens (csv, jsonl or parquet by extension).
    output: PathBuf,
    /// Print the receipt as JSON.
    #[arg(long, env = "SPIEGEL_JSON")]
    json: bool,
    #[command(flatten)]
    validation: ValidationArgs,
}

pub(crate) fn run(args: &PrepareArgs) -> Result<ExitCode> {
    let key = SourceKey::from_file(&args.source_key)?;
    let config = args.validation.config()?;
    crate::inputs::readable_file(&args.input, "input")?;
    crate::inputs::writable_file(&args.output, "output")?;
    let meta = args.validation.meta(&args.input)?;
    // An output without an extension gets CSV; an extension that names no format is refused.
    let output_format = match args.output.extension() {
        None => Format::Csv,
        Some(extension) => Format::from_path(&args.output).ok_or_else(|| {
            anyhow::anyhow!(
                "unknown format '{}'; use csv, jsonl or parquet",
                extension.to_string_lossy()
            )
        })?,
    };
    let outcome = Ingest::new(&config, &meta)
        .tokenise_with(&key)
        .read_path(&args.input)
        .with_context(|| format!("{}", args.input.display()))?;
    let receipt = &outcome.receipt;
    if args.json {
        println!("{}", serde_json::to_string(receipt)?);
    } else {
        println!("{}", receipt.to_text());
    }
    if !receipt.accepted() {
        eprintln!(
            "spiegel: niets geschreven: de levering is afgewezen / nothing written: the submission was rejected"
        );
        return Ok(ExitCode::from(1));
    }
    write_atomically(&args.output, |file| {
        write_records(file, output_format, &outcome.records)
    })?;
    tracing::info!(records = outcome.records.len(), output = %args.output.display(), "prepared");
    eprintln!(
        "{} records met client_token geschreven naar / records with client_token written to {}",
        outcome.records.len(),
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes to a temporary file beside `path` and renames it, so a half-written file never
/// stands under the final name.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    let partial = path.with_extension("partial");
    let file = File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let mut writer = BufWriter::new(file);
    write(&mut writer)?;
    writer
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn write_records(out: &mut BufWriter<File>, format: Format, records: &[ValidRecord]) -> Result<()> {
    match format {
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record(Column::ALL.iter().map(|c| c.name()))?;
            for record in records {
                writer.write_record(record.to_v1().iter().map(|v| v.as_deref().unwrap_or("")))?;
            }
            writer.flush()?;
        }
        Format::Jsonl => {
            for record in records {
                let object: serde_json::Map<String, serde_json::Value> = Column::ALL
                    .iter()
                    .zip(record.to_v1())
                    .filter_map(|(c, v)| {
                        v.map(|v| (c.name().to_owned(), serde_json::Value::String(v)))
                    })
                    .collect();
                serde_json::to_writer(&mut *out, &object)?;
                out.write_all(b"\n")?;
            }
        }
        Format::Parquet => {
            use arrow_array::{ArrayRef, RecordBatch, StringArray};
            let schema = spiegel_ingest::submission_schema();
            let mut writer = parquet::arrow::ArrowWriter::try_new(out, schema.clone(), None)?;
            // In row groups, so memory stays bounded by one chunk of text, not the whole file.
            for chunk in records.chunks(64 * 1024) {
                let rows: Vec<Vec<Option<String>>> = chunk.iter().map(ValidRecord::to_v1).collect();
                let columns: Vec<ArrayRef> = (0..Column::ALL.len())
                    .map(|i| {
                        let values: StringArray = rows.iter().map(|r| r[i].as_deref()).collect();
                        Arc::new(values) as ArrayRef
                    })
                    .collect();
                writer.write(&RecordBatch::try_new(schema.clone(), columns)?)?;
                writer.flush()?;
            }
            writer.close()?;
        }
    }
    Ok(())
}
