//! `spiegel serve`: who may read which report. The tenant-isolation matrix enumerates every
//! principal kind against its own and other tenants' reports, on every report route, over real
//! HTTP on loopback; the audit log records each read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

mod common;
use common::{generate, p, spiegel, token};

struct Server {
    child: Child,
    api: String,
    admin: String,
}

impl Server {
    fn start(reports: &Path, data: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_spiegel"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--reports",
                p(reports),
                "--data-dir",
                p(data),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "listening on http://127.0.0.1:P (admin http://127.0.0.1:Q)"
        let addresses: Vec<String> = line
            .split("http://")
            .skip(1)
            .map(|a| {
                a.trim_end_matches([')', '\n', ' '])
                    .split(' ')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(addresses.len(), 2, "{line}");
        Self {
            child,
            api: addresses[0].clone(),
            admin: addresses[1].clone(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET over plain HTTP/1.1: status and body.
fn get(address: &str, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<u8>) {
    request("GET", address, path, headers, "")
}

/// A request over plain HTTP/1.1: status and body.
fn request(
    method: &str,
    address: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(address).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let end = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..end]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = response[end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 2 + size + 2..];
    }
}

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
    generate(&input, 8000, 4, 5, "2025-H2,2026-H1");
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
            let b = mirrors
                .iter()
                .find(|m| m["municipality"] == g && m["recipient"] != a)?["recipient"]
                .as_str()?;
            Some((a.to_owned(), g.to_owned(), h.to_owned(), b.to_owned()))
        })
        .expect("a provider in two gemeenten of different regions, sharing one with another");
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
            // The page of a mirror or municipality report, by suffix and by Accept.
            let page = id.starts_with("mirror.") || id.starts_with("municipality.");
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
                if may && page {
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

    // Sharing: only the provider of a mirror report may share it, and the municipality reads it
    // from then on (and no longer once it is unshared).
    let share = |bearer: &str, period: &str, gemeente: &str, shared: bool| {
        request(
            "POST",
            &server.api,
            &format!("/v1/mirror/{period}/{gemeente}/share"),
            &[
                ("Authorization", &format!("Bearer {bearer}")),
                ("Content-Type", "application/json"),
            ],
            &json!({"shared": shared}).to_string(),
        )
        .0
    };
    let mut shared_ok = 0;
    for (row, (who, bearer)) in principals.iter().enumerate() {
        for (column, (period, gemeente)) in targets.iter().enumerate() {
            let expected = if may_annotate[row][column] { 200 } else { 404 };
            assert_eq!(
                share(bearer, period, gemeente, true),
                expected,
                "{who} shares {period} {gemeente}"
            );
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
    assert_eq!(
        read(bearer_g, &resources[2].1),
        200,
        "G reads B's report B shared"
    );
    assert_eq!(
        read(bearer_h, &resources[1].1),
        200,
        "H reads A's report A shared"
    );
    assert_eq!(share(bearer_a, "2026-H1", &g, false), 200);
    shared_ok += 1;
    assert_eq!(read(bearer_g, &resources[0].1), 404, "unshared: gone for G");
    assert_eq!(read(bearer_a, &resources[0].1), 200, "still there for A");
    reads += 4;
    served += 3;
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
        metrics.contains("spiegel_http_requests_total{route=\"report\",status=\"404\"}"),
        "{metrics}"
    );
    assert_eq!(
        get(&server.api, "/livez", &[]).0,
        404,
        "admin routes only on the admin port"
    );
    drop(server);

    // One audit record per report read, by the right principal; the chain is intact; no
    // token is in it.
    let log = fs::read_to_string(data.join("audit-log.jsonl")).unwrap();
    let read_records: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["action"] == "report_read")
        .collect();
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
    let root = dir.path();
    let input = root.join("input");
    generate(&input, 3000, 3, 3, "2026-H1");
    let reports = root.join("reports");
    let data = root.join("data");
    spiegel(&[
        "run",
        "--input",
        p(&input),
        "--out",
        p(&reports),
        "--data-dir",
        p(&data),
    ]);
    let manifest: Value =
        serde_json::from_slice(&fs::read(reports.join("manifest.json")).unwrap()).unwrap();
    let provider = files(&manifest)
        .iter()
        .find(|f| f["kind"] == "mirror")
        .unwrap()["recipient"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = Server::start(&reports, &data);
    let document = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/openapi.yaml");
    for principal in [["--provider", provider.as_str()], ["--gemeente", "GM0363"]] {
        let bearer = token(&data, principal, "setup");
        let output = Command::new(schemathesis())
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
