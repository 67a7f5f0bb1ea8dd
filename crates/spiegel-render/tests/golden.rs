//! One blessed page: a tiny mirror report (a few cells, one suppressed, one provisional, a
//! breakdown and the provider's explanation full of markup) rendered and compared byte for
//! byte with `tests/golden/mirror.html`. Any change to the markup of a page shows here as a
//! diff to review. Run with `SPIEGEL_BLESS=1` to rewrite the file after an intended change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use object_store::memory::InMemory;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;
use spiegel_core::ReportKind;
use spiegel_publish::{MANIFEST, Manifest, ManifestFile, PublishConfig, REPORT_SCHEMA_VERSION};
use spiegel_render::{AggregateConfig, Annotation, Language, ProviderNotes, render_report};

const PROVIDER: &str = "12345678";
const GEMEENTE: &str = "GM0344";
const PERIOD: &str = "2026-H1";
const REPORT: &str = "mirror/period=2026-H1/provider=12345678/GM0344-0123456789abcdef.parquet";

/// What a provider might write: markup, an entity, quotes of both kinds.
const STORY: &str = "Wachtlijst <b>krap</b> & 'onzeker' \"tot de zomer\" &amp; <script>x</script>";

/// (indicator, dimension, category, numerator, denominator, value, status)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    Option<i64>,
    Option<i64>,
    Option<f64>,
    &'static str,
);

const ROWS: &[Row] = &[
    (
        "youths_in_care",
        "total",
        "total",
        None,
        None,
        Some(42.0),
        "ok",
    ),
    (
        "youths_in_care",
        "hulpvorm",
        "11",
        None,
        None,
        Some(25.0),
        "ok",
    ),
    (
        "trajectories_started",
        "total",
        "total",
        None,
        None,
        None,
        "suppressed",
    ),
    (
        "trajectories_ended",
        "total",
        "total",
        None,
        None,
        Some(40.0),
        "ok",
    ),
    (
        "ended_as_planned_share",
        "total",
        "total",
        Some(30),
        Some(40),
        Some(75.0),
        "ok",
    ),
    (
        "repeat_request_share",
        "total",
        "total",
        Some(5),
        Some(40),
        Some(12.5),
        "provisional",
    ),
];

/// The report file, in the published layout of a mirror report.
fn parquet() -> Vec<u8> {
    let text = |f: &dyn Fn(&Row) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(ROWS.iter().map(f)))
    };
    let count = |f: &dyn Fn(&Row) -> Option<i64>| -> ArrayRef {
        Arc::new(ROWS.iter().map(f).collect::<Int64Array>())
    };
    let columns: Vec<ArrayRef> = vec![
        text(&|_| "mirror"),
        text(&|_| PERIOD),
        text(&|_| GEMEENTE),
        text(&|_| "Utrecht stad"),
        text(&|_| PROVIDER),
        text(&|r| r.0),
        text(&|r| r.1),
        text(&|r| r.2),
        count(&|r| r.3),
        count(&|r| r.4),
        Arc::new(ROWS.iter().map(|r| r.5).collect::<Float64Array>()),
        text(&|_| "n"),
        text(&|r| r.6),
        text(&|_| spiegel_aggregate::METHOD_VERSION),
    ];
    let batch = RecordBatch::try_new(spiegel_publish::report_schema(true), columns).unwrap();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    bytes
}

fn manifest() -> Manifest {
    Manifest {
        release: "golden-release".to_owned(),
        schema_version: REPORT_SCHEMA_VERSION.to_owned(),
        method_version: spiegel_aggregate::METHOD_VERSION.to_owned(),
        config: PublishConfig::default(),
        files: vec![ManifestFile {
            path: REPORT.to_owned(),
            kind: ReportKind::Mirror,
            period: PERIOD.to_owned(),
            recipient: PROVIDER.to_owned(),
            municipality: Some(GEMEENTE.to_owned()),
            shared: Some(false),
            sha256: "0".repeat(64),
            content_sha256: "0".repeat(64),
            rows: ROWS.len() as u64,
            suppressed: 1,
        }],
        submissions: Default::default(),
    }
}

fn page() -> String {
    let store = InMemory::new();
    futures::executor::block_on(async {
        store
            .put(&StorePath::from(REPORT), PutPayload::from(parquet()))
            .await
            .unwrap();
        let manifest = serde_json::to_vec(&manifest()).unwrap();
        store
            .put(&StorePath::from(MANIFEST), PutPayload::from(manifest))
            .await
            .unwrap();
        let mut notes = ProviderNotes::default();
        notes
            .annotations
            .insert(Annotation {
                provider: PROVIDER.to_owned(),
                period: PERIOD.to_owned(),
                municipality: GEMEENTE.to_owned(),
                text: STORY.to_owned(),
            })
            .unwrap();
        let store: &dyn ObjectStore = &store;
        render_report(
            store,
            REPORT,
            &notes,
            &AggregateConfig::default(),
            Language::Nl,
        )
        .await
        .unwrap()
    })
}

#[test]
fn a_tiny_mirror_page_is_rendered_as_blessed() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/mirror.html");
    let html = page();
    if std::env::var_os("SPIEGEL_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &html).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        html == expected,
        "tests/golden/mirror.html is out of date with the code; rerun with SPIEGEL_BLESS=1 and \
         review the diff"
    );
}

#[test]
fn the_golden_page_shows_the_explanation_as_text() {
    let html = page();
    let story = &html[html.find("<div class=\"verhaal\">").unwrap()..];
    let story = &story[..story.find("</div>").unwrap()];
    assert!(story.contains(
        "&lt;b&gt;krap&lt;/b&gt; &amp; &#39;onzeker&#39; &quot;tot de zomer&quot; \
             &amp;amp; &lt;script&gt;"
    ));
    assert!(!html.contains("<script"));
}
