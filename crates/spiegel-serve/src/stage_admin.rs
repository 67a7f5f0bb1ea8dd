//! The admin port of a pipeline stage process (`spiegel pseudonymise`, `aggregate`,
//! `publish`, `ingest`): `/livez` (the process answers), `/readyz` (its state is restored and
//! it is taking input) and `/metrics` in Prometheus text format, for Kubernetes probes and
//! scraping. The stage loop reports into a [`StageHealth`]; the server runs on a thread of its
//! own, so a long step never delays a probe.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::Result;

/// Upper bounds (seconds) of the step duration histogram's buckets.
const STEP_BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// What a stage loop reports about itself.
#[derive(Debug)]
pub struct StageHealth {
    stage: &'static str,
    ready: AtomicBool,
    steps: AtomicU64,
    failures: AtomicU64,
    handled: AtomicU64,
    rejected: AtomicU64,
    dead_letters: AtomicU64,
    awaiting_rekey: AtomicU64,
    releases: AtomicU64,
    release_files: AtomicU64,
    release_suppressed: AtomicU64,
    /// Cumulative counts per bucket of [`STEP_BUCKETS`], then the count of all steps.
    step_buckets: [AtomicU64; STEP_BUCKETS.len()],
    step_micros: AtomicU64,
    /// Messages behind the high watermark, by topic and partition, as librdkafka last said.
    lag: std::sync::Mutex<std::collections::BTreeMap<(String, i32), i64>>,
}

impl StageHealth {
    /// Health of `stage` (`pseudonymise`, `aggregate`, …), not ready yet.
    pub fn new(stage: &'static str) -> Arc<Self> {
        Arc::new(Self {
            stage,
            ready: AtomicBool::new(false),
            steps: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            handled: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            dead_letters: AtomicU64::new(0),
            awaiting_rekey: AtomicU64::new(0),
            releases: AtomicU64::new(0),
            release_files: AtomicU64::new(0),
            release_suppressed: AtomicU64::new(0),
            step_buckets: Default::default(),
            step_micros: AtomicU64::new(0),
            lag: std::sync::Mutex::default(),
        })
    }

    /// The stage restored its state and takes input.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Runs one pass of the stage loop and counts it: its duration and what `handled` says it
    /// handled, or its failure.
    pub fn measure<T, E>(
        &self,
        pass: impl FnOnce() -> std::result::Result<T, E>,
        handled: impl FnOnce(&T) -> u64,
    ) -> std::result::Result<T, E> {
        let started = std::time::Instant::now();
        match pass() {
            Ok(done) => {
                self.stepped(started.elapsed(), handled(&done));
                Ok(done)
            }
            Err(e) => {
                self.failed();
                Err(e)
            }
        }
    }

    /// One pass of the stage loop took `took` and handled `handled` submissions or messages.
    fn stepped(&self, took: Duration, handled: u64) {
        self.steps.fetch_add(1, Ordering::Relaxed);
        self.handled.fetch_add(handled, Ordering::Relaxed);
        let seconds = took.as_secs_f64();
        for (bucket, bound) in self.step_buckets.iter().zip(STEP_BUCKETS) {
            if seconds <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.step_micros.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// A pass of the stage loop failed.
    fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The stage sent or published a release.
    pub fn released(&self) {
        self.releases.fetch_add(1, Ordering::Relaxed);
    }

    /// The aggregate stage rejected `rejected` more submissions of a retired stage-2 key
    /// version and holds `awaiting` submissions that wait for their copy under the version in
    /// force.
    pub fn key_rotation(&self, rejected: u64, awaiting: u64) {
        self.rejected.fetch_add(rejected, Ordering::Relaxed);
        self.awaiting_rekey.store(awaiting, Ordering::Relaxed);
    }

    /// The stage sent `count` more poison messages to the dead-letter topic and went on past
    /// them.
    pub fn dead_lettered(&self, count: u64) {
        self.dead_letters.fetch_add(count, Ordering::Relaxed);
    }

    /// The stage's consumer is `lag` messages behind on `partition` of `topic`.
    pub fn consumer_lag(&self, topic: &str, partition: i32, lag: i64) {
        if let Ok(mut lags) = self.lag.lock() {
            lags.insert((topic.to_owned(), partition), lag);
        }
    }

    /// The publish stage published a release of `files` reports with `suppressed` cells
    /// suppressed in all.
    pub fn published(&self, files: u64, suppressed: u64) {
        self.released();
        self.release_files.store(files, Ordering::Relaxed);
        self.release_suppressed.store(suppressed, Ordering::Relaxed);
    }
}

/// A counter family: name, help and where a stage keeps its value.
type Counter = (&'static str, &'static str, fn(&StageHealth) -> &AtomicU64);

/// The metrics of `stages` in Prometheus text format, each family once with a sample per
/// stage (so that one process running several stages serves valid text).
pub(crate) fn render_stages(stages: &[Arc<StageHealth>]) -> String {
    let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
    let mut out = String::new();
    let counters: [Counter; 6] = [
        (
            "spiegel_stage_steps_total",
            "Passes of the stage loop.",
            |h| &h.steps,
        ),
        (
            "spiegel_stage_step_failures_total",
            "Passes of the stage loop that failed (retried from the committed offsets).",
            |h| &h.failures,
        ),
        (
            "spiegel_stage_handled_total",
            "Submissions or messages the stage handled.",
            |h| &h.handled,
        ),
        (
            "spiegel_stage_rejected_total",
            "Messages the stage rejected (aggregate: pseudonyms of a retired stage-2 key \
             version).",
            |h| &h.rejected,
        ),
        (
            "spiegel_stage_dead_letters_total",
            "Poison messages the stage could not decode or apply, sent to the dead-letter \
             topic and committed past.",
            |h| &h.dead_letters,
        ),
        (
            "spiegel_stage_releases_total",
            "Releases the stage sent (aggregate) or published (publish).",
            |h| &h.releases,
        ),
    ];
    for (name, help, field) in counters {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
        for health in stages {
            out.push_str(&format!(
                "{name}{{stage=\"{}\"}} {}\n",
                health.stage,
                load(field(health))
            ));
        }
    }
    out.push_str(
        "# HELP spiegel_stage_ready Whether the stage restored its state and takes input.\n\
         # TYPE spiegel_stage_ready gauge\n",
    );
    for health in stages {
        out.push_str(&format!(
            "spiegel_stage_ready{{stage=\"{}\"}} {}\n",
            health.stage,
            u8::from(health.ready.load(Ordering::Relaxed))
        ));
    }
    let name = "spiegel_stage_step_seconds";
    out.push_str(&format!(
        "# HELP {name} Duration of a pass of the stage loop.\n# TYPE {name} histogram\n"
    ));
    for health in stages {
        let stage = health.stage;
        for (bucket, bound) in health.step_buckets.iter().zip(STEP_BUCKETS) {
            out.push_str(&format!(
                "{name}_bucket{{stage=\"{stage}\",le=\"{bound}\"}} {}\n",
                load(bucket)
            ));
        }
        let steps = load(&health.steps);
        out.push_str(&format!(
            "{name}_bucket{{stage=\"{stage}\",le=\"+Inf\"}} {steps}\n\
             {name}_sum{{stage=\"{stage}\"}} {}\n{name}_count{{stage=\"{stage}\"}} {steps}\n",
            load(&health.step_micros) as f64 / 1e6
        ));
    }
    let name = "spiegel_consumer_lag";
    out.push_str(&format!(
        "# HELP {name} Messages the stage's consumer is behind, per partition (librdkafka \
         statistics).\n# TYPE {name} gauge\n"
    ));
    for health in stages {
        if let Ok(lags) = health.lag.lock() {
            for ((topic, partition), lag) in lags.iter() {
                out.push_str(&format!(
                    "{name}{{stage=\"{}\",topic=\"{topic}\",partition=\"{partition}\"}} {lag}\n",
                    health.stage
                ));
            }
        }
    }
    if let Some(aggregate) = stages.iter().find(|h| h.stage == "aggregate") {
        let name = "spiegel_aggregate_awaiting_rekey";
        out.push_str(&format!(
            "# HELP {name} Stored submissions waiting for their copy under the stage-2 key \
             version in force; no release is computed until 0.\n# TYPE {name} gauge\n{name} {}\n",
            load(&aggregate.awaiting_rekey)
        ));
    }
    if let Some(publish) = stages.iter().find(|h| h.stage == "publish") {
        for (name, help, value) in [
            (
                "spiegel_release_files",
                "Reports in the release published last.",
                load(&publish.release_files),
            ),
            (
                "spiegel_release_suppressed_cells",
                "Cells suppressed (primary and secondary) in the release published last.",
                load(&publish.release_suppressed),
            ),
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
            ));
        }
    }
    out
}

/// Serves `/livez`, `/readyz` and `/metrics` of `health` on `listen` from a thread of its own,
/// for as long as the process runs; returns the bound address.
pub fn serve_stage_admin(listen: SocketAddr, health: Arc<StageHealth>) -> Result<SocketAddr> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind(listen))?;
    let bound = listener.local_addr()?;
    let router = Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(health);
    std::thread::Builder::new()
        .name("admin".into())
        .spawn(move || {
            if let Err(e) = runtime.block_on(axum::serve(listener, router).into_future()) {
                tracing::error!(error = %e, "the admin endpoint stopped");
            }
        })?;
    Ok(bound)
}

async fn readyz(State(health): State<Arc<StageHealth>>) -> Response {
    if health.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn metrics(State(health): State<Arc<StageHealth>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render_stages(&[health]),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_histogram_is_cumulative_and_counts_every_step() {
        let health = StageHealth::new("publish");
        health.stepped(Duration::from_millis(30), 2);
        health.stepped(Duration::from_secs(3), 1);
        health.stepped(Duration::from_secs(60), 0);
        let failed: Result<(), &str> = health.measure(|| Err("broken"), |()| 5);
        assert!(failed.is_err());
        let text = render_stages(&[health]);
        assert!(
            text.contains("spiegel_stage_step_seconds_bucket{stage=\"publish\",le=\"0.05\"} 1\n")
        );
        assert!(text.contains("spiegel_stage_step_seconds_bucket{stage=\"publish\",le=\"5\"} 2\n"));
        assert!(
            text.contains("spiegel_stage_step_seconds_bucket{stage=\"publish\",le=\"+Inf\"} 3\n")
        );
        assert!(text.contains("spiegel_stage_step_seconds_count{stage=\"publish\"} 3\n"));
        assert!(text.contains("spiegel_stage_handled_total{stage=\"publish\"} 3\n"));
        assert!(text.contains("spiegel_stage_ready{stage=\"publish\"} 0\n"));
        assert!(text.contains("spiegel_stage_step_failures_total{stage=\"publish\"} 1\n"));
    }

    #[test]
    fn dead_letters_are_counted_per_stage() {
        let health = StageHealth::new("aggregate");
        let text = render_stages(std::slice::from_ref(&health));
        assert!(text.contains("# TYPE spiegel_stage_dead_letters_total counter\n"));
        assert!(text.contains("spiegel_stage_dead_letters_total{stage=\"aggregate\"} 0\n"));
        health.dead_lettered(2);
        health.dead_lettered(1);
        let text = render_stages(&[health]);
        assert!(text.contains("spiegel_stage_dead_letters_total{stage=\"aggregate\"} 3\n"));
    }
}
