//! `spiegel serve`: who may read which report. The tenant-isolation matrix enumerates every
//! principal kind against its own and other tenants' reports, on every report route, over real
//! HTTP on loopback; the audit log records each read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

mod common;
use common::server::{Server, get, request};
use common::{generate, p, spiegel, token};

fn files(manifest: &Value) -> &Vec<Value> {
    manifest["files"].as_array().unwrap()
}

fn id_of(file: &Value) -> String {
    let period = file["period"].as_str().unwrap();
    let recipient = file["recipient"].as_str().unwrap();
    match file["kind"].as_str().unwrap() {
        "mirror" => format!(
            "mirror.{period}.{recipient}.{}",
            file["municipality"].as_str().unwrap()
        ),
        "municipality" => format!("municipality.{period}.{recipient}"),
        "region" => format!(
            "region.{period}.{}",
            recipient
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                })
                .collect::<String>()
        ),
        _ => format!("national.{period}"),
    }
}

#[test]
fn every_principal_reads_exactly_its_own_reports_and_everything_else_is_404() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let input = root.join("input");
    generate(&input, 8000, 40, 5, "2025-H2,2026-H1");
    spiegel(&["keys", "generate", "--out", p(&root.join("keys"))]);
    let run = |name: &str| -> Value {
        spiegel(&[
            "run",
            "--input",
            p(&input),
            "--out",
            p(&root.join(name).join("reports")),
            "--data-dir",
            p(&root.join(name).join("data")),
            "--keys",
            p(&root.join("keys")),
        ]);
        serde_json::from_slice(&fs::read(root.join(name).join("reports/manifest.json")).unwrap())
            .unwrap()
    };
    // A first run to find a provider A with mirror reports in two gemeenten G and H of
    // different regions, and a provider B also in G.
    let first = run("first");
    let mirrors: Vec<&Value> = files(&first)
        .iter()
        .filter(|f| f["kind"] == "mirror" && f["period"] == "2026-H1")
        .collect();
    let region = |gm: &str| -> String {
        spiegel_core::Reference::embedded()
            .gemeente(gm.parse().unwrap())
            .unwrap()
            .regio
            .clone()
    };
    let (a, g, h, b) = mirrors
        .iter()
        .flat_map(|m1| mirrors.iter().map(move |m2| (m1, m2)))
        .find_map(|(m1, m2)| {
            let a = m1["recipient"].as_str()?;
            let g = m1["municipality"].as_str()?;
            let h = m2["municipality"].as_str()?;
            if m2["recipient"] != a || g == h || region(g) == region(h) {
                return None;
            }
            // With at least three other providers in G, A's share takes effect at once
            // (NB-4, docs/release-rules.md) instead of waiting for the others.
            let providers_of_g = mirrors.iter().filter(|m| m["municipality"] == g).count();
            if providers_of_g < 4 {
                return None;
            }
            let b = mirrors
                .iter()
                .find(|m| m["municipality"] == g && m["recipient"] != a)?["recipient"]
                .as_str()?;
            Some((a.to_owned(), g.to_owned(), h.to_owned(), b.to_owned()))
        })
        .expect(
            "a provider in two gemeenten of different regions, sharing one with another that \
             has at least four providers",
        );
    // The real run: A shares its 2026-H1 mirror report with G.
    let data = root.join("served").join("data");
    fs::create_dir_all(&data).unwrap();
    fs::write(
        data.join("sharing.json"),
        json!({"shares": [{"provider": a, "period": "2026-H1", "municipality": g}]}).to_string(),
    )
    .unwrap();
    let manifest = run("served");
    let reports = root.join("served").join("reports");
    assert!(
        files(&manifest).iter().any(|f| f["kind"] == "mirror"
            && f["recipient"] == a.as_str()
            && f["municipality"] == g.as_str()
            && f["shared"] == true),
        "A's share with G took effect"
    );
    let find = |kind: &str, recipient: &str, municipality: Option<&str>| -> String {
        let file = files(&manifest)
            .iter()
            .find(|f| {
                f["kind"] == kind
                    && f["period"] == "2026-H1"
                    && f["recipient"] == recipient
                    && municipality.is_none_or(|m| f["municipality"] == m)
            })
            .unwrap_or_else(|| panic!("{kind} {recipient} {municipality:?}"));
        id_of(file)
    };
    let resources = [
        (
            "A's mirror for G, shared with G",
            find("mirror", &a, Some(&g)),
        ),
        ("A's mirror for H, not shared", find("mirror", &a, Some(&h))),
        ("B's mirror for G, not shared", find("mirror", &b, Some(&g))),
        ("G's municipality report", find("municipality", &g, None)),
        ("H's municipality report", find("municipality", &h, None)),
        ("G's region report", find("region", &region(&g), None)),
        ("the national report", find("national", "national", None)),
        (
            "no such report",
            "mirror.2026-H1.00000000.GM0000".to_owned(),
        ),
    ];
    let principals = [
        ("provider A", token(&data, ["--provider", &a], "setup")),
        ("provider B", token(&data, ["--provider", &b], "setup")),
        ("gemeente G", token(&data, ["--gemeente", &g], "setup")),
        ("gemeente H", token(&data, ["--gemeente", &h], "setup")),
        ("operator", token(&data, ["--operator", "ops"], "setup")),
    ];
    // Who may read what, written out: rows are principals, columns the resources above.
    let allowed: [[bool; 8]; 5] = [
        [true, true, false, false, false, false, false, false],
        [false, false, true, false, false, false, false, false],
        [true, false, false, true, false, true, true, false],
        [false, false, false, false, true, false, true, false],
        [false; 8],
    ];
    let revoked = token(&data, ["--provider", &a], "setup");
    let revoked_id = &revoked["spiegel_".len().."spiegel_".len() + 8];
    spiegel(&[
        "tokens",
        "revoke",
        revoked_id,
        "--data-dir",
        p(&data),
        "--by",
        "setup",
    ]);

    let server = Server::start(&reports, &data);
    let mut reads = 0;
    let mut served = 0;
    for (row, (who, bearer)) in principals.iter().enumerate() {
        let auth = format!("Bearer {bearer}");
        let (status, body) = get(&server.api, "/v1/reports", &[("Authorization", &auth)]);
        assert_eq!(status, 200, "{who} lists");
        let listed: Value = serde_json::from_slice(&body).unwrap();
        let listed: BTreeSet<&str> = listed["reports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        for (column, (what, id)) in resources.iter().enumerate() {
            let may = allowed[row][column];
            assert_eq!(listed.contains(id.as_str()), may, "{who} listing {what}");
            let (status, body) = get(
                &server.api,
                &format!("/v1/reports/{id}"),
                &[("Authorization", &auth)],
            );
            reads += 1;
            if may {
                served += 1;
                assert_eq!(status, 200, "{who} reads {what}");
                assert!(
                    body.starts_with(b"PAR1") && body.ends_with(b"PAR1"),
                    "{who}: {what} as Parquet"
                );
            } else {
                assert_eq!(status, 404, "{who} reads {what}");
                assert!(
                    !String::from_utf8_lossy(&body).contains(id.as_str()),
                    "no hint"
                );
            }
            // The page of every report (region and national ones included), by suffix and by
            // Accept.
            for (path, headers) in [
                (
                    format!("/v1/reports/{id}.html"),
                    vec![("Authorization", auth.as_str())],
                ),
                (
                    format!("/v1/reports/{id}"),
                    vec![("Authorization", auth.as_str()), ("Accept", "text/html")],
                ),
            ] {
                let (status, body) = get(&server.api, &path, &headers);
                reads += 1;
                if may {
                    served += 1;
                    assert_eq!(status, 200, "{who} reads the page of {what}");
                    assert!(String::from_utf8_lossy(&body).starts_with("<!DOCTYPE html>"));
                } else {
                    assert_eq!(status, 404, "{who} reads the page of {what} ({path})");
                }
            }
        }
    }
    // Without a valid token: 401 everywhere, whatever the resource.
    for auth in [
        None,
        Some("Bearer nonsense".to_owned()),
        Some(format!("Bearer {revoked}")),
    ] {
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        assert_eq!(get(&server.api, "/v1/reports", &headers).0, 401);
        for (what, id) in &resources {
            assert_eq!(
                get(&server.api, &format!("/v1/reports/{id}"), &headers).0,
                401,
                "{what}"
            );
        }
    }

    // Explanations: only the provider of a mirror report may attach one, to its own report.
    let has_mirror = |provider: &str, gemeente: &str| {
        files(&manifest).iter().any(|f| {
            f["kind"] == "mirror"
                && f["period"] == "2026-H1"
                && f["recipient"] == provider
                && f["municipality"] == gemeente
        })
    };
    let targets = [
        ("2026-H1", g.clone()),
        ("2026-H1", h.clone()),
        ("2026-H1", "GM0000".to_owned()),
        ("2099-H1", g.clone()),
    ];
    let may_annotate: [[bool; 4]; 5] = [
        [true, true, false, false],
        [true, has_mirror(&b, &h), false, false],
        [false; 4],
        [false; 4],
        [false; 4],
    ];
    let story = "<script>alert(1)</script> Wachtlijst & personeel";
    let mut annotated = 0;
    for (row, (who, bearer)) in principals.iter().enumerate() {
        let auth = format!("Bearer {bearer}");
        for (column, (period, gemeente)) in targets.iter().enumerate() {
            let path = format!("/v1/mirror/{period}/{gemeente}/annotation");
            let (status, _) = request(
                "POST",
                &server.api,
                &path,
                &[("Authorization", &auth)],
                story,
            );
            let expected = if may_annotate[row][column] { 200 } else { 404 };
            assert_eq!(status, expected, "{who} annotates {period} {gemeente}");
            annotated += usize::from(status == 200);
        }
        let path = format!("/v1/mirror/2026-H1/{g}/annotation");
        assert_eq!(request("POST", &server.api, &path, &[], story).0, 401);
    }
    let too_long = "x".repeat(4001);
    let path = format!("/v1/mirror/2026-H1/{g}/annotation");
    let auth_a = format!("Bearer {}", principals[0].1);
    let (status, body) = request(
        "POST",
        &server.api,
        &path,
        &[("Authorization", &auth_a)],
        &too_long,
    );
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));
    // The shared page shows the explanation at once, as text, to the municipality it was shared with.
    let auth_g = format!("Bearer {}", principals[2].1);
    let (status, page) = get(
        &server.api,
        &format!("/v1/reports/{}.html", resources[0].1),
        &[("Authorization", &auth_g)],
    );
    assert_eq!(status, 200);
    reads += 1;
    served += 1;
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; Wachtlijst &amp; personeel"));

    // Sharing: only the provider of a mirror report may ask to share it; the municipality reads it
    // once the request took effect (NB-4, docs/release-rules.md) and the release is published again
    // for it.
    let share = |bearer: &str, period: &str, gemeente: &str, shared: bool| {
        let (status, body) = request(
            "POST",
            &server.api,
            &format!("/v1/mirror/{period}/{gemeente}/share"),
            &[
                ("Authorization", &format!("Bearer {bearer}")),
                ("Content-Type", "application/json"),
            ],
            &json!({"shared": shared}).to_string(),
        );
        (
            status,
            serde_json::from_slice::<Value>(&body).unwrap_or_default(),
        )
    };
    let mut shared_ok = 0;
    let mut states = BTreeMap::new();
    for (row, (who, bearer)) in principals.iter().enumerate() {
        for (column, (period, gemeente)) in targets.iter().enumerate() {
            let expected = if may_annotate[row][column] { 200 } else { 404 };
            let (status, answer) = share(bearer, period, gemeente, true);
            assert_eq!(status, expected, "{who} shares {period} {gemeente}");
            if status == 200 {
                let state = answer["state"].as_str().unwrap().to_owned();
                assert!(state == "in_effect" || state == "pending", "{answer}");
                states.insert((row, column), state);
            }
            shared_ok += usize::from(expected == 200);
        }
    }
    let read = |bearer: &str, id: &str| {
        get(
            &server.api,
            &format!("/v1/reports/{id}"),
            &[("Authorization", &format!("Bearer {bearer}"))],
        )
        .0
    };
    let (bearer_a, bearer_g, bearer_h) = (&principals[0].1, &principals[2].1, &principals[3].1);
    // A was G's one sharing provider; with B too, G's other providers must still number 0 or
    // at least three (in the totals and in every cell G already read), else B's waits.
    let readable_if = |state: &str| if state == "in_effect" { 200 } else { 404 };
    let (b_in_g, a_in_h) = (readable_if(&states[&(1, 0)]), readable_if(&states[&(0, 1)]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let seen = (
            read(bearer_g, &resources[2].1),
            read(bearer_h, &resources[1].1),
        );
        reads += 2;
        served += usize::from(seen.0 == 200) + usize::from(seen.1 == 200);
        if seen == (b_in_g, a_in_h) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "G reads B's report as its share stands ({b_in_g}), H A's ({a_in_h})"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let pending = states.values().filter(|s| *s == "pending").count();
    eprintln!("shares asked: {}, pending: {pending}", states.len());
    assert_eq!(share(bearer_a, "2026-H1", &g, false).0, 200);
    shared_ok += 1;
    assert_eq!(read(bearer_g, &resources[0].1), 404, "unshared: gone for G");
    assert_eq!(read(bearer_a, &resources[0].1), 200, "still there for A");
    reads += 2;
    served += 1;
    let (status, _) = request(
        "POST",
        &server.api,
        &format!("/v1/mirror/2026-H1/{g}/share"),
        &[("Authorization", &format!("Bearer {bearer_a}"))],
        "yes please",
    );
    assert_eq!(status, 422);

    // Admin port: liveness, readiness, metrics.
    assert_eq!(get(&server.admin, "/livez", &[]).0, 200);
    assert_eq!(get(&server.admin, "/readyz", &[]).0, 200);
    let (_, metrics) = get(&server.admin, "/metrics", &[]);
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("spiegel_http_requests_total{route=\"/v1/reports/{id}\",status=\"404\"}"),
        "{metrics}"
    );
    assert_eq!(
        get(&server.api, "/livez", &[]).0,
        404,
        "admin routes only on the admin port"
    );
    drop(server);

    // One audit record per report read, by the right principal; the chain is intact; no
    // token is in it. Listings and refusals without credentials are recorded too, apart.
    let log = fs::read_to_string(data.join("audit-log.jsonl")).unwrap();
    let read_records: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| {
            r["action"] == "report_read"
                && r["object"] != "reports"
                && r["actor"] != "system:anonymous"
        })
        .collect();
    let all: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .collect();
    let listings = all
        .iter()
        .filter(|r| r["action"] == "report_read" && r["object"] == "reports")
        .count();
    assert!(listings >= principals.len(), "every listing is recorded");
    assert!(
        all.iter()
            .any(|r| r["actor"] == "system:anonymous" && r["outcome"] == "denied"),
        "every 401 is recorded"
    );
    assert_eq!(read_records.len(), reads);
    for (_, bearer) in &principals {
        assert!(!log.contains(bearer.rsplit('_').next().unwrap()));
    }
    let annotation_successes = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["action"] == "annotation" && r["outcome"] == "success")
        .count();
    assert_eq!(annotation_successes, annotated);
    let share_successes = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["action"] == "share" && r["outcome"] == "success")
        .count();
    assert_eq!(share_successes, shared_ok);
    let outcome = |o: &str| read_records.iter().filter(|r| r["outcome"] == o).count();
    assert_eq!(
        outcome("success"),
        served,
        "a record of success for each report served"
    );
    assert!(outcome("denied") > 0 && outcome("rejected") > 0);
    let verified = spiegel(&["audit", "verify", "--data-dir", p(&data), "--by", "auditor"]);
    assert!(String::from_utf8_lossy(&verified.stdout).contains("intact"));
}

/// schemathesis (`st`, installed by scripts/test.sh beside `SPIEGEL_PYTHON`).
fn schemathesis() -> std::path::PathBuf {
    let python = std::env::var("SPIEGEL_PYTHON").expect(
        "SPIEGEL_PYTHON is not set: run the suite with scripts/test.sh, which installs \
         schemathesis",
    );
    Path::new(&python).with_file_name("st")
}

#[test]
fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let dir = tempfile::tempdir().unwrap();
    let (reports, data, manifest) = common::released(dir.path(), 3000, 3, 3);
    let provider = files(&manifest)
        .iter()
        .find(|f| f["kind"] == "mirror")
        .unwrap()["recipient"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = Server::start(&reports, &data);
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let document = schemas.join("openapi.yaml");
    for principal in [["--provider", provider.as_str()], ["--gemeente", "GM0363"]] {
        let bearer = token(&data, principal, "setup");
        let output = Command::new(schemathesis())
            .arg("--config-file")
            .arg(schemas.join("schemathesis.toml"))
            .args(["run", p(&document), "--url"])
            .arg(format!("http://{}", server.api))
            .args(["--header"])
            .arg(format!("Authorization: Bearer {bearer}"))
            .args([
                "--checks",
                "all",
                "--max-examples",
                "40",
                "--generation-deterministic",
                "--no-color",
            ])
            .env("SCHEMATHESIS_HOOKS", "")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "schemathesis as {principal:?} found problems:\n{said}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The other endpoints (upload, submission status, feed, webhooks), every principal kind
/// against its own and another tenant's resources, enumerated: only the allowed combinations
/// succeed, the rest are 404, and 401 without a token.
#[test]
fn every_principal_uses_exactly_its_own_submissions_feed_and_webhooks() {
    use common::server::{Answer, call};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (reports, data, manifest) = common::released(root, 3000, 2, 5);
    let input = root.join("input");
    let mut submitted: Vec<std::path::PathBuf> = fs::read_dir(&input)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    submitted.sort();
    let agb = |file: &Path| -> String {
        let name = file.file_name().unwrap().to_string_lossy();
        name.split('_').next().unwrap().to_owned()
    };
    let (a, b) = (agb(&submitted[0]), agb(&submitted[1]));
    let of_a: BTreeSet<&str> = files(&manifest)
        .iter()
        .filter(|f| f["kind"] == "mirror" && f["recipient"] == a.as_str())
        .filter_map(|f| f["municipality"].as_str())
        .collect();
    let g = of_a.iter().next().unwrap().to_string();
    let h = spiegel_core::Reference::embedded()
        .gemeenten()
        .iter()
        .map(|m| m.code.to_string())
        .find(|m| !of_a.contains(m.as_str()))
        .unwrap();
    let server = Server::start(&reports, &data);
    let principals: Vec<(&str, Option<String>)> = vec![
        (
            "provider A",
            Some(token(&data, ["--provider", &a], "setup")),
        ),
        (
            "provider B",
            Some(token(&data, ["--provider", &b], "setup")),
        ),
        (
            "gemeente G",
            Some(token(&data, ["--gemeente", &g], "setup")),
        ),
        (
            "gemeente H",
            Some(token(&data, ["--gemeente", &h], "setup")),
        ),
        (
            "operator",
            Some(token(&data, ["--operator", "ops"], "setup")),
        ),
        ("no token", None),
    ];
    let bearer = |name: &str| -> String {
        let token = principals
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap()
            .1
            .clone();
        format!("Bearer {}", token.unwrap())
    };
    let ask = |who: &Option<String>, method: &str, path: &str, body: &[u8], kind: &str| -> Answer {
        let authorization = who.as_ref().map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", kind)];
        if let Some(authorization) = &authorization {
            headers.push(("Authorization", authorization.as_str()));
        }
        call(&server.api, method, path, &headers, body)
    };
    // Each provider's own submission (the file `spiegel run` applied: the same id again).
    let submission = |provider: &str, file: &Path| -> String {
        let answer = ask(
            &Some(bearer(provider)["Bearer ".len()..].to_owned()),
            "POST",
            "/v1/submissions?period=2026-H1",
            &fs::read(file).unwrap(),
            "text/csv",
        );
        assert_eq!(answer.status, 202);
        answer.json()["id"].as_str().unwrap().to_owned()
    };
    let (sub_a, sub_b) = (
        submission("provider A", &submitted[0]),
        submission("provider B", &submitted[1]),
    );
    // Each recipient's own webhook, registered before the matrix (the matrix registers more).
    let mut hooks = BTreeMap::new();
    for name in ["provider A", "gemeente G"] {
        let answer = ask(
            &Some(bearer(name)["Bearer ".len()..].to_owned()),
            "POST",
            "/v1/webhooks",
            br#"{"url": "http://127.0.0.1:9/hook"}"#,
            "application/json",
        );
        assert_eq!(answer.status, 201);
        hooks.insert(name, answer.json()["id"].as_str().unwrap().to_owned());
    }

    // The deletions come last: the matrix's other rows use the webhooks they remove.
    let hook_a = format!("/v1/webhooks/{}", hooks["provider A"]);
    let hook_g = format!("/v1/webhooks/{}", hooks["gemeente G"]);
    /// A resource, method, path, body, content type, the principals for whom it succeeds,
    /// and with which status.
    type Row<'a> = (
        &'a str,
        &'a str,
        String,
        &'a [u8],
        &'a str,
        Vec<&'a str>,
        u16,
    );
    let rows: Vec<Row<'_>> = vec![
        (
            "upload (a file validation rejects)",
            "POST",
            "/v1/submissions?period=2026-H1".into(),
            b"x,y\n1,2\n",
            "text/csv",
            vec!["provider A", "provider B"],
            422,
        ),
        (
            "A's submission",
            "GET",
            format!("/v1/submissions/{sub_a}"),
            b"",
            "text/plain",
            vec!["provider A"],
            200,
        ),
        (
            "B's submission",
            "GET",
            format!("/v1/submissions/{sub_b}"),
            b"",
            "text/plain",
            vec!["provider B"],
            200,
        ),
        (
            "no such submission",
            "GET",
            "/v1/submissions/0123456789abcdef0123456789abcdef".into(),
            b"",
            "text/plain",
            vec![],
            200,
        ),
        (
            "the caller's feed",
            "GET",
            "/v1/feed".into(),
            b"",
            "text/plain",
            vec!["provider A", "provider B", "gemeente G", "gemeente H"],
            200,
        ),
        (
            "a new webhook",
            "POST",
            "/v1/webhooks".into(),
            br#"{"url": "http://127.0.0.1:9/other"}"#,
            "application/json",
            vec!["provider A", "provider B", "gemeente G", "gemeente H"],
            201,
        ),
        (
            "the caller's webhooks",
            "GET",
            "/v1/webhooks".into(),
            b"",
            "text/plain",
            vec![
                "provider A",
                "provider B",
                "gemeente G",
                "gemeente H",
                "operator",
            ],
            200,
        ),
        (
            "A's webhook",
            "DELETE",
            hook_a.clone(),
            b"",
            "text/plain",
            vec!["provider A"],
            204,
        ),
        (
            "G's webhook",
            "DELETE",
            hook_g.clone(),
            b"",
            "text/plain",
            vec!["gemeente G"],
            204,
        ),
    ];
    let mut seen = Vec::new();
    let mut expected = Vec::new();
    for (resource, method, path, body, kind, allowed, success) in &rows {
        // The owner last, so that a deletion is tried by everyone else first.
        let mut order: Vec<&(&str, Option<String>)> = principals.iter().collect();
        order.sort_by_key(|(name, _)| allowed.contains(name));
        for (name, who) in order {
            let answer = ask(who, method, path, body, kind);
            seen.push((*resource, *name, answer.status));
            let status = match who {
                None => 401,
                Some(_) if allowed.contains(name) => *success,
                Some(_) => 404,
            };
            expected.push((*resource, *name, status));
            if answer.status == 200 && *path == "/v1/webhooks" {
                // Only one's own subscriptions, never a secret.
                let listed = answer.json();
                let own = match *name {
                    "provider A" | "gemeente G" => 2,
                    "operator" => 0,
                    _ => 1,
                };
                assert_eq!(
                    listed["webhooks"].as_array().unwrap().len(),
                    own,
                    "{name}: {listed}"
                );
                assert!(!listed.to_string().contains("whsec_"));
            }
            if answer.status == 200 && *path == "/v1/feed" {
                // Every report in the feed is one the caller may read.
                let readable: BTreeSet<String> = ask(who, "GET", "/v1/reports", b"", "text/plain")
                    .json()["reports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["id"].as_str().unwrap().to_owned())
                    .collect();
                let fed: BTreeSet<String> = answer.json()["entries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|e| e["reports"].as_array().unwrap().clone())
                    .map(|r| r["id"].as_str().unwrap().to_owned())
                    .collect();
                assert!(!fed.is_empty(), "{name}");
                assert!(
                    fed.is_subset(&readable),
                    "{name}: {fed:?} not in {readable:?}"
                );
            }
        }
    }
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected);
    assert_eq!(seen.len(), rows.len() * principals.len());
}

#[test]
fn a_data_directory_is_driven_by_one_process_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let (data, reports, input, out) = (
        dir.path().join("data"),
        dir.path().join("reports"),
        dir.path().join("input"),
        dir.path().join("out"),
    );
    generate(&input, 300, 2, 3, "2025-H2");
    let mut server = Server::start(&reports, &data);
    let refused = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_spiegel"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?} was not refused");
        let said = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            said.contains(&format!(
                "in use by another spiegel process (process {})",
                server.child.id()
            )),
            "{said}"
        );
    };
    let keys = data.join("keys");
    let key_before = fs::read(keys.join("stage2.key")).unwrap();
    let run = [
        "run",
        "--input",
        p(&input),
        "--out",
        p(&out),
        "--data-dir",
        p(&data),
    ];
    refused(&run);
    refused(&["keys", "rotate", "--data-dir", p(&data)]);
    // The rotation was refused whole: the key in force is untouched.
    assert_eq!(fs::read(keys.join("stage2.key")).unwrap(), key_before);
    // Token commands share the directory with the server (their files are locked per write).
    spiegel(&["tokens", "list", "--data-dir", p(&data)]);
    let _ = server.child.kill();
    let _ = server.child.wait();
    spiegel(&run);
    spiegel(&["keys", "rotate", "--data-dir", p(&data)]);
}
