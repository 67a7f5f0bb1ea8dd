//! What the stages' runs add to their health and metrics on the admin port.

use spiegel_serve::StageHealth;

/// Counts the release an aggregate pass sent, if any, and returns what the pass handled
/// (submissions forwarded, stored or found unchanged).
pub(crate) fn aggregate_pass(health: &StageHealth, progress: &spiegel_aggregate::Progress) -> u64 {
    if progress.released.is_some() {
        health.released();
    }
    health.key_rotation(progress.rejected as u64, progress.awaiting as u64);
    health.dead_lettered(progress.dead_letters as u64);
    (progress.stored + progress.unchanged + progress.forwarded) as u64
}

/// Counts a published release and keeps its size and suppressed cells for the metrics.
pub(crate) fn publish_metrics(health: &StageHealth, manifest: &spiegel_publish::Manifest) {
    let suppressed = manifest.files.iter().map(|f| f.suppressed).sum();
    health.published(manifest.files.len() as u64, suppressed);
}
