//! Groups of arguments several commands share.

use std::path::{Path, PathBuf};

use clap::Args;
use spiegel_audit::{Actor, AuditLog, Principal};
use spiegel_core::{Period, RedenCodelijst};
use spiegel_ingest::{IngestConfig, Limits};

#[derive(Debug, Args)]
pub(crate) struct PipelineArgs {
    /// The pipeline's durable state (topics, accepted submissions, aggregate state).
    #[arg(long, env = "SPIEGEL_DATA_DIR", default_value = "spiegel-data")]
    pub(crate) data_dir: PathBuf,
    /// Directory with stage1.key and stage2.key (`spiegel keys generate`). Default: keys/ in
    /// the data directory, which `run` and `serve` generate once when it is missing.
    #[arg(long, env = "SPIEGEL_KEYS")]
    pub(crate) keys: Option<PathBuf>,
    /// Configuration file with sections ingest, aggregate and publish: TOML when its name ends
    /// in .toml, else JSON.
    #[arg(long, env = "SPIEGEL_CONFIG")]
    pub(crate) config: Option<PathBuf>,
}

/// Options of submission validation shared by `validate` and `prepare`.
#[derive(Debug, Args)]
pub(crate) struct ValidationArgs {
    /// Provider AGB code, when the file name does not say (`<AGB>_<PERIOD>.<ext>`).
    #[arg(long, env = "SPIEGEL_PROVIDER")]
    pub(crate) provider: Option<spiegel_core::Agb>,
    /// Period, when the file name does not say.
    #[arg(long, env = "SPIEGEL_PERIOD")]
    pub(crate) period: Option<Period>,
    /// Encoding (csv, jsonl, parquet), when the file extension does not say.
    #[arg(long, env = "SPIEGEL_FORMAT")]
    pub(crate) format: Option<spiegel_ingest::Format>,
    /// Share of rejected rows at which the whole submission is rejected.
    #[arg(long, env = "SPIEGEL_MAX_REJECTED_SHARE", default_value_t = 0.05)]
    pub(crate) max_rejected_share: f64,
    /// Largest submission in bytes.
    #[arg(long, env = "SPIEGEL_MAX_BYTES", default_value_t = Limits::default().max_bytes)]
    pub(crate) max_bytes: u64,
    /// Most rows in one submission.
    #[arg(long, env = "SPIEGEL_MAX_ROWS", default_value_t = Limits::default().max_rows)]
    pub(crate) max_rows: u64,
    /// Longest field value in bytes.
    #[arg(long, env = "SPIEGEL_MAX_FIELD_BYTES", default_value_t = Limits::default().max_field_bytes)]
    pub(crate) max_field_bytes: usize,
    /// Longest record in bytes.
    #[arg(long, env = "SPIEGEL_MAX_RECORD_BYTES", default_value_t = Limits::default().max_record_bytes)]
    pub(crate) max_record_bytes: usize,
    /// Code list of `reden_beeindiging`: `bij` (JZ588 31-39 also mapped) or `jz588`.
    #[arg(long, env = "SPIEGEL_REDEN_CODELIJST", default_value = "bij", value_parser = parse_codelijst)]
    pub(crate) reden_codelijst: RedenCodelijst,
}

fn parse_codelijst(s: &str) -> Result<RedenCodelijst, String> {
    match s {
        "bij" => Ok(RedenCodelijst::Bij),
        "jz588" => Ok(RedenCodelijst::Jz588),
        _ => Err("use bij or jz588".into()),
    }
}

impl ValidationArgs {
    pub(crate) fn config(&self) -> anyhow::Result<IngestConfig> {
        anyhow::ensure!(
            self.max_rejected_share > 0.0 && self.max_rejected_share <= 1.0,
            "--max-rejected-share must lie in (0, 1]"
        );
        Ok(IngestConfig {
            limits: Limits {
                max_bytes: self.max_bytes,
                max_rows: self.max_rows,
                max_field_bytes: self.max_field_bytes,
                max_record_bytes: self.max_record_bytes,
            },
            max_rejected_share: self.max_rejected_share,
            reden_codelijst: self.reden_codelijst,
            ..IngestConfig::default()
        })
    }

    pub(crate) fn meta(&self, path: &Path) -> anyhow::Result<spiegel_ingest::SubmissionMeta> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let from_name = spiegel_ingest::SubmissionMeta::from_file_name(&name);
        let format = self
            .format
            .or_else(|| spiegel_ingest::Format::from_path(path));
        match (from_name, self.provider, self.period, format) {
            (_, Some(provider), Some(period), Some(format)) => Ok(spiegel_ingest::SubmissionMeta {
                provider,
                period,
                format,
            }),
            (Ok(mut meta), provider, period, format) => {
                meta.provider = provider.unwrap_or(meta.provider);
                meta.period = period.unwrap_or(meta.period);
                meta.format = format.unwrap_or(meta.format);
                Ok(meta)
            }
            (Err(e), ..) => Err(anyhow::anyhow!(
                "{e}\n(or give --provider, --period and --format)"
            )),
        }
    }
}

/// Who runs the command, for the audit log.
#[derive(Debug, Args)]
pub(crate) struct Operator {
    /// The data directory holding the audit log (and the state database, without
    /// `--database-url`).
    #[arg(long, env = "SPIEGEL_DATA_DIR", default_value = "spiegel-data")]
    pub(crate) data_dir: PathBuf,
    #[command(flatten)]
    pub(crate) database: DatabaseArgs,
    /// The operator running this command, as recorded in the audit log.
    #[arg(long = "by", env = "SPIEGEL_OPERATOR", default_value = "cli")]
    pub(crate) by: String,
    /// Where the audit log's checkpoints are: a directory, or `kafka` (see `spiegel serve
    /// --help`). Default: audit-checkpoints/ in the data directory.
    #[arg(long, env = "SPIEGEL_AUDIT_CHECKPOINTS")]
    pub(crate) audit_checkpoints: Option<String>,
}

impl Operator {
    pub(crate) fn actor(&self) -> anyhow::Result<Actor> {
        Ok(Actor::Principal(Principal::operator(&self.by)?))
    }

    /// Commands that read or change what is there need a data directory that exists; they
    /// must not create one (and an audit log in it) around a mistyped path.
    pub(crate) fn existing_data_dir(&self) -> anyhow::Result<()> {
        crate::inputs::readable_dir(&self.data_dir, "--data-dir")
    }

    pub(crate) fn audit_log(&self) -> anyhow::Result<AuditLog> {
        crate::records::open_audit_log(&self.data_dir, self.audit_checkpoints.as_deref())
    }

    /// The API's state database, opened (and migrated) as `spiegel serve` opens it. Moving the
    /// JSON state of an older data directory in is left to `spiegel serve`: a command pointed
    /// at some old directory must not pour its tokens into a shared database.
    pub(crate) fn state(&self) -> anyhow::Result<ApiState> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let url = self.database.url()?;
        let db = runtime.block_on(spiegel_serve::open_state(&self.data_dir, url.as_ref()))?;
        for file in spiegel_serve::json_state_not_moved(&self.data_dir) {
            tracing::warn!(
                file = %file.display(),
                "this data directory's JSON state is not in the database yet: `spiegel serve` \
                 moves it in on its first start with this data directory"
            );
        }
        Ok(ApiState { runtime, db })
    }
}

/// Where the HTTP API keeps its state: tokens, client certificates.
#[derive(Debug, Args)]
pub(crate) struct DatabaseArgs {
    /// The API's state database: postgres://USER@HOST/DATABASE (the password best in
    /// PGPASSWORD, out of the URL), or sqlite://PATH. Default: spiegel.sqlite in the data
    /// directory. Every API replica and `spiegel tokens`/`certs` must name the same one.
    // A string for clap: its parse errors quote the value, which may hold a password.
    #[arg(
        long = "database-url",
        env = "SPIEGEL_DATABASE_URL",
        hide_env_values = true
    )]
    url: Option<String>,
}

impl DatabaseArgs {
    /// The database named, if one is; refused with its scheme only, never the value.
    pub(crate) fn url(&self) -> anyhow::Result<Option<spiegel_serve::DatabaseUrl>> {
        Ok(self
            .url
            .as_deref()
            .map(spiegel_serve::DatabaseUrl::parse)
            .transpose()?)
    }
}

/// The state database of a command run from the shell, with the runtime its queries run on
/// (the commands themselves are synchronous).
#[derive(Debug)]
pub(crate) struct ApiState {
    runtime: tokio::runtime::Runtime,
    db: spiegel_serve::Database,
}

impl ApiState {
    /// The token store.
    pub(crate) fn tokens(&self) -> spiegel_serve::TokenStore {
        spiegel_serve::TokenStore::new(self.db.clone())
    }

    /// The client-certificate registry.
    pub(crate) fn certificates(&self) -> spiegel_serve::CertificateRegistry {
        spiegel_serve::CertificateRegistry::new(self.db.clone())
    }

    /// Runs one query (or a few) to its end.
    pub(crate) fn run<F: Future>(&self, query: F) -> F::Output {
        self.runtime.block_on(query)
    }
}

/// Exactly one principal.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct PrincipalArgs {
    /// A provider, by AGB code.
    #[arg(long)]
    provider: Option<String>,
    /// A municipality, by CBS code GMxxxx.
    #[arg(long)]
    gemeente: Option<String>,
    /// An operator, by name.
    #[arg(long)]
    operator: Option<String>,
}

impl PrincipalArgs {
    pub(crate) fn principal(&self) -> anyhow::Result<Principal> {
        Ok(match (&self.provider, &self.gemeente, &self.operator) {
            (Some(agb), _, _) => Principal::provider(agb)?,
            (_, Some(code), _) => Principal::gemeente(code)?,
            (_, _, Some(name)) => Principal::operator(name)?,
            // clap's group makes exactly one of them present.
            _ => anyhow::bail!("name one of --provider, --gemeente or --operator"),
        })
    }
}
