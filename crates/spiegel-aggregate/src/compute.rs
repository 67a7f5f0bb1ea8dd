//! The master table of a set of pseudonymised submissions: decoded into trajectories,
//! linked across providers and periods ([`crate::link`]), and computed one period (part) at a
//! time into cells ([`crate::cells`]), each part identified by a digest of what it is computed
//! from.

use arrow_array::RecordBatch;
use spiegel_core::Reference;
use spiegel_pseudonymise::TtpId;

use crate::{Result, cells, link, model, store, table};

/// Version of the computation; part of every release id and of the reports' `method_version`.
pub const METHOD_VERSION: &str = "spiegel-indicators-1";
/// Windows and norms of the indicators (docs/linkage.md, docs/indicators.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AggregateConfig {
    /// W of "geen nieuwe start", in days.
    pub no_new_start_days: u32,
    /// Lookback of "herhaald beroep", in days.
    pub repeat_lookback_days: u32,
    /// A start at the same provider at most this many days after an end is a continuation.
    pub continuation_days: u32,
    /// Norm of `started_within_norm_share`, in days.
    pub waiting_norm_days: u32,
}

impl Default for AggregateConfig {
    fn default() -> Self {
        Self {
            no_new_start_days: 182,
            repeat_lookback_days: 5 * 365 + 1,
            continuation_days: 1,
            waiting_norm_days: 42,
        }
    }
}

/// The label pseudonyms must carry to be linked: the current K2 of this TTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PseudonymLabel {
    /// The TTP.
    pub ttp: TtpId,
    /// The K2 version in force.
    pub version: u32,
}

/// Computes the master table of a set of pseudonymised submissions (the latest per provider
/// and period) and hands it over one period at a time as `part(index, parts, batch)`, with
/// index counting from one. Each submission is decoded and dropped in turn, so memory holds
/// the compact trajectories and one period's cells, not the batches.
pub fn master_table(
    config: &AggregateConfig,
    label: &PseudonymLabel,
    submissions: impl IntoIterator<Item = Result<RecordBatch>>,
    mut part: impl FnMut(usize, usize, RecordBatch) -> Result<()>,
) -> Result<()> {
    let reference = Reference::embedded();
    let regions: Vec<String> = reference.regions().to_vec();
    let mut decoded = Vec::new();
    for batch in submissions {
        decoded.push(decode_submission(&batch?, label, reference, &regions)?);
    }
    let providers = number_providers(&mut decoded.iter_mut().collect::<Vec<_>>());
    let decoded: Vec<&model::Submission> = decoded.iter().collect();
    compute_parts(
        config,
        label,
        &decoded,
        &providers,
        None,
        false,
        |index, parts, computed| part(index, parts, spiegel_core::ipc::from_ipc(&computed.ipc)?),
    )
}

/// A stored submission decoded into trajectories, its provider not yet numbered.
pub(crate) fn decode_submission(
    batch: &RecordBatch,
    label: &PseudonymLabel,
    reference: &Reference,
    regions: &[String],
) -> Result<model::Submission> {
    let (provider, period, submission) = model::batch_identity(batch)?;
    let record_keys = batch
        .schema_ref()
        .metadata()
        .get(spiegel_core::wire::META_RECORD_KEYS)
        .cloned()
        .unwrap_or_default();
    let trajectories = model::decode(
        batch,
        provider,
        u16::MAX,
        &label.ttp,
        label.version,
        reference,
        regions,
    )?;
    Ok(model::Submission {
        identity: format!("{provider}_{period}={submission} {record_keys}"),
        provider,
        provider_index: u16::MAX,
        period,
        trajectories,
    })
}

/// Numbers the providers of `submissions` in AGB order, so that nothing computed depends on
/// the order submissions arrived in, and returns their AGB codes in that order. Only the
/// submissions whose number changed are touched.
pub(crate) fn number_providers(submissions: &mut [&mut model::Submission]) -> Vec<String> {
    let mut providers: Vec<spiegel_core::Agb> = submissions.iter().map(|s| s.provider).collect();
    providers.sort_unstable();
    providers.dedup();
    for submission in submissions.iter_mut() {
        let index = providers
            .binary_search(&submission.provider)
            .unwrap_or_default() as u16;
        if submission.provider_index != index {
            submission.provider_index = index;
            for t in &mut submission.trajectories {
                t.provider = index;
            }
        }
    }
    providers.iter().map(|p| p.as_str().to_owned()).collect()
}

/// One period's part of a master table, as an IPC stream without a release's metadata.
pub(crate) struct Part {
    pub(crate) period: spiegel_core::Period,
    /// Identifies everything the part is computed from ([`part_digest`]).
    pub(crate) digest: String,
    /// Empty for a part sent by reference.
    pub(crate) ipc: Vec<u8>,
    /// Taken as computed for an earlier release.
    pub(crate) reused: bool,
    /// The last release carried it already: sent as its digest alone.
    pub(crate) by_reference: bool,
}

/// [`master_table`] of decoded, numbered submissions, with each part taken from `kept` when a
/// part of the same digest was computed before, and kept there when computed now. With
/// `by_reference`, a part in `kept` (one the last release carried) is not even read.
pub(crate) fn compute_parts(
    config: &AggregateConfig,
    label: &PseudonymLabel,
    decoded: &[&model::Submission],
    provider_names: &[String],
    kept: Option<&store::Store>,
    by_reference: bool,
    mut part: impl FnMut(usize, usize, Part) -> Result<()>,
) -> Result<()> {
    let started = std::time::Instant::now();
    let reference = Reference::embedded();
    let regions: Vec<String> = reference.regions().to_vec();
    let windows = link::Windows {
        no_new_start: config.no_new_start_days as i32,
        lookback: config.repeat_lookback_days as i32,
        continuation: config.continuation_days as i32,
    };
    let flags = link::link(decoded, windows);
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "children linked");
    let gemeenten: Vec<(String, u16)> = reference
        .gemeenten()
        .iter()
        .map(|g| {
            let region = regions.iter().position(|r| *r == g.regio).unwrap_or(0) as u16;
            (g.code.to_string(), region)
        })
        .collect();
    let params = cells::Params {
        waiting_norm_days: config.waiting_norm_days as i32,
    };
    let mut periods: Vec<_> = decoded.iter().map(|s| s.period).collect();
    periods.sort_unstable_by_key(|p| (p.start(), p.end()));
    periods.dedup();
    let parts = periods.len();
    // Periods are independent: compute them on every core, hand them on in order.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
        .min(parts.max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| -> Result<()> {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<(usize, Result<Part>)>(workers);
        for _ in 0..workers {
            let sender = sender.clone();
            let (flags, periods, next) = (&flags, &periods, &next);
            let names = (provider_names, &regions[..], &gemeenten[..]);
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&period) = periods.get(index) else { break };
                    let (of_period, of_period_flags): (Vec<&model::Submission>, Vec<&Vec<link::Flags>>) =
                        decoded.iter().copied().zip(flags).filter(|(s, _)| s.period == period).unzip();
                    let digest = part_digest(config, &label.ttp, names.0, period, &of_period, &of_period_flags);
                    let computed = || -> Result<Part> {
                        if by_reference && kept.is_some_and(|k| k.has_part(&digest)) {
                            tracing::debug!(period = %period, "period unchanged since it was last sent: sent by reference");
                            return Ok(Part { period, digest, ipc: Vec::new(), reused: true, by_reference: true });
                        }
                        if let Some(ipc) = kept.map(|k| k.part(&digest)).transpose()?.flatten() {
                            tracing::debug!(period = %period, "period unchanged since it was last computed");
                            return Ok(Part { period, digest, ipc, reused: true, by_reference: false });
                        }
                        let mut builder = table::TableBuilder::new();
                        cells::compute_period(period, &of_period, &of_period_flags, names, params, &mut builder);
                        tracing::debug!(period = %period, cells = builder.rows(), seconds = started.elapsed().as_secs_f64(), "period aggregated");
                        let ipc = spiegel_core::ipc::to_ipc(&builder.finish()?)?;
                        if let Some(kept) = kept {
                            kept.put_part(&digest, &ipc)?;
                        }
                        Ok(Part { period, digest, ipc, reused: false, by_reference: false })
                    };
                    if sender.send((index, computed())).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        // Parts finished early wait here until those before them are handed on.
        let mut waiting = std::collections::BTreeMap::new();
        let mut due = 0;
        for (index, computed) in receiver {
            waiting.insert(index, computed);
            while let Some(computed) = waiting.remove(&due) {
                part(due + 1, parts, computed?)?;
                due += 1;
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// Identifies everything a period's part of the master table is computed from: the method,
/// the configuration, the TTP, the providers (their numbering), the period, and each of its
/// submissions with the linkage flags of its trajectories — the flags carry what the other
/// periods contribute. The same digest is the same part.
fn part_digest(
    config: &AggregateConfig,
    ttp: &TtpId,
    providers: &[String],
    period: spiegel_core::Period,
    submissions: &[&model::Submission],
    flags: &[&Vec<link::Flags>],
) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let config = serde_json::to_string(config).unwrap_or_default();
    for text in [METHOD_VERSION, &config, ttp.as_str(), &period.to_string()] {
        context.update(text.as_bytes());
        context.update(b"\n");
    }
    context.update(providers.join(",").as_bytes());
    let mut packed = Vec::new();
    for (submission, flags) in submissions.iter().zip(flags) {
        context.update(b"\n");
        context.update(submission.identity.as_bytes());
        packed.clear();
        packed.extend(flags.iter().map(link::Flags::packed));
        context.update(&packed);
    }
    hex::encode(&context.finish().as_ref()[..16])
}
