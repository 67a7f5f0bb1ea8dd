//! `spiegel generate`: realistic synthetic submissions, deterministic for a seed.
//!
//! Children live in one of the 342 municipalities, drawn in proportion to its inhabitants
//! (`schemas/reference/bevolking-2026.csv`), get one to four trajectories at providers
//! serving their region, and move between providers: some continue at the same provider the
//! next day with another hulpvorm, some start elsewhere within half a year, some come back after
//! longer. Each trajectory is delivered in every period it overlaps, open-ended in the periods
//! before it ends, exactly as a provider's source system would. The care mix follows CBS's
//! published starts per hulpvorm; docs/demo-data.md lists every figure and its source.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::{Datelike, Duration, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use spiegel_core::{Agb, CodeList, Gemeente, Hulpvorm, Period, Population, Reference, Verwijzer};
use spiegel_ingest::Column;

mod bsn;

use bsn::bsn_for;

/// What to generate.
#[derive(Debug, Clone)]
pub(crate) struct GenerateOptions {
    pub(crate) out: PathBuf,
    pub(crate) records: u64,
    pub(crate) seed: u64,
    pub(crate) providers: Option<usize>,
    pub(crate) periods: Vec<Period>,
    pub(crate) semicolon: bool,
}

/// What was generated.
#[derive(Debug, Default)]
pub(crate) struct GenerateSummary {
    pub(crate) records: u64,
    pub(crate) files: usize,
    pub(crate) providers: usize,
    pub(crate) children: u64,
    pub(crate) gemeenten: usize,
}

struct Provider {
    agb: Agb,
    regions: Vec<usize>,
    national: bool,
}

struct Trajectory {
    provider: usize,
    hulpvorm: Hulpvorm,
    verwijzer: Verwijzer,
    crisis: bool,
    start: NaiveDate,
    end: Option<NaiveDate>,
    reden: &'static str,
    aanmelding: Option<NaiveDate>,
    euros_per_day: Option<u32>,
    outcome: Option<Outcome>,
}

struct Outcome {
    tevredenheid_jeugdige: Option<u8>,
    tevredenheid_ouder: Option<u8>,
    zhv_jeugdige: Option<&'static str>,
    zhv_ouder: Option<&'static str>,
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, weighted: &[(T, u32)]) -> T {
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (value, weight) in weighted {
        if roll < *weight {
            return *value;
        }
        roll -= weight;
    }
    weighted[weighted.len() - 1].0
}

fn bij(date: NaiveDate) -> String {
    format!("{:04}{:02}{:02}", date.year(), date.month(), date.day())
}

struct Generator<'a> {
    rng: ChaCha8Rng,
    gemeenten: &'a [Gemeente],
    region_of: Vec<usize>,
    weights: Vec<u64>,
    total_weight: u64,
    providers: Vec<Provider>,
    providers_by_region: Vec<Vec<usize>>,
    periods: Vec<Period>,
    first: NaiveDate,
    last: NaiveDate,
    bsn_offset: u64,
    next_child: u64,
}

impl<'a> Generator<'a> {
    fn new(options: &GenerateOptions, reference: &'a Reference) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        let gemeenten = reference.gemeenten();
        let regions = reference.regions();
        let region_of: Vec<usize> = gemeenten
            .iter()
            .map(|g| regions.iter().position(|r| *r == g.regio).unwrap_or(0))
            .collect();
        let population = Population::embedded();
        let weights: Vec<u64> = gemeenten
            .iter()
            .map(|g| population.gemeente(g.code).unwrap_or(1))
            .collect();
        let total_weight = weights.iter().sum();
        let count = options
            .providers
            .unwrap_or_else(|| (options.records / 15_000).clamp(12, 200) as usize);
        let national = (count / 10).max(2);
        let providers: Vec<Provider> = (0..count)
            .map(|i| {
                let agb = format!("75{:06}", 100_000 + i * 7919 % 900_000);
                let home = i % regions.len();
                let mut served = vec![home];
                if rng.random_bool(0.3) {
                    served.push(rng.random_range(0..regions.len()));
                }
                Provider {
                    // Six digits after "75" always make an 8-digit AGB code.
                    agb: agb.parse().unwrap_or_else(|_| unreachable!("8 digits")),
                    regions: served,
                    national: i < national,
                }
            })
            .collect();
        let providers_by_region = (0..regions.len())
            .map(|r| {
                let regional: Vec<usize> = providers
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.regions.contains(&r) || p.national)
                    .map(|(i, _)| i)
                    .collect();
                regional
            })
            .collect();
        let first = options
            .periods
            .iter()
            .map(Period::start)
            .min()
            .unwrap_or_default();
        let last = options
            .periods
            .iter()
            .map(Period::end)
            .max()
            .unwrap_or_default();
        let bsn_offset = rng.random_range(0..100_000_000);
        Self {
            rng,
            gemeenten,
            region_of,
            weights,
            total_weight,
            providers,
            providers_by_region,
            periods: options.periods.clone(),
            first,
            last,
            bsn_offset,
            next_child: 0,
        }
    }

    fn gemeente(&mut self, child: u64) -> usize {
        // The first children visit every municipality once, so all 342 appear.
        if (child as usize) < self.gemeenten.len() {
            return child as usize;
        }
        let mut roll = self.rng.random_range(0..self.total_weight);
        for (i, w) in self.weights.iter().enumerate() {
            if roll < *w {
                return i;
            }
            roll -= *w;
        }
        0
    }

    fn next_bsn(&mut self) -> [u8; 9] {
        loop {
            let n = self.next_child;
            self.next_child += 1;
            if let Some(bsn) = bsn_for(n, self.bsn_offset) {
                return bsn;
            }
        }
    }

    fn trajectory(
        &mut self,
        provider: usize,
        start: NaiveDate,
        previous: Option<Hulpvorm>,
    ) -> Trajectory {
        let rng = &mut self.rng;
        // Starts per form of care, per mille: CBS, Jeugdhulp 1e halfjaar 2021, table 2.1.2
        // (instroom per hulpvorm); see docs/demo-data.md.
        let mut hulpvorm = pick(
            rng,
            &[
                (Hulpvorm::WijkBuurtteam, 98),
                (Hulpvorm::AmbulantLocatieAanbieder, 619),
                (Hulpvorm::Daghulp, 54),
                (Hulpvorm::NetwerkJeugdige, 171),
                (Hulpvorm::Pleegzorg, 26),
                (Hulpvorm::Gezinsgericht, 7),
                (Hulpvorm::GeslotenPlaatsing, 3),
                (Hulpvorm::OverigVerblijf, 22),
            ],
        );
        if Some(hulpvorm) == previous {
            let others: Vec<Hulpvorm> = Hulpvorm::ALL
                .iter()
                .copied()
                .filter(|h| Some(*h) != previous)
                .collect();
            hulpvorm = others[rng.random_range(0..others.len())];
        }
        let verwijzer = pick(
            rng,
            &[
                (Verwijzer::GemeentelijkeToegang, 35),
                (Verwijzer::Huisarts, 30),
                (Verwijzer::Jeugdarts, 5),
                (Verwijzer::GecertificeerdeInstelling, 12),
                (Verwijzer::MedischSpecialist, 10),
                (Verwijzer::GeenVerwijzer, 5),
                (Verwijzer::RechterOfficier, 3),
            ],
        );
        // Durations are long-tailed: most take months, some years; care with verblijf lasts
        // longer, so its share of the youths in care is above its share of the starts.
        let days = if hulpvorm.met_verblijf() {
            rng.random_range(3.5f64..7.5).exp()
        } else {
            rng.random_range(3.0f64..7.0).exp()
        } as i64;
        let end = start + Duration::days(days);
        // Past the last period the trajectory is still running as far as any delivery knows.
        let end = (end <= self.last).then_some(end);
        // End reasons: mostly as planned (an assumption, docs/demo-data.md).
        let reden = pick(
            rng,
            &[("01", 70), ("02", 12), ("03", 9), ("04", 3), ("05", 6)],
        );
        let outcome = (end.is_some() && reden != "05" && rng.random_bool(0.6)).then(|| Outcome {
            tevredenheid_jeugdige: rng
                .random_bool(0.7)
                .then(|| pick(rng, &[(5, 1), (6, 2), (7, 4), (8, 5), (9, 3), (10, 1)])),
            tevredenheid_ouder: rng
                .random_bool(0.8)
                .then(|| pick(rng, &[(4, 1), (6, 2), (7, 4), (8, 5), (9, 3), (10, 2)])),
            zhv_jeugdige: rng
                .random_bool(0.6)
                .then(|| pick(rng, &[("01", 2), ("02", 4), ("03", 2), ("04", 5)])),
            zhv_ouder: rng
                .random_bool(0.7)
                .then(|| pick(rng, &[("01", 2), ("02", 4), ("03", 2), ("04", 5)])),
        });
        let aanmelding = rng
            .random_bool(0.7)
            .then(|| start - Duration::days(rng.random_range(0..120)));
        let euros_per_day = rng.random_bool(0.8).then(|| {
            if hulpvorm.met_verblijf() {
                rng.random_range(90..400)
            } else {
                rng.random_range(8..60)
            }
        });
        Trajectory {
            provider,
            hulpvorm,
            verwijzer,
            crisis: rng.random_bool(0.08),
            start,
            end,
            reden,
            aanmelding,
            euros_per_day,
            outcome,
        }
    }

    /// The trajectories of one child, following the care paths described in the module docs.
    /// `must_deliver`: the path's first trajectory starts inside the delivered periods, so the
    /// child appears in at least one file.
    fn care_path(
        &mut self,
        region: usize,
        birth: NaiveDate,
        single_period: bool,
        must_deliver: bool,
    ) -> Vec<Trajectory> {
        let candidates = self.providers_by_region[region].clone();
        let span = (self.last - self.first).num_days();
        let mut start =
            self.first - Duration::days(365) + Duration::days(self.rng.random_range(0..span + 365));
        if single_period {
            // One record only: a short trajectory inside the last period.
            let last = self
                .periods
                .iter()
                .max()
                .copied()
                .unwrap_or_else(|| unreachable!("periods are checked"));
            start = last.start() + Duration::days(self.rng.random_range(0..60));
        }
        if must_deliver {
            start = start.max(self.first);
        }
        if start < birth {
            start = birth + Duration::days(self.rng.random_range(0..90));
        }
        let mut path: Vec<Trajectory> = Vec::new();
        let mut provider = candidates[self.rng.random_range(0..candidates.len())];
        let first_provider = provider;
        for _ in 0..4 {
            if start > self.last || (start - birth).num_days() >= 23 * 365 {
                break;
            }
            let previous = path.last().map(|t| t.hulpvorm);
            let mut trajectory = self.trajectory(provider, start, previous);
            if single_period {
                let period_end = self.last;
                trajectory.end =
                    Some((start + Duration::days(self.rng.random_range(5..90))).min(period_end));
                path.push(trajectory);
                break;
            }
            let Some(end) = trajectory.end else {
                path.push(trajectory);
                break;
            };
            path.push(trajectory);
            let roll = self.rng.random_range(0..100);
            start = match roll {
                // Continuation: same provider, the next day, another form of care.
                0..=24 => end + Duration::days(1),
                // Moves to another provider within half a year.
                25..=59 => {
                    provider = candidates[self.rng.random_range(0..candidates.len())];
                    end + Duration::days(self.rng.random_range(2..170))
                }
                // Comes back to the first provider after a longer time.
                60..=79 => {
                    provider = first_provider;
                    end + Duration::days(self.rng.random_range(200..700))
                }
                _ => break,
            };
        }
        path
    }
}

/// Appends the goal-attainment columns (`doelen_behaald`, `problematiek_afgenomen`,
/// `doelrealisatie_informant`) to a row whose other columns are written. Drawn from a hash of
/// the row's number, not from the generator's random stream, so that every other value of the
/// data set stays as it was. Only ended trajectories with an outcome measurement get them,
/// seven in ten of those; no national figure exists yet, so the answer mix (half the goals
/// fully achieved, a third partly) is a plausible invention, not a published one.
fn push_doelrealisatie(line: &mut String, separator: char, measured: bool, row: u64) {
    let bits = spiegel_core::mix64(row ^ 0x646f_656c_7265_616c);
    let draw = |shift: u32| (bits >> shift) % 100;
    let judged = measured && draw(0) < 70;
    let doelen = match draw(8) {
        _ if !judged => "",
        0..50 => "01",
        50..85 => "02",
        _ => "03",
    };
    let problematiek = match draw(16) {
        _ if !judged => "",
        0..65 => "01",
        65..90 => "02",
        // Judged on goals only.
        _ => "",
    };
    let informant = match draw(24) {
        _ if !judged => "",
        0..15 => "01",
        15..40 => "02",
        40..60 => "03",
        _ => "04",
    };
    for value in [doelen, problematiek, informant] {
        line.push(separator);
        line.push_str(value);
    }
}

fn write_header(out: &mut impl Write, separator: u8) -> std::io::Result<()> {
    let names: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
    out.write_all(
        names
            .join(if separator == b';' { ";" } else { "," })
            .as_bytes(),
    )?;
    out.write_all(b"\n")
}

/// Runs the generator.
pub(crate) fn generate(
    options: &GenerateOptions,
    mut progress: impl FnMut(u64),
) -> Result<GenerateSummary> {
    anyhow::ensure!(!options.periods.is_empty(), "at least one period is needed");
    let mut sorted = options.periods.clone();
    sorted.sort();
    for pair in sorted.windows(2) {
        anyhow::ensure!(
            pair[0].end() < pair[1].start(),
            "periods {} and {} overlap; a trajectory would be delivered twice",
            pair[0],
            pair[1]
        );
    }
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("creating {}", options.out.display()))?;
    let reference = Reference::embedded();
    let mut generator = Generator::new(options, reference);
    let separator = if options.semicolon { b';' } else { b',' };
    let mut periods = options.periods.clone();
    periods.sort();
    periods.dedup();
    let mut files: Vec<Vec<Option<BufWriter<File>>>> = (0..generator.providers.len())
        .map(|_| (0..periods.len()).map(|_| None).collect())
        .collect();
    let mut summary = GenerateSummary {
        providers: generator.providers.len(),
        ..GenerateSummary::default()
    };
    let mut seen_gemeenten = vec![false; reference.gemeenten().len()];
    let mut line = String::with_capacity(256);
    while summary.records < options.records {
        let child = summary.children;
        let g = generator.gemeente(child);
        let region = generator.region_of[g];
        let rng = &mut generator.rng;
        let age_years = pick(
            rng,
            &[
                (0u32, 3),
                (2, 5),
                (5, 12),
                (9, 16),
                (13, 20),
                (15, 22),
                (17, 10),
                (19, 4),
            ],
        );
        let birth =
            generator.first - Duration::days(i64::from(age_years) * 365 + rng.random_range(0..365));
        let geslacht = pick(rng, &[("M", 52), ("V", 47), ("O", 1)]);
        let sentinel = pick(
            rng,
            &[(None, 993), (Some("999999999"), 6), (Some("000000000"), 1)],
        );
        let remaining = options.records - summary.records;
        let covering = (child as usize) < reference.gemeenten().len();
        let mut path = generator.care_path(region, birth, remaining < 16, covering);
        let bsn = generator.next_bsn();
        let bsn = std::str::from_utf8(&bsn)
            .unwrap_or_else(|_| unreachable!("ASCII digits"))
            .to_owned();
        // Care during pregnancy: an unborn child's (expected) birth date follows the start.
        let birth = if sentinel == Some("000000000") {
            path.truncate(1);
            path.first().map_or(birth, |t| t.start + Duration::days(60))
        } else {
            birth
        };
        let birth_text = bij(birth);
        let gemeente = reference.gemeenten()[g].code.to_string();
        summary.children += 1;
        for trajectory in &path {
            for (p, period) in periods.iter().enumerate() {
                if summary.records >= options.records {
                    break;
                }
                let overlaps = trajectory.start <= period.end()
                    && trajectory.end.is_none_or(|end| end >= period.start());
                if !overlaps {
                    continue;
                }
                let ended = trajectory.end.filter(|end| *end <= period.end());
                line.clear();
                let sep = separator as char;
                let mut push = |value: &str| {
                    line.push_str(value);
                    line.push(sep);
                };
                push(sentinel.unwrap_or(&bsn));
                push("");
                push(&birth_text);
                push(geslacht);
                push(&gemeente);
                push("");
                push(trajectory.verwijzer.code());
                push(trajectory.hulpvorm.code());
                push(if trajectory.crisis { "01" } else { "02" });
                push(&bij(trajectory.start));
                push(&ended.map(bij).unwrap_or_default());
                push(if ended.is_some() {
                    trajectory.reden
                } else {
                    ""
                });
                let outcome = ended.and(trajectory.outcome.as_ref());
                let score = |s: Option<u8>| s.map(|s| s.to_string()).unwrap_or_default();
                push(&score(outcome.and_then(|o| o.tevredenheid_jeugdige)));
                push(&score(outcome.and_then(|o| o.tevredenheid_ouder)));
                push(outcome.and_then(|o| o.zhv_jeugdige).unwrap_or(""));
                push(outcome.and_then(|o| o.zhv_ouder).unwrap_or(""));
                push(&trajectory.aanmelding.map(bij).unwrap_or_default());
                let amount = trajectory.euros_per_day.map(|per_day| {
                    let from = trajectory.start.max(period.start());
                    let to = ended.unwrap_or(period.end());
                    let cents =
                        u64::from(per_day) * 100 * ((to - from).num_days().max(0) as u64 + 1)
                            + (summary.records % 100);
                    let decimal = if separator == b';' { ',' } else { '.' };
                    format!("{}{decimal}{:02}", cents / 100, cents % 100)
                });
                line.push_str(&amount.unwrap_or_default());
                push_doelrealisatie(&mut line, sep, outcome.is_some(), summary.records);
                line.push('\n');
                let provider = &generator.providers[trajectory.provider];
                let slot = &mut files[trajectory.provider][p];
                if slot.is_none() {
                    let path = options.out.join(format!("{}_{}.csv", provider.agb, period));
                    let file = File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    let mut writer = BufWriter::with_capacity(64 * 1024, file);
                    write_header(&mut writer, separator)?;
                    *slot = Some(writer);
                    summary.files += 1;
                }
                if let Some(writer) = slot {
                    writer.write_all(line.as_bytes())?;
                }
                summary.records += 1;
                seen_gemeenten[g] = true;
            }
        }
        if child.is_multiple_of(10_000) {
            progress(summary.records);
        }
    }
    for writer in files.into_iter().flatten().flatten() {
        writer
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
    }
    summary.gemeenten = seen_gemeenten.iter().filter(|s| **s).count();
    Ok(summary)
}

/// The default periods: the last five BIJ half-years up to 2026-H1.
pub(crate) fn default_periods() -> Vec<Period> {
    ["2024-H1", "2024-H2", "2025-H1", "2025-H2", "2026-H1"]
        .iter()
        .filter_map(|p| p.parse().ok())
        .collect()
}
