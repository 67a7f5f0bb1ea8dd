//! What the tests of the aggregate stage share: the stages before it over an embedded
//! transport, fed with the golden submissions.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use spiegel_aggregate::{AggregateConfig, AggregateStage, PseudonymLabel};
use spiegel_ingest::IngestConfig;
use spiegel_ingest::stage::{IngestStage, Submitted};
use spiegel_pseudonymise::stage::{PseudonymiseStage, group};
use spiegel_pseudonymise::{Pseudonymiser, SourceKey, TtpId, TtpKey};
use spiegel_transport::{EmbeddedTransport, Transport, topic};

pub(crate) fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/submissions")
        .join(name)
}

pub(crate) struct World {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) transport: EmbeddedTransport,
    ingest: IngestStage,
}

impl World {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let transport = EmbeddedTransport::open(&dir.path().join("transport")).unwrap();
        let k1 = SourceKey::from_bytes(1, ttp(), [1; 32]);
        let ingest = IngestStage::new(
            IngestConfig::default(),
            k1,
            vec![1],
            &dir.path().join("ingest"),
            transport.producer().unwrap(),
        )
        .unwrap();
        Self {
            dir,
            transport,
            ingest,
        }
    }

    pub(crate) fn submit(&self, file: &Path) {
        match self.ingest.submit(file).unwrap() {
            Submitted::Sent { .. } => {}
            other => panic!("{} not accepted: {other:?}", file.display()),
        }
    }

    /// Runs the pseudonymise stage with `key` over whatever its version's group has not read.
    pub(crate) fn pseudonymise(&self, key: TtpKey) -> usize {
        let group = group(key.version());
        PseudonymiseStage::new(
            Pseudonymiser::new(key, vec![1]),
            self.transport.consumer(topic::SUBMISSIONS, &group).unwrap(),
            self.transport.producer().unwrap(),
        )
        .run_until_idle()
        .unwrap()
        .submissions
    }

    pub(crate) fn aggregate(&self, version: u32) -> AggregateStage {
        AggregateStage::new(
            AggregateConfig::default(),
            PseudonymLabel {
                ttp: ttp(),
                version,
            },
            &self.dir.path().join("aggregate"),
            self.transport
                .consumer(topic::PSEUDONYMISED, spiegel_aggregate::GROUP)
                .unwrap(),
            self.transport
                .consumer(
                    topic::AGGREGATE_STATE,
                    &spiegel_aggregate::state_group("test"),
                )
                .unwrap(),
            self.transport.producer().unwrap(),
        )
        .unwrap()
    }

    /// Whether a fresh aggregate stage on `version` computes a release from what is there.
    pub(crate) fn first_release_on(&self, version: u32) -> bool {
        let progress = self.aggregate(version).run_until_idle().unwrap();
        progress.released.is_some()
    }

    /// Every message on the aggregates topic so far.
    pub(crate) fn releases(&self) -> Vec<Vec<u8>> {
        self.transport
            .consumer(topic::AGGREGATES, "reader")
            .unwrap()
            .poll(1000)
            .unwrap()
            .into_iter()
            .map(|m| m.payload)
            .collect()
    }
}

pub(crate) fn ttp() -> TtpId {
    TtpId::new("spiegel").unwrap()
}

/// A copy of `from` under another name, with one data row less (a correction).
pub(crate) fn corrected(from: &Path, to: &Path) {
    let text = std::fs::read_to_string(from).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 2, "{} has too few rows", from.display());
    lines.pop();
    std::fs::write(to, lines.join("\n") + "\n").unwrap();
}
