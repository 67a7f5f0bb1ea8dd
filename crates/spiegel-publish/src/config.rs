//! The thresholds of the release rules, as the operator configures them.

use crate::{PublishError, Result};

/// Thresholds of the release rules (docs/release-rules.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublishConfig {
    /// T: a count in 1..T−1 is suppressed (SDC-1); never below 5.
    pub threshold: u32,
    /// Shares and means need a denominator of at least this (SDC-2).
    pub rate_threshold: u32,
    /// Non-sharing contributors to a cell must number 0 or at least this (NB-3).
    pub min_contributors: u32,
    /// The largest non-sharing contributor may hold at most this percentage (NB-3).
    pub dominance_percent: u32,
    /// Width the attacker's interval for a suppressed cell must reach (SDC-3); T when unset.
    pub protection_level: Option<u32>,
}

impl Default for PublishConfig {
    fn default() -> Self {
        Self {
            threshold: 10,
            rate_threshold: 20,
            min_contributors: 3,
            dominance_percent: 85,
            protection_level: None,
        }
    }
}

impl PublishConfig {
    /// Refuses thresholds below what docs/release-rules.md allows.
    pub fn validate(&self) -> Result<()> {
        if self.threshold < 5 {
            return Err(PublishError::Config(format!(
                "threshold T = {} is below the minimum of 5",
                self.threshold
            )));
        }
        if self.rate_threshold < self.threshold {
            return Err(PublishError::Config(
                "rate_threshold must be at least threshold".into(),
            ));
        }
        if self.min_contributors < 2 || self.dominance_percent > 100 {
            return Err(PublishError::Config(
                "min_contributors must be at least 2 and dominance_percent at most 100".into(),
            ));
        }
        Ok(())
    }

    /// The width SDC-3 asks of every attacker interval.
    pub(crate) fn protection(&self) -> u64 {
        u64::from(self.protection_level.unwrap_or(self.threshold))
    }
}
