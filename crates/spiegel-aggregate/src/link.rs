//! Linkage (docs/linkage.md): the same child across providers and periods, and the facts derived
//! from it per trajectory.

use std::collections::HashMap;

use spiegel_core::ipc::date32;

use crate::model::{Child, Submission, Traj};

/// Windows of the derived facts, in days.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Windows {
    pub(crate) no_new_start: i32,
    pub(crate) lookback: i32,
    pub(crate) continuation: i32,
}

/// What linkage says about one delivered trajectory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    /// Starts at the same provider within the continuation window after another trajectory
    /// of the child ended: a change of hulpvorm, not a new start.
    pub(crate) continuation: bool,
    /// A new start whose child had a trajectory at any provider ending within the lookback.
    pub(crate) repeat: bool,
    /// For a linkable trajectory ended with reason 01..04: no new start within the window.
    pub(crate) no_new_start: Option<bool>,
    /// The window of `no_new_start` is not yet fully delivered by every provider.
    pub(crate) provisional: bool,
    /// A new start whose lookback reaches before the earliest period anyone delivered: an
    /// earlier end may be missing, so `repeat` may be false where it is true.
    pub(crate) repeat_provisional: bool,
}

impl Flags {
    /// The flags in one byte, for digests.
    pub(crate) fn packed(&self) -> u8 {
        u8::from(self.continuation)
            | u8::from(self.repeat) << 1
            | match self.no_new_start {
                None => 0,
                Some(false) => 1 << 2,
                Some(true) => 2 << 2,
            }
            | u8::from(self.provisional) << 4
            | u8::from(self.repeat_provisional) << 5
    }
}

/// Flags for every trajectory of every submission, in the same order.
pub(crate) fn link(submissions: &[&Submission], windows: Windows) -> Vec<Vec<Flags>> {
    let mut flags: Vec<Vec<Flags>> = submissions
        .iter()
        .map(|s| vec![Flags::default(); s.trajectories.len()])
        .collect();
    let coverage = Coverage::new(submissions);
    // Children are independent: shards of them, by their uniform key bits, on every core.
    let shards = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4) as u64;
    let linked = spiegel_core::parallel::map((0..shards).collect(), shards as usize, |shard| {
        link_shard(submissions, windows, &coverage, |child| {
            child.key_bits() % shards == shard
        })
    });
    for (s, r, f) in linked.into_iter().flatten() {
        flags[s as usize][r as usize] = f;
    }
    flags
}

/// The flags other than the default of the trajectories of the children `in_shard` takes,
/// as (submission, trajectory, flags).
fn link_shard(
    submissions: &[&Submission],
    windows: Windows,
    coverage: &Coverage,
    in_shard: impl Fn(Child) -> bool,
) -> Vec<(u32, u32, Flags)> {
    let mut flags = Vec::new();
    // Sorted by child, then the trajectory's identity, then the period's end: each child's
    // trajectories together, each trajectory's versions in delivery order.
    let mut keyed: Vec<(Child, i32, u16, u8, i32, u32, u32)> = Vec::new();
    for (s, submission) in submissions.iter().enumerate() {
        let period_end = date32(submission.period.end());
        for (r, t) in submission.trajectories.iter().enumerate() {
            if matches!(t.child, Child::Linked(_)) && in_shard(t.child) {
                keyed.push((
                    t.child, t.start, t.provider, t.hulpvorm, period_end, s as u32, r as u32,
                ));
            }
        }
    }
    keyed.sort_unstable();
    let entries: Vec<(u32, u32)> = keyed.into_iter().map(|k| (k.5, k.6)).collect();
    let traj = |&(s, r): &(u32, u32)| &submissions[s as usize].trajectories[r as usize];
    let mut provisional_memo: HashMap<i32, bool> = HashMap::new();
    let mut group_start = 0;
    while group_start < entries.len() {
        let child = traj(&entries[group_start]).child;
        let group_end = entries[group_start..]
            .iter()
            .position(|e| traj(e).child != child)
            .map_or(entries.len(), |p| group_start + p);
        // The trajectories of this child, each once: the version of the latest period is
        // the one that knows how it ended.
        let mut unique: Vec<(&Traj, std::ops::Range<usize>)> = Vec::new();
        let mut run_start = group_start;
        for i in group_start..group_end {
            let last_of_run = i + 1 == group_end
                || traj(&entries[i + 1]).identity() != traj(&entries[i]).identity();
            if last_of_run {
                unique.push((traj(&entries[i]), run_start..i + 1));
                run_start = i + 1;
            }
        }
        for (x, (tx, members)) in unique.iter().enumerate() {
            let others = || {
                unique
                    .iter()
                    .enumerate()
                    .filter(move |(y, _)| *y != x)
                    .map(|(_, (ty, _))| *ty)
            };
            let continuation = others().any(|ty| {
                ty.provider == tx.provider
                    && ty
                        .end
                        .is_some_and(|e| e <= tx.start && tx.start - e <= windows.continuation)
            });
            let new_start = !continuation;
            let repeat = new_start
                && others().any(|ty| {
                    ty.start < tx.start
                        && ty
                            .end
                            .is_some_and(|e| e <= tx.start && tx.start - e <= windows.lookback)
                });
            let (no_new_start, provisional) = match (tx.end, tx.reden) {
                (Some(e), Some(reden)) if reden <= 3 => {
                    let new_start = others().any(|ty| {
                        ty.start >= e
                            && ty.start - e <= windows.no_new_start
                            && !(ty.provider == tx.provider && ty.start - e <= windows.continuation)
                    });
                    let provisional = *provisional_memo
                        .entry(e)
                        .or_insert_with(|| !coverage.covers(e, e + windows.no_new_start));
                    (Some(!new_start), provisional)
                }
                _ => (None, false),
            };
            let f = Flags {
                continuation,
                repeat,
                no_new_start,
                provisional,
                repeat_provisional: new_start
                    && tx.start.saturating_sub(windows.lookback) < coverage.history_start,
            };
            if f != Flags::default() {
                flags.extend(entries[members.clone()].iter().map(|&(s, r)| (s, r, f)));
            }
        }
        group_start = group_end;
    }
    flags
}

/// Which days every provider has delivered: a new start can only be ruled out for days every
/// provider has reported on.
struct Coverage {
    /// Per provider, merged day intervals, inclusive.
    by_provider: Vec<Vec<(i32, i32)>>,
    /// The first day of the earliest period anyone delivered: Spiegel knows of no end
    /// before it.
    history_start: i32,
}

impl Coverage {
    fn new(submissions: &[&Submission]) -> Self {
        let mut by_provider: HashMap<u16, Vec<(i32, i32)>> = HashMap::new();
        for s in submissions {
            by_provider
                .entry(s.provider_index)
                .or_default()
                .push((date32(s.period.start()), date32(s.period.end())));
        }
        let by_provider = by_provider
            .into_values()
            .map(|mut intervals| {
                intervals.sort_unstable();
                let mut merged: Vec<(i32, i32)> = Vec::new();
                for (a, b) in intervals {
                    match merged.last_mut() {
                        Some(last) if a <= last.1 + 1 => last.1 = last.1.max(b),
                        _ => merged.push((a, b)),
                    }
                }
                merged
            })
            .collect();
        let history_start = submissions
            .iter()
            .map(|s| date32(s.period.start()))
            .min()
            .unwrap_or(i32::MIN);
        Self {
            by_provider,
            history_start,
        }
    }

    /// Whether every provider has delivered the days `from..=to`. A provider whose first
    /// delivered period starts later is taken to have had no clients before it, as the
    /// history start is for all: otherwise one newcomer would leave every earlier window
    /// provisional for ever.
    fn covers(&self, from: i32, to: i32) -> bool {
        self.by_provider.iter().all(|intervals| {
            let Some(&(first, _)) = intervals.first() else {
                return true;
            };
            first > to
                || intervals
                    .iter()
                    .any(|&(a, b)| a <= from.max(first) && to <= b)
        })
    }
}
