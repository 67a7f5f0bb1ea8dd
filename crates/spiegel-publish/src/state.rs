//! The publish stage's state directory: what it keeps between runs to publish a release
//! again, to take unchanged reports from the last one, and to resume an interrupted one.
//!
//! ```text
//! <state>/announced.json          the last release announced: feed position, id, files
//! <state>/last-release.json       what the last release was published from
//! <state>/published-watermark     the watermark of the last release published
//! <state>/writing                 there while a release is being written
//! <state>/audit/<release>.json    the attacker audit of each release
//! <state>/parts/<computed>-<watermark>/<part>.ipc
//!                                 the master-table parts of the last release and the one in hand
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{ManifestFile, PublishConfig, PublishError, Result, SharingRegistry};

/// File: the feed position and files of the last release announced.
pub(crate) const ANNOUNCED: &str = "announced.json";

/// File, there while a release is being written and until it is complete.
pub(crate) const WRITING: &str = "writing";

/// File: what the last release was published from.
pub(crate) const LAST_RELEASE: &str = "last-release.json";

/// Directory: the master-table parts of the last release (and of the one in hand), one IPC
/// file per part.
pub(crate) const PARTS: &str = "parts";

/// Directory: the attacker audit of each release.
pub(crate) const AUDITS: &str = "audit";

/// File: the watermark of the last release published.
pub(crate) const PUBLISHED_WATERMARK: &str = "published-watermark";

/// What the stage last announced: its feed position, and the id and files of that release.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Announced {
    pub(crate) feed_seq: u64,
    /// Empty in a state from before the id was kept here.
    #[serde(default)]
    pub(crate) release: String,
    pub(crate) files: Vec<ManifestFile>,
}

/// What the last release was published from, to publish it again with other sharing.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct LastRelease {
    /// The id it was published under (empty in a state from before it was kept).
    #[serde(default)]
    pub(crate) release: String,
    /// The thresholds it was published with (none in a state from before they were kept).
    #[serde(default)]
    pub(crate) config: Option<PublishConfig>,
    pub(crate) computed: String,
    pub(crate) watermark: u64,
    pub(crate) parts: Vec<u64>,
    /// Each part's digest and period ([`spiegel_aggregate::META_PART_DIGEST`]).
    #[serde(default)]
    pub(crate) digests: BTreeMap<u64, (String, String)>,
    pub(crate) submissions: BTreeMap<String, String>,
    pub(crate) sharing: SharingRegistry,
}

/// Keeps a part for publishing again: a link to the copy an earlier release kept (the same
/// part), or a copy of it where the file system has no links.
pub(crate) fn keep_part(from: &Path, kept: &Path) -> Result<()> {
    match std::fs::remove_file(kept) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(PublishError::io(kept)(e));
        }
        _ => {}
    }
    if std::fs::hard_link(from, kept).is_err() {
        let bytes = std::fs::read(from).map_err(PublishError::io(from))?;
        spiegel_core::durable::write_atomically(kept, &bytes).map_err(PublishError::io(kept))?;
    }
    Ok(())
}

/// Where the attacker audit of `release` is kept.
pub(crate) fn audit_file(state_dir: &Path, release: &str) -> PathBuf {
    state_dir.join(AUDITS).join(format!("{release}.json"))
}

/// Where the master-table parts of the release computed as `computed` at `watermark` are kept.
pub(crate) fn kept_parts(state_dir: &Path, computed: &str, watermark: u64) -> PathBuf {
    state_dir
        .join(PARTS)
        .join(format!("{computed}-{watermark}"))
}

/// Where part `part` is kept in the directory `kept_parts` names.
pub(crate) fn kept_part(kept: &Path, part: u64) -> PathBuf {
    kept.join(format!("{part}.ipc"))
}

/// Writes `value` as JSON to `path`, atomically.
pub(crate) fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let json = serde_json::to_vec(value).map_err(|e| PublishError::Malformed(e.to_string()))?;
    write(path, &json)
}

/// Reads the JSON file at `path`, if there is one.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let Some(text) = read_if_present(path)? else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| PublishError::StateFile {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

/// Reads the file at `path`, if there is one.
pub(crate) fn read_if_present(path: &Path) -> Result<Option<String>> {
    spiegel_core::durable::read_if_present(path).map_err(PublishError::io(path))
}

/// Writes `bytes` to `path`, atomically.
pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    spiegel_core::durable::write_atomically(path, bytes).map_err(PublishError::io(path))
}
