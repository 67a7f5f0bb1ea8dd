#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use super::*;

/// A small data set through ingest, pseudonymise and aggregate in `dir`: its release waits
/// on the aggregates topic to be published.
fn aggregated(dir: &Path) {
    let input = dir.join("in");
    crate::generate::generate(
        &crate::generate::GenerateOptions {
            out: input.clone(),
            records: 400,
            // A seed whose first record (the one `drop_a_record` removes) belongs to a
            // child seen in one period only, so the other period's part stays unchanged.
            seed: 7,
            providers: Some(3),
            periods: crate::generate::default_periods()[..2].to_vec(),
            semicolon: false,
        },
        |_| {},
    )
    .unwrap();
    assert!(aggregate_input(dir).released.is_some());
}

/// The submissions in `dir/in` through ingest, pseudonymise and aggregate in `dir`.
fn aggregate_input(dir: &Path) -> spiegel_aggregate::Progress {
    let input = dir.join("in");
    let (config, data_dir) = (PipelineConfig::default(), dir.join("data"));
    let (source_key, ttp_key) = keys(None, &data_dir).unwrap();
    let label = PseudonymLabel {
        ttp: ttp_key.ttp().clone(),
        version: ttp_key.version(),
    };
    let transport = EmbeddedTransport::open(&data_dir.join("transport")).unwrap();
    let versions = vec![source_key.version()];
    let ingest = ingest_stage(&config, source_key, &data_dir, &transport).unwrap();
    for path in submissions_in(&input).unwrap() {
        ingest.send(ingest.prepare(&path).unwrap()).unwrap();
    }
    drop(ingest);
    pseudonymise_stage(ttp_key, versions, &transport)
        .unwrap()
        .run_until_idle()
        .unwrap();
    aggregate_stage(config.aggregate, label, &data_dir, "embedded", &transport)
        .unwrap()
        .run_until_idle()
        .unwrap()
}

fn publish(
    dir: &Path,
    sync: impl Fn() -> std::io::Result<()> + Send + 'static,
) -> spiegel_publish::Result<spiegel_publish::Progress> {
    let data_dir = dir.join("data");
    let transport = EmbeddedTransport::open(&data_dir.join("transport")).unwrap();
    publish_stage(
        PublishConfig::default(),
        &data_dir,
        None,
        &dir.join("out").into(),
        &transport,
    )
    .unwrap()
    .with_store_sync(sync)
    .run_until_idle()
}

/// The publish stage's committed offset of the aggregates topic.
fn committed_offset(dir: &Path) -> u64 {
    let path = dir
        .join("data/transport/groups")
        .join(spiegel_publish::GROUP)
        .join(topic::AGGREGATES);
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// What was on disk when the publish stage synced its report store.
#[derive(Debug, PartialEq, Eq)]
struct AtSync {
    reports: std::collections::BTreeSet<String>,
    manifest: bool,
    feed: bool,
    announced: bool,
    committed: u64,
}

#[test]
fn reports_are_synced_before_the_manifest_names_them_and_the_manifest_before_the_release_is_recorded()
 {
    let dir = tempfile::tempdir().unwrap();
    aggregated(dir.path());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (recorded, root) = (seen.clone(), dir.path().to_owned());
    let published = publish(dir.path(), move || {
        let out = root.join("out");
        let reports = walk(&out)
            .into_iter()
            .filter(|p| p.ends_with(".parquet"))
            .collect();
        recorded.lock().unwrap().push(AtSync {
            reports,
            manifest: out.join(spiegel_publish::MANIFEST).is_file(),
            feed: out.join(spiegel_publish::feed_object(1)).is_file(),
            announced: root.join("data/publish/announced.json").is_file(),
            committed: committed_offset(&root),
        });
        Ok(())
    })
    .unwrap()
    .published
    .expect("a release is published");
    let reports: std::collections::BTreeSet<String> =
        published.files.into_iter().map(|f| f.path).collect();
    assert!(!reports.is_empty());
    let unrecorded = |manifest, feed| AtSync {
        reports: reports.clone(),
        manifest,
        feed,
        announced: false,
        committed: 0,
    };
    assert_eq!(
        *seen.lock().unwrap(),
        [unrecorded(false, false), unrecorded(true, true)]
    );
    assert!(committed_offset(dir.path()) > 0);
}

/// The files under `dir`, as paths relative to it.
fn walk(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(next) = dirs.pop() {
        for entry in std::fs::read_dir(&next).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(relative) = path.strip_prefix(dir) {
                files.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    files
}

#[test]
fn a_correction_applies_the_rules_only_to_the_reports_whose_cells_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    aggregated(dir.path());
    let first = publish(dir.path(), || Ok(())).unwrap();
    let before = first.published.expect("a release is published");
    assert_eq!(
        (first.reports_made, first.reports_unchanged),
        (before.files.len(), 0)
    );

    // One record fewer in one submission.
    let corrected = drop_a_record(dir.path());
    assert!(aggregate_input(dir.path()).released.is_some());
    let second = publish(dir.path(), || Ok(())).unwrap();
    let after = second.published.expect("the correction is published");

    let figures = |manifest: &Manifest| -> BTreeMap<String, String> {
        manifest
            .files
            .iter()
            .map(|f| {
                let report = format!(
                    "{} {} {} {:?}",
                    f.kind, f.period, f.recipient, f.municipality
                );
                (report, f.content_sha256.clone())
            })
            .collect()
    };
    let (old, new) = (figures(&before), figures(&after));
    let revised = new
        .iter()
        .filter(|(report, sha)| old.get(*report) != Some(sha))
        .count();
    let name = corrected
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let period = name.split_once('_').unwrap().1;
    let of_period = after.files.iter().filter(|f| f.period == period).count();
    assert!(revised >= 1, "the correction revised no report");
    assert!(
        second.reports_made >= revised && second.reports_made * 4 < of_period,
        "{} reports made again for {revised} revised, of {of_period} in {period}",
        second.reports_made
    );
    assert_eq!(
        second.reports_made + second.reports_unchanged,
        after.files.len()
    );
}

/// Takes one record out of the first submission in `dir/in`; returns that file.
fn drop_a_record(dir: &Path) -> PathBuf {
    let corrected = submissions_in(&dir.join("in")).unwrap()[0].clone();
    let text = std::fs::read_to_string(&corrected).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(1);
    std::fs::write(&corrected, lines.join("\n") + "\n").unwrap();
    corrected
}

#[test]
fn a_publish_stage_without_the_parts_sent_by_reference_gets_the_release_in_full() {
    let dir = tempfile::tempdir().unwrap();
    aggregated(dir.path());
    publish(dir.path(), || Ok(())).unwrap().published.unwrap();
    drop_a_record(dir.path());
    let corrected = aggregate_input(dir.path());
    assert!(corrected.released.is_some());
    assert!(
        corrected.parts_by_reference >= 1 && corrected.parts_computed >= 1,
        "{corrected:?}"
    );

    // The same state twice: one publish stage keeps its state, the other lost it.
    let kept = tempfile::tempdir().unwrap();
    let copied = std::process::Command::new("cp")
        .args(["-a", "data", "out"])
        .arg(kept.path())
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(copied.success());
    let expected = publish(kept.path(), || Ok(())).unwrap();
    let expected = expected
        .published
        .expect("published from the parts it holds");

    std::fs::remove_dir_all(dir.path().join("data/publish")).unwrap();
    let waiting = publish(dir.path(), || Ok(())).unwrap();
    assert!(
        waiting.awaiting_parts && waiting.published.is_none(),
        "{waiting:?}"
    );
    let answered = aggregate_input(dir.path());
    assert_eq!(
        (answered.parts_by_reference, answered.parts_computed),
        (0, 0),
        "{answered:?}"
    );
    let published = publish(dir.path(), || Ok(())).unwrap();
    assert!(!published.awaiting_parts);
    let published = published.published.expect("published once sent in full");
    assert_eq!(published.release, expected.release);
    assert_eq!(published.files, expected.files);

    // Answered once: nothing is sent again.
    let again = aggregate_input(dir.path());
    assert!(again.released.is_none(), "{again:?}");
}

#[test]
fn a_release_a_newer_one_supersedes_before_its_turn_is_never_published() {
    let dir = tempfile::tempdir().unwrap();
    aggregated(dir.path());
    drop_a_record(dir.path());
    assert!(aggregate_input(dir.path()).released.is_some());
    let summary = |p: &spiegel_publish::Progress| {
        (
            p.passed_over,
            p.reports_made,
            p.awaiting_parts,
            p.published.is_some(),
        )
    };

    // Both releases wait on the topic: the older is passed over, not audited. The newer
    // sends the unchanged period by reference to the one passed over, which this stage
    // never held: it asks for the release in full.
    let first = publish(dir.path(), || Ok(())).unwrap();
    assert_eq!(summary(&first), (1, 0, true, false));
    aggregate_input(dir.path());
    // A stage started again reads from the same offset and passes it over again.
    let second = publish(dir.path(), || Ok(())).unwrap();
    let made = second.reports_made;
    let published = second.published.expect("the newer release is published");
    assert_eq!((second.passed_over, made), (1, published.files.len()));
    assert!(
        !dir.path()
            .join("out")
            .join(spiegel_publish::feed_object(2))
            .exists(),
        "one release announced, not two"
    );
}

#[test]
fn reports_of_a_release_that_never_completed_are_removed_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    aggregated(dir.path());
    publish(dir.path(), || Ok(())).unwrap().published.unwrap();
    let corrected = submissions_in(&dir.path().join("in")).unwrap()[0].clone();
    let original = std::fs::read(&corrected).unwrap();
    drop_a_record(dir.path());
    assert!(aggregate_input(dir.path()).released.is_some());
    // The correction's reports are written, its manifest never is.
    publish(dir.path(), || Err(std::io::Error::other("disk gone"))).unwrap_err();
    let out = dir.path().join("out");
    let written = walk(&out)
        .into_iter()
        .filter(|p| p.ends_with(".parquet"))
        .count();
    // And the release is never seen again (its messages gone, the stage's offset past
    // them): nothing that comes later names what it wrote.
    let transport = EmbeddedTransport::open(&dir.path().join("data/transport")).unwrap();
    let mut consumer = transport
        .consumer(topic::AGGREGATES, spiegel_publish::GROUP)
        .unwrap();
    let unread = consumer.poll(1000).unwrap();
    consumer.commit(unread.last().unwrap()).unwrap();

    // Withdrawn again: the next release names none of the reports the correction revised.
    std::fs::write(&corrected, original).unwrap();
    assert!(aggregate_input(dir.path()).released.is_some());
    let manifest = publish(dir.path(), || Ok(())).unwrap().published.unwrap();
    let named: std::collections::BTreeSet<String> =
        manifest.files.into_iter().map(|f| f.path).collect();
    let on_disk: std::collections::BTreeSet<String> = walk(&out)
        .into_iter()
        .filter(|p| p.ends_with(".parquet"))
        .collect();
    assert!(
        written > named.len(),
        "the correction wrote no report of its own"
    );
    let orphans: Vec<&String> = on_disk.difference(&named).collect();
    assert!(
        orphans.is_empty(),
        "{} reports that no manifest names, such as {:?}",
        orphans.len(),
        orphans.first()
    );
    assert!(named.is_subset(&on_disk));
}

#[test]
fn a_report_store_that_cannot_be_synced_gets_no_manifest_and_its_release_stays_uncommitted() {
    let dir = tempfile::tempdir().unwrap();
    aggregated(dir.path());
    let error = publish(dir.path(), || Err(std::io::Error::other("disk gone"))).unwrap_err();
    assert!(
        matches!(error, spiegel_publish::PublishError::Sync(_)),
        "{error}"
    );
    assert!(
        !dir.path()
            .join("out")
            .join(spiegel_publish::MANIFEST)
            .exists()
    );
    assert_eq!(committed_offset(dir.path()), 0);
    // Once the store syncs again, the release is published.
    assert!(publish(dir.path(), || Ok(())).unwrap().published.is_some());
}

#[test]
fn a_release_that_cannot_be_recorded_is_not_published_until_it_is() {
    // Issue 26: a change that cannot be audited does not happen; a release included.
    let dir = tempfile::tempdir().unwrap();
    aggregated(dir.path());
    let data_dir = dir.path().join("data");
    let transport = EmbeddedTransport::open(&data_dir.join("transport")).unwrap();
    let recording = Arc::new(Mutex::new(false));
    let recorded = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut stage = publish_stage(
        PublishConfig::default(),
        &data_dir,
        None,
        &dir.path().join("out").into(),
        &transport,
    )
    .unwrap()
    .with_recorder({
        let (recording, recorded) = (Arc::clone(&recording), Arc::clone(&recorded));
        move |release| {
            if !*recording.lock().unwrap() {
                return Err(std::io::Error::other("the audit log cannot be written"));
            }
            recorded.lock().unwrap().push(release.to_owned());
            Ok(())
        }
    });
    let manifest = dir.path().join("out").join(spiegel_publish::MANIFEST);
    for _ in 0..2 {
        let error = stage.run_until_idle().unwrap_err();
        assert!(
            matches!(error, spiegel_publish::PublishError::Unrecorded { .. }),
            "{error}"
        );
        assert!(!manifest.exists());
        assert_eq!(committed_offset(dir.path()), 0);
    }
    // Recordable again: the same stage publishes the release in hand, recorded first.
    *recording.lock().unwrap() = true;
    let published = stage.run_until_idle().unwrap().published.unwrap();
    assert!(manifest.exists());
    assert_eq!(*recorded.lock().unwrap(), [published.release]);
}
