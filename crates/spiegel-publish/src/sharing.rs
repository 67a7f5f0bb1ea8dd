//! Sharing of mirror reports (NB-3 and NB-4, docs/release-rules.md).
//!
//! A provider *asks* to share its mirror report of (period, municipality): the request sits in
//! the [`SharingRegistry`] the API (or an operator, for `spiegel run`) writes. Whether it takes
//! effect is the publish stage's decision, recorded in the [`SharingLedger`]: a request takes
//! effect only when, with it, the providers of that municipality and period that stay
//! non-sharing number 0 or at least the contributor minimum, with none dominant — judged
//! against every release of the period the municipality holds, because a municipality keeps
//! every report it was given and could subtract a mirror shared later from one it read before.
//! Otherwise the request is *pending*, and pending requests take effect together once the set
//! of them is safe (typically when all of a municipality's providers ask, for a joint quality
//! conversation). A share that took effect stays counted as sharing for NB-3 after it is
//! withdrawn: the municipality keeps what it read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::{PublishConfig, PublishError, Result};

/// The requests to share mirror reports: what providers asked, not what took effect.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SharingRegistry {
    /// Each request: a provider's mirror report of one period for one municipality.
    pub shares: BTreeSet<Share>,
}

/// One mirror report of a provider for a municipality and period.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(deny_unknown_fields)]
pub struct Share {
    /// AGB code of the provider.
    pub provider: String,
    /// Period of the mirror report.
    pub period: String,
    /// The municipality it is shared with (`GMxxxx`).
    pub municipality: String,
}

impl Share {
    /// The mirror report of `provider` for `municipality` in `period`.
    pub fn new(provider: &str, period: &str, municipality: &str) -> Self {
        Self {
            provider: provider.to_owned(),
            period: period.to_owned(),
            municipality: municipality.to_owned(),
        }
    }
}

impl SharingRegistry {
    /// Reads the registry file; a missing file is an empty registry.
    pub fn load(path: &Path) -> Result<Self> {
        read_json(path)
    }

    /// Asks (or stops asking) to share `provider`'s mirror report of `period` with
    /// `municipality`.
    pub fn set(&mut self, provider: &str, period: &str, municipality: &str, shared: bool) {
        let share = Share::new(provider, period, municipality);
        if shared {
            self.shares.insert(share);
        } else {
            self.shares.remove(&share);
        }
    }

    /// Writes the registry through a temporary file and a rename, so a reader sees the old or
    /// the new registry, never half of one.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_json(path, self)
    }

    /// Whether `provider` asks to share its mirror report of `period` with `municipality`.
    pub fn requested(&self, provider: &str, period: &str, municipality: &str) -> bool {
        self.shares
            .contains(&Share::new(provider, period, municipality))
    }
}

/// Where the publish stage keeps its [`SharingLedger`]: beside the registry of requests, so
/// that the API, which writes the requests, reads what took effect from the same place.
pub fn ledger_path(registry: &Path) -> PathBuf {
    registry.with_file_name(LEDGER_FILE)
}

/// Name of the sharing registry in a data directory (the API writes it there).
pub const SHARING_FILE: &str = "sharing.json";

/// Name of the ledger file beside the sharing registry.
pub const LEDGER_FILE: &str = "sharing-ledger.json";

/// What the publish stage decided and what each municipality holds: the shares that took
/// effect, and per period and municipality, who contributed to the reports it was given.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SharingLedger {
    /// The thresholds the decisions are made with (NB-3's minimum and dominance).
    #[serde(default)]
    pub config: PublishConfig,
    /// Every share that ever took effect, withdrawn or not.
    pub effective: BTreeSet<Share>,
    /// Per period, per municipality: what its reports of that period were made of, over
    /// every release it holds.
    holdings: BTreeMap<String, BTreeMap<String, Holding>>,
}

/// What the reports of one municipality and period that it holds were made of.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holding {
    /// The contributors of its total (youths in care) with their children, one entry per
    /// release that differed: NB-4 counts the non-sharing providers and their dominance here.
    totals: BTreeSet<BTreeMap<String, u32>>,
    /// The contributors of each other published cell, one entry per distinct set: a share may
    /// not leave one or two non-sharing contributors in a cell the municipality already read.
    cells: BTreeSet<BTreeSet<String>>,
}

impl Holding {
    /// Adds the contributors of a municipality report's total, with their children.
    pub fn add_total(&mut self, contributors: BTreeMap<String, u32>) {
        if !contributors.is_empty() {
            self.totals.insert(contributors);
        }
    }

    /// Adds the contributors of a published cell.
    pub fn add_cell(&mut self, contributors: BTreeSet<String>) {
        if !contributors.is_empty() {
            self.cells.insert(contributors);
        }
    }

    /// Every provider that contributed to what the municipality holds.
    fn providers(&self) -> BTreeSet<&str> {
        self.totals
            .iter()
            .flat_map(|t| t.keys())
            .chain(self.cells.iter().flatten())
            .map(String::as_str)
            .collect()
    }

    /// Whether everything the municipality holds still protects the providers outside
    /// `sharing` (NB-3 over its holdings).
    fn safe_with(&self, sharing: &BTreeSet<&str>, config: &PublishConfig) -> bool {
        let minimum = config.min_contributors as usize;
        let totals_safe = self.totals.iter().all(|total| {
            let (mut count, mut units, mut largest) = (0usize, 0u64, 0u64);
            for (provider, &children) in total {
                if !sharing.contains(provider.as_str()) {
                    count += 1;
                    units += u64::from(children);
                    largest = largest.max(u64::from(children));
                }
            }
            count == 0
                || (count >= minimum
                    && largest * 100 <= units * u64::from(config.dominance_percent))
        });
        totals_safe
            && self.cells.iter().all(|cell| {
                let count = cell
                    .iter()
                    .filter(|p| !sharing.contains(p.as_str()))
                    .count();
                count == 0 || count >= minimum
            })
    }

    pub(crate) fn merge(&mut self, other: Holding) {
        self.totals.extend(other.totals);
        self.cells.extend(other.cells);
    }
}

/// Where a request to share stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum ShareState {
    /// It took effect: the municipality may read the mirror report.
    InEffect,
    /// It waits until enough other providers of the municipality ask too.
    Pending {
        /// How many of the municipality's providers that have not asked must ask too.
        others_needed: usize,
    },
}

impl ShareState {
    /// What the provider is told, in Dutch and English.
    pub fn message(&self) -> String {
        match self {
            ShareState::InEffect => "Gedeeld: de gemeente kan deze spiegelrapportage lezen. / \
                                     Shared: the municipality can read this mirror report."
                .to_owned(),
            ShareState::Pending { others_needed } => format!(
                "In afwachting: delen wordt pas van kracht als nog {others_needed} andere \
                 aanbieder(s) van deze gemeente hun spiegelrapportage delen; anders zou de \
                 gemeente de cijfers van de overige aanbieders kunnen afleiden. / Pending: \
                 sharing takes effect once {others_needed} more of this municipality's \
                 providers share theirs too; until then the municipality could derive the \
                 figures of the others."
            ),
        }
    }
}

/// The sharing in force for a release: what NB-3 counts and who may read which mirror report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sharing {
    /// Every share that took effect, withdrawn or not (NB-3).
    pub effective: BTreeSet<Share>,
    /// The shares the municipality may read now: in effect and still asked for.
    pub readable: BTreeSet<Share>,
}

impl Sharing {
    /// The providers that count as sharing with `municipality` in `period` (NB-3).
    pub fn sharing_with<'a>(
        &'a self,
        period: &'a str,
        municipality: &'a str,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.effective
            .iter()
            .filter(move |s| s.period == period && s.municipality == municipality)
            .map(|s| s.provider.as_str())
    }

    /// Whether `municipality` may read `provider`'s mirror report of `period`.
    pub fn readable(&self, provider: &str, period: &str, municipality: &str) -> bool {
        self.readable
            .contains(&Share::new(provider, period, municipality))
    }

    /// The id a release computed as `computed` is published under with this sharing: the
    /// same id without any share, else one that tells the sharing apart, so that a release's
    /// files (NB-3, the mirror reports' `shared` flag) are one function of its id.
    pub fn release_id(&self, computed: &str) -> String {
        if self.effective.is_empty() && self.readable.is_empty() {
            return computed.to_owned();
        }
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        for (set, mark) in [(&self.effective, "e"), (&self.readable, "r")] {
            for share in set {
                context.update(
                    format!(
                        "{mark}\t{}\t{}\t{}\n",
                        share.provider, share.period, share.municipality
                    )
                    .as_bytes(),
                );
            }
        }
        format!(
            "{computed}-s{}",
            hex::encode(&context.finish().as_ref()[..6])
        )
    }
}

impl SharingLedger {
    /// Reads the ledger; a missing file is an empty ledger.
    pub fn load(path: &Path) -> Result<Self> {
        read_json(path)
    }

    /// Writes the ledger atomically, creating its directory (the API's, which may not have
    /// written a request yet).
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(PublishError::io(dir))?;
        }
        write_json(path, self)
    }

    /// What the municipality holds of a period, for adding a release to.
    pub fn holding(&mut self, period: &str, municipality: &str) -> &mut Holding {
        self.holdings
            .entry(period.to_owned())
            .or_default()
            .entry(municipality.to_owned())
            .or_default()
    }

    /// Adds what a release gave each municipality of `period`.
    pub fn hold(&mut self, period: &str, holdings: BTreeMap<String, Holding>) {
        for (municipality, holding) in holdings {
            self.holding(period, &municipality).merge(holding);
        }
    }

    /// Decides the requests of `period` (NB-4) with `current`, what the release about to be
    /// published gives each municipality, counted as held: the requests that are safe take
    /// effect and are added to [`SharingLedger::effective`]. Deterministic: pending requests
    /// are tried all together first, then one by one in registry order.
    pub fn decide_period(
        &mut self,
        period: &str,
        requests: &SharingRegistry,
        current: &BTreeMap<String, Holding>,
    ) {
        let mut by_municipality: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for share in requests.shares.iter().filter(|s| s.period == period) {
            by_municipality
                .entry(&share.municipality)
                .or_default()
                .push(&share.provider);
        }
        let mut taking_effect = Vec::new();
        for (municipality, asked) in by_municipality {
            let holding = self.held_with(period, municipality, current.get(municipality));
            let (effect, _) = decide(
                &holding,
                &self.effective_providers(period, municipality),
                &asked,
                &self.config,
            );
            taking_effect.extend(
                effect
                    .into_iter()
                    .map(|p| Share::new(p, period, municipality)),
            );
        }
        self.effective.extend(taking_effect);
    }

    /// Where each request of `requests` stands against this ledger: what the API tells a
    /// provider at once, before the publish stage applies it.
    pub fn states(&self, requests: &SharingRegistry) -> BTreeMap<Share, ShareState> {
        let mut groups: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
        for share in &requests.shares {
            groups
                .entry((&share.period, &share.municipality))
                .or_default()
                .push(&share.provider);
        }
        let mut states = BTreeMap::new();
        for ((period, municipality), asked) in groups {
            let holding = self.held_with(period, municipality, None);
            let effective = self.effective_providers(period, municipality);
            let (effect, others_needed) = decide(&holding, &effective, &asked, &self.config);
            for provider in asked {
                let state = if effective.contains(provider) || effect.contains(&provider) {
                    ShareState::InEffect
                } else {
                    ShareState::Pending { others_needed }
                };
                states.insert(Share::new(provider, period, municipality), state);
            }
        }
        states
    }

    /// The sharing in force once `requests` are decided: every share that took effect, and of
    /// them those still asked for.
    pub fn sharing(&self, requests: &SharingRegistry) -> Sharing {
        Sharing {
            effective: self.effective.clone(),
            readable: requests
                .shares
                .iter()
                .filter(|s| self.effective.contains(s))
                .cloned()
                .collect(),
        }
    }

    fn effective_providers(&self, period: &str, municipality: &str) -> BTreeSet<&str> {
        self.effective
            .iter()
            .filter(|s| s.period == period && s.municipality == municipality)
            .map(|s| s.provider.as_str())
            .collect()
    }

    fn held_with(&self, period: &str, municipality: &str, current: Option<&Holding>) -> Holding {
        let mut holding = self
            .holdings
            .get(period)
            .and_then(|m| m.get(municipality))
            .cloned()
            .unwrap_or_default();
        if let Some(current) = current {
            holding.merge(current.clone());
        }
        holding
    }
}

/// NB-4 for one municipality and period: of the providers that `asked` and are not yet in
/// `effective`, those that take effect, and, for those left pending, how many providers that
/// did not ask must ask too before the whole set is safe.
fn decide<'a>(
    holding: &Holding,
    effective: &BTreeSet<&'a str>,
    asked: &[&'a str],
    config: &PublishConfig,
) -> (Vec<&'a str>, usize) {
    let mut sharing: BTreeSet<&str> = effective.clone();
    let mut pending: Vec<&'a str> = asked
        .iter()
        .copied()
        .filter(|p| !effective.contains(p))
        .collect();
    let mut taken = Vec::new();
    while !pending.is_empty() {
        let mut all = sharing.clone();
        all.extend(pending.iter().copied());
        if holding.safe_with(&all, config) {
            taken.append(&mut pending);
            break;
        }
        let Some(at) = pending.iter().position(|p| {
            let mut with = sharing.clone();
            with.insert(p);
            holding.safe_with(&with, config)
        }) else {
            break;
        };
        let provider = pending.remove(at);
        sharing.insert(provider);
        taken.push(provider);
    }
    let mut with_all = sharing;
    with_all.extend(pending.iter().copied());
    let others_needed = holding
        .providers()
        .iter()
        .filter(|p| !with_all.contains(*p))
        .count();
    (taken, others_needed)
}

fn read_json<T: serde::de::DeserializeOwned + Default>(path: &Path) -> Result<T> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| PublishError::Sharing {
            path: path.to_owned(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(PublishError::io(path)(e)),
    }
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let mut json = serde_json::to_vec_pretty(value)
        .map_err(|e| PublishError::Malformed(format!("{}: {e}", path.display())))?;
    json.push(b'\n');
    crate::state::write(path, &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holding(providers: &[(&str, u32)]) -> Holding {
        let mut holding = Holding::default();
        holding.add_total(
            providers
                .iter()
                .map(|(p, n)| ((*p).to_owned(), *n))
                .collect(),
        );
        holding
    }

    fn ask(registry: &mut SharingRegistry, provider: &str) {
        registry.set(provider, "2026-H1", "GM0001", true);
    }

    fn decided(ledger: &mut SharingLedger, requests: &SharingRegistry, current: &Holding) {
        let current = BTreeMap::from([("GM0001".to_owned(), current.clone())]);
        ledger.decide_period("2026-H1", requests, &current);
        ledger.hold("2026-H1", current);
    }

    #[test]
    fn three_providers_two_asking_stays_pending_until_the_third_asks() {
        let current = holding(&[("a", 30), ("b", 30), ("c", 30)]);
        let mut ledger = SharingLedger::default();
        let mut requests = SharingRegistry::default();
        ask(&mut requests, "a");
        decided(&mut ledger, &requests, &current);
        assert!(ledger.effective.is_empty(), "two left non-sharing");
        ask(&mut requests, "b");
        decided(&mut ledger, &requests, &current);
        assert!(ledger.effective.is_empty(), "one left non-sharing");
        let states = ledger.states(&requests);
        assert_eq!(
            states[&Share::new("b", "2026-H1", "GM0001")],
            ShareState::Pending { others_needed: 1 }
        );
        ask(&mut requests, "c");
        decided(&mut ledger, &requests, &current);
        assert_eq!(ledger.effective.len(), 3, "all three together");
    }

    #[test]
    fn four_providers_the_first_share_takes_effect_the_second_waits_for_the_rest() {
        let current = holding(&[("a", 30), ("b", 30), ("c", 30), ("d", 30)]);
        let mut ledger = SharingLedger::default();
        let mut requests = SharingRegistry::default();
        ask(&mut requests, "a");
        decided(&mut ledger, &requests, &current);
        assert_eq!(ledger.effective.len(), 1);
        ask(&mut requests, "b");
        decided(&mut ledger, &requests, &current);
        assert_eq!(ledger.effective.len(), 1, "b would leave c and d alone");
        ask(&mut requests, "c");
        decided(&mut ledger, &requests, &current);
        assert_eq!(ledger.effective.len(), 1, "c too would leave d alone");
        ask(&mut requests, "d");
        decided(&mut ledger, &requests, &current);
        assert_eq!(ledger.effective.len(), 4);
    }

    #[test]
    fn a_withdrawn_share_stays_counted_and_an_earlier_release_still_binds() {
        let mut ledger = SharingLedger::default();
        let mut requests = SharingRegistry::default();
        // Release 1: four providers; a shares.
        let four = holding(&[("a", 30), ("b", 30), ("c", 30), ("d", 30)]);
        ask(&mut requests, "a");
        decided(&mut ledger, &requests, &four);
        assert_eq!(ledger.effective.len(), 1);
        // a withdraws; d's delivery is withdrawn too, so the new release has three providers.
        requests.set("a", "2026-H1", "GM0001", false);
        let three = holding(&[("a", 30), ("b", 30), ("c", 30)]);
        ask(&mut requests, "b");
        decided(&mut ledger, &requests, &three);
        let sharing = ledger.sharing(&requests);
        assert!(
            sharing
                .effective
                .contains(&Share::new("a", "2026-H1", "GM0001"))
        );
        assert!(sharing.readable.is_empty(), "a withdrew; b waits");
        assert_eq!(
            ledger.states(&requests)[&Share::new("b", "2026-H1", "GM0001")],
            ShareState::Pending { others_needed: 2 }
        );
    }

    #[test]
    fn a_dominant_provider_left_alone_among_others_keeps_a_share_pending() {
        let current = holding(&[("a", 10), ("b", 10), ("c", 10), ("d", 900)]);
        let mut ledger = SharingLedger::default();
        let mut requests = SharingRegistry::default();
        ask(&mut requests, "a");
        decided(&mut ledger, &requests, &current);
        assert!(ledger.effective.is_empty(), "d would hold 97% of the rest");
    }

    #[test]
    fn a_cell_held_with_three_contributors_is_not_left_with_two() {
        let mut current = holding(&[("a", 30), ("b", 30), ("c", 30), ("d", 30)]);
        current.add_cell(["a", "b", "c"].iter().map(|p| (*p).to_owned()).collect());
        let mut ledger = SharingLedger::default();
        let mut requests = SharingRegistry::default();
        ask(&mut requests, "a");
        decided(&mut ledger, &requests, &current);
        assert!(
            ledger.effective.is_empty(),
            "b and c alone in the held cell"
        );
        ask(&mut requests, "d");
        decided(&mut ledger, &requests, &current);
        assert_eq!(
            ledger.effective.len(),
            1,
            "d alone is safe: the cell keeps a, b, c"
        );
    }
}
