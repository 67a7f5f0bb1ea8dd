//! The `spiegel` command as providers and operators use it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;

fn spiegel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spiegel"))
        .args(args)
        .env("SPIEGEL_LOG", "trace")
        .output()
        .expect("spiegel runs")
}

/// `spiegel prepare` with a source key, optionally printing the receipt as JSON.
fn prepare(key: &Path, input: &Path, output: &Path, json: bool) -> Output {
    let mut args = vec!["prepare", "--source-key", key.to_str().unwrap()];
    if json {
        args.push("--json");
    }
    args.extend([input.to_str().unwrap(), output.to_str().unwrap()]);
    spiegel(&args)
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn files_in(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            )
        })
        .collect()
}

fn receipts(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn generated_submissions_pass_validation_with_the_requested_count() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gen");
    let generated = spiegel(&[
        "generate",
        "--out",
        out.to_str().unwrap(),
        "--records",
        "30000",
        "--seed",
        "7",
    ]);
    assert!(generated.status.success(), "{}", text(&generated));
    let files = files_in(&out);
    assert!(
        files.len() > 20,
        "one file per provider and period: {}",
        files.len()
    );
    for name in files.keys() {
        assert!(
            spiegel_ingest::SubmissionMeta::from_file_name(name).is_ok(),
            "{name}"
        );
    }
    let validated = spiegel(&["validate", "--json", out.to_str().unwrap()]);
    assert_eq!(validated.status.code(), Some(0), "{}", text(&validated));
    let receipts = receipts(&validated);
    assert_eq!(receipts.len(), files.len());
    let mut rows = 0;
    for receipt in &receipts {
        assert_eq!(receipt["status"], "accepted");
        assert_eq!(
            receipt["issues"],
            serde_json::json!([]),
            "zero findings in generated data"
        );
        assert_eq!(receipt["counts"]["rows"], receipt["counts"]["accepted"]);
        rows += receipt["counts"]["rows"].as_u64().unwrap();
    }
    assert_eq!(rows, 30_000);
    let summary = String::from_utf8_lossy(&generated.stdout);
    assert!(summary.contains("342 gemeenten"), "{summary}");
}

#[test]
fn generation_is_deterministic_for_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        let output = spiegel(&[
            "generate",
            "--out",
            out.to_str().unwrap(),
            "--records",
            "5000",
            "--seed",
            seed,
            "--semicolon",
        ]);
        assert!(output.status.success(), "{}", text(&output));
        files_in(&out)
    };
    let first = run("a", "3");
    assert_eq!(first, run("b", "3"));
    assert_ne!(first, run("c", "4"));
    // The semicolon variant is what Dutch spreadsheets write, and it validates too.
    let validated = spiegel(&["validate", "--json", dir.path().join("a").to_str().unwrap()]);
    assert_eq!(validated.status.code(), Some(0), "{}", text(&validated));
}

/// Valid BSNs other than the canary, for filler rows.
fn filler_bsns(n: usize) -> Vec<String> {
    (10_000_000u32..)
        .filter_map(|prefix| {
            let digits: Vec<u32> = format!("{prefix:08}")
                .bytes()
                .map(|b| u32::from(b - b'0'))
                .collect();
            let sum: u32 = digits.iter().zip((2..=9).rev()).map(|(d, w)| d * w).sum();
            (sum % 11 < 10).then(|| format!("{prefix:08}{}", sum % 11))
        })
        .take(n)
        .collect()
}

const HEADER: &str = "bsn,geboortedatum,geslacht,gemeentecode,postcode,verwijzer,hulpvorm,gestart_met_crisis,datum_aanvang,datum_einde,reden_beeindiging";

fn row(bsn: &str) -> String {
    format!("{bsn},20120315,V,GM0363,1011AB,02,02,02,20260110,20260520,01")
}

const CANARY_BSN: &str = "012345672";

fn canary_key_bytes() -> [u8; 32] {
    std::array::from_fn(|i| 0xA5 ^ (i as u8).wrapping_mul(29))
}

fn write_key(path: &Path, stage: u8, secret: [u8; 32]) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(secret);
    std::fs::write(
        path,
        format!("spiegel-key v1\nstage={stage}\nversion=1\nttp=spiegel\nsecret={encoded}\n"),
    )
    .unwrap();
}

/// Every way the key or the BSN could be spelled in an output.
fn forbidden_spellings() -> Vec<String> {
    let key = canary_key_bytes();
    let b64 = base64::engine::general_purpose::STANDARD.encode(key);
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key);
    let decimal = |sep: &str| {
        key[..8]
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(sep)
    };
    vec![
        CANARY_BSN.to_owned(),
        CANARY_BSN[1..].to_owned(),
        hex::encode(key)[..16].to_owned(),
        hex::encode_upper(key)[..16].to_owned(),
        b64[..16].to_owned(),
        b64url[..16].to_owned(),
        decimal(", "),
        decimal(" "),
        decimal(","),
        u64::from_be_bytes(key[..8].try_into().unwrap()).to_string(),
        u64::from_le_bytes(key[..8].try_into().unwrap()).to_string(),
    ]
}

#[test]
fn no_canary_bsn_or_key_in_any_output_of_validate_and_prepare() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("stage1.key");
    write_key(&key_path, 1, canary_key_bytes());
    let input = dir.path().join("12345678_2026-H1.csv");
    let mut lines = vec![HEADER.to_owned(), row(CANARY_BSN)];
    lines.extend(filler_bsns(38).iter().map(|b| row(b)));
    // The canary in the wrong column, in a spreadsheet's 8-digit form and as a duplicate.
    lines.push(format!(
        "111222333,20120315,V,GM0363,,{CANARY_BSN},02,02,20260110,20260520,01"
    ));
    lines.push(row(&CANARY_BSN[1..]));
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();

    let validated = spiegel(&["validate", "--json", input.to_str().unwrap()]);
    assert_eq!(validated.status.code(), Some(0), "{}", text(&validated));
    let receipt = &receipts(&validated)[0];
    let codes: Vec<&str> = receipt["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"CODE_INVALID") && codes.contains(&"RECORD_MERGED"),
        "{codes:?}"
    );

    let output = dir.path().join("prepared.csv");
    let prepared = prepare(&key_path, &input, &output, true);
    assert_eq!(prepared.status.code(), Some(0), "{}", text(&prepared));
    let prepared_file = std::fs::read_to_string(&output).unwrap();

    // The token of the canary belongs in the prepared file and nowhere else.
    let token_line = prepared_file.lines().nth(1).unwrap();
    let token = token_line.split(',').nth(1).unwrap().to_owned();
    assert!(token.starts_with("ct.spiegel.1."), "{token_line}");

    let logs_and_receipts = format!("{}\n{}", text(&validated), text(&prepared));
    assert!(
        logs_and_receipts.contains("TRACE") || logs_and_receipts.contains("INFO"),
        "logging was on"
    );
    for spelling in forbidden_spellings() {
        assert!(
            !logs_and_receipts.contains(&spelling),
            "found {spelling:?} in output"
        );
        assert!(
            !prepared_file.contains(&spelling),
            "found {spelling:?} in the prepared file"
        );
    }
    assert!(
        !logs_and_receipts.contains(&token),
        "a client token in logs or receipt"
    );
    assert!(
        !logs_and_receipts.contains(&token[13..]),
        "a token's MAC in logs or receipt"
    );
}

#[test]
fn prepare_replaces_bsns_by_stable_tokens_and_drops_the_postcode() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("stage1.key");
    write_key(&key_path, 1, [7; 32]);
    let other_key = dir.path().join("other.key");
    write_key(&other_key, 1, [8; 32]);
    let input = dir.path().join("12345678_2026-H1.csv");
    let mut lines = vec![HEADER.to_owned(), row("999999999")];
    lines.extend(filler_bsns(20).iter().map(|b| row(b)));
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();

    let prepare_to = |key: &Path, name: &str| -> PathBuf {
        let out = dir.path().join(name);
        let run = prepare(key, &input, &out, false);
        assert_eq!(run.status.code(), Some(0), "{}", text(&run));
        out
    };
    let first = std::fs::read(prepare_to(&key_path, "12345678_2026-H1.first.csv")).unwrap();
    let second = std::fs::read(prepare_to(&key_path, "12345678_2026-H1.second.csv")).unwrap();
    assert_eq!(first, second, "stage 1 is stable across processes");
    let other = std::fs::read(prepare_to(&other_key, "12345678_2026-H1.other.csv")).unwrap();
    assert_ne!(first, other, "another key gives other tokens");

    let prepared = String::from_utf8(first).unwrap();
    assert!(!prepared.contains("1011AB"), "postcode dropped");
    for bsn in filler_bsns(20) {
        assert!(!prepared.contains(&bsn));
    }
    assert!(
        prepared.lines().nth(1).unwrap().starts_with("999999999,,"),
        "placeholders stay in bsn"
    );
    assert_eq!(
        prepared
            .lines()
            .filter(|l| l.contains(",ct.spiegel.1."))
            .count(),
        20
    );

    // The prepared file is itself a valid submission; it holds no BSN, so no key is needed.
    let prepared_path = dir.path().join("12345678_2026-H1.csv");
    std::fs::write(&prepared_path, &prepared).unwrap();
    let validated = spiegel(&["validate", "--json", prepared_path.to_str().unwrap()]);
    assert_eq!(validated.status.code(), Some(0), "{}", text(&validated));
    assert_eq!(receipts(&validated)[0]["counts"]["accepted"], 21);
}

#[test]
fn prepare_writes_nothing_for_a_rejected_submission() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("stage1.key");
    write_key(&key_path, 1, [7; 32]);
    let input = dir.path().join("12345678_2026-H1.csv");
    std::fs::write(&input, format!("{HEADER}\n{}\n", row("123456789"))).unwrap();
    let out = dir.path().join("out.csv");
    let run = prepare(&key_path, &input, &out, false);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    assert!(!out.exists());
}

#[test]
fn keys_generate_writes_private_files_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let run = spiegel(&["keys", "generate", "--out", keys.to_str().unwrap()]);
    assert!(run.status.success(), "{}", text(&run));
    for name in ["stage1.key", "stage2.key"] {
        let mode = std::fs::metadata(keys.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{name}");
        let secret = std::fs::read_to_string(keys.join(name)).unwrap();
        let secret = secret
            .lines()
            .find_map(|l| l.strip_prefix("secret="))
            .unwrap();
        assert!(!text(&run).contains(secret), "the key is not printed");
    }
    assert_eq!(
        std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let again = spiegel(&["keys", "generate", "--out", keys.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again).contains("refusing to overwrite"),
        "{}",
        text(&again)
    );
    // A stage-2 key is refused where a stage-1 key is needed.
    let input = dir.path().join("12345678_2026-H1.csv");
    std::fs::write(&input, format!("{HEADER}\n{}\n", row("123456782"))).unwrap();
    let wrong = prepare(
        &keys.join("stage2.key"),
        &input,
        &dir.path().join("o.csv"),
        false,
    );
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        text(&wrong).contains("stage-1 key is needed"),
        "{}",
        text(&wrong)
    );
}

#[test]
fn validate_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("12345678_2026-H1.csv");
    std::fs::write(&good, format!("{HEADER}\n{}\n", row("123456782"))).unwrap();
    let bad = dir.path().join("12345678_2026-H2.csv");
    std::fs::write(&bad, format!("{HEADER}\n{}\n", row("123456789"))).unwrap();
    assert_eq!(
        spiegel(&["validate", good.to_str().unwrap()]).status.code(),
        Some(0)
    );
    let rejected = spiegel(&["validate", good.to_str().unwrap(), bad.to_str().unwrap()]);
    assert_eq!(rejected.status.code(), Some(1));
    assert!(text(&rejected).contains("BSN_ELFPROEF"));
    assert_eq!(spiegel(&["validate"]).status.code(), Some(2));
    let unnamed = dir.path().join("levering.csv");
    std::fs::copy(&good, &unnamed).unwrap();
    assert_eq!(
        spiegel(&["validate", unnamed.to_str().unwrap()])
            .status
            .code(),
        Some(2)
    );
    let named = spiegel(&[
        "validate",
        "--provider",
        "12345678",
        "--period",
        "2026-H1",
        unnamed.to_str().unwrap(),
    ]);
    assert_eq!(named.status.code(), Some(0), "{}", text(&named));
}

/// An input directory with one good submission, one rejected for its content, two misnamed
/// files and an upload still being written under a hidden name.
fn folder_with_misnamed_files(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let good = format!("{HEADER}\n{}\n", row("123456782"));
    std::fs::write(dir.join("12345678_2026-H1.csv"), &good).unwrap();
    std::fs::write(
        dir.join("23456789_2026-H1.csv"),
        format!("{HEADER}\n{}\n", row("123456789")),
    )
    .unwrap();
    std::fs::write(dir.join("12345678_2026-H9.csv"), &good).unwrap();
    std::fs::write(dir.join("levering.txt"), &good).unwrap();
    std::fs::write(dir.join(".12345678_2026-H2.csv.part"), &good).unwrap();
    // Named after a child: rejected like any misnamed file, the number never repeated.
    std::fs::write(dir.join(format!("{CANARY_BSN}.csv")), &good).unwrap();
}

#[test]
fn validate_json_of_a_folder_gives_a_receipt_for_every_file_and_the_worst_status() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("submissions");
    folder_with_misnamed_files(&folder);
    let validated = spiegel(&["validate", "--json", folder.to_str().unwrap()]);
    assert_eq!(validated.status.code(), Some(1), "{}", text(&validated));
    let receipts = receipts(&validated);
    let by_file: BTreeMap<String, &serde_json::Value> = receipts
        .iter()
        .map(|r| (r["file"].as_str().unwrap().to_owned(), r))
        .collect();
    assert_eq!(
        by_file.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "#########.csv",
            "12345678_2026-H1.csv",
            "12345678_2026-H9.csv",
            "23456789_2026-H1.csv",
            "levering.txt"
        ],
        "one receipt per file, the upload in progress left alone"
    );
    assert_eq!(by_file["12345678_2026-H1.csv"]["status"], "accepted");
    assert_eq!(
        by_file["23456789_2026-H1.csv"]["issue_counts"]["BSN_ELFPROEF"],
        1
    );
    assert!(!text(&validated).contains(CANARY_BSN));
    for misnamed in ["12345678_2026-H9.csv", "levering.txt", "#########.csv"] {
        let receipt = by_file[misnamed];
        assert_eq!(receipt["status"], "rejected", "{misnamed}");
        assert_eq!(receipt["rejection"]["code"], "FILE_NAME_INVALID");
    }
    let period = by_file["12345678_2026-H9.csv"]["rejection"]["message_nl"]
        .as_str()
        .unwrap();
    assert!(period.contains("JJJJ-H1"), "{period}");
    let extension = by_file["levering.txt"]["rejection"]["message_en"]
        .as_str()
        .unwrap();
    assert!(
        extension.contains(".csv, .jsonl or .parquet"),
        "{extension}"
    );

    // Only accepted files: 0.
    let clean = dir.path().join("clean");
    std::fs::create_dir(&clean).unwrap();
    std::fs::copy(
        folder.join("12345678_2026-H1.csv"),
        clean.join("12345678_2026-H1.csv"),
    )
    .unwrap();
    std::fs::copy(
        folder.join(".12345678_2026-H2.csv.part"),
        clean.join(".12345678_2026-H2.csv.part"),
    )
    .unwrap();
    let validated = spiegel(&["validate", "--json", clean.to_str().unwrap()]);
    assert_eq!(validated.status.code(), Some(0), "{}", text(&validated));
}

#[test]
fn a_misnamed_file_in_a_run_input_gets_a_receipt_and_counts_as_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    folder_with_misnamed_files(&input);
    let data = dir.path().join("data");
    let out = dir.path().join("reports");
    let run = spiegel(&[
        "run",
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let said = text(&run);
    // Exit code 1: a file was rejected (docs/operations.md, `spiegel run --help`).
    assert_eq!(run.status.code(), Some(1), "{said}");
    let summary = String::from_utf8_lossy(&run.stdout);
    assert!(
        summary.contains("1 submissions applied, 0 unchanged, 4 rejected"),
        "{summary}"
    );
    let receipts = String::from_utf8_lossy(&run.stderr);
    assert!(
        !said.contains(CANARY_BSN),
        "the run repeats a file name holding a BSN"
    );
    for misnamed in ["12345678_2026-H9.csv", "levering.txt", "#########.csv"] {
        let receipt = receipts
            .split(&format!("{}: ", input.join(misnamed).display()))
            .nth(1)
            .unwrap_or_else(|| panic!("no receipt for {misnamed}: {receipts}"));
        assert!(
            receipt.contains("AFGEWEZEN / REJECTED") && receipt.contains("FILE_NAME_INVALID"),
            "{misnamed}: {receipt}"
        );
    }
    assert!(
        !receipts.contains(".12345678_2026-H2.csv.part"),
        "{receipts}"
    );
}

#[test]
fn prepare_writes_every_encoding_and_each_validates_again() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("stage1.key");
    write_key(&key_path, 1, [9; 32]);
    let input = dir.path().join("12345678_2026-H1.csv");
    let mut lines = vec![
        HEADER.to_owned(),
        row("000000000").replace("20120315", "20260301"),
    ];
    lines.extend(filler_bsns(30).iter().map(|b| row(b)));
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    for format in ["csv", "jsonl", "parquet"] {
        let out_dir = dir.path().join(format);
        std::fs::create_dir(&out_dir).unwrap();
        let out = out_dir.join(format!("12345678_2026-H1.{format}"));
        let run = prepare(&key_path, &input, &out, false);
        assert_eq!(run.status.code(), Some(0), "{format}: {}", text(&run));
        let validated = spiegel(&["validate", "--json", out.to_str().unwrap()]);
        assert_eq!(
            validated.status.code(),
            Some(0),
            "{format}: {}",
            text(&validated)
        );
        let receipt = &receipts(&validated)[0];
        assert_eq!(receipt["counts"]["accepted"], 31, "{format}");
        assert_eq!(receipt["issues"], serde_json::json!([]), "{format}");
    }
}

/// `spiegel config show` with `env` set and the configuration file `config`.
fn config_show(config: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spiegel"))
        .args(["config", "show", "--config", config.to_str().unwrap()])
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[cfg(feature = "kafka")]
#[test]
fn config_show_layers_defaults_file_and_environment_and_masks_every_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("spiegel.json");
    std::fs::write(
        &file,
        serde_json::json!({
            "publish": {"threshold": 11, "rate_threshold": 30},
            "kafka": {"properties": {
                "security.protocol": "SASL_SSL",
                "sasl.password": "CANARY-sasl",
                "ssl.key.password": "CANARY-ssl-key",
                "ssl.keystore.password": "CANARY-keystore",
                "ssl.key.pem": "CANARY-pem",
                "sasl.oauthbearer.client.secret": "CANARY-oauth",
                "sasl.jaas.config": "CANARY-jaas",
            }},
        })
        .to_string(),
    )
    .unwrap();
    let output = config_show(
        &file,
        &[
            ("SPIEGEL__PUBLISH__THRESHOLD", "12"),
            ("SPIEGEL_KAFKA_SASL_PASSWORD", "CANARY-env"),
            ("SPIEGEL_KAFKA_BROKERS", "kafka-0:9093"),
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    let printed = text(&output);
    assert!(!printed.contains("CANARY"), "a secret is shown:\n{printed}");
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // The environment over the file over the built-in defaults.
    assert_eq!(shown["publish"]["threshold"], 12);
    assert_eq!(shown["publish"]["rate_threshold"], 30);
    assert_eq!(shown["publish"]["min_contributors"], 3);
    assert_eq!(shown["kafka"]["brokers"], "kafka-0:9093");
    let properties = &shown["kafka"]["properties"];
    assert_eq!(properties["security.protocol"], "SASL_SSL");
    for secret in [
        "ssl.key.password",
        "ssl.keystore.password",
        "ssl.key.pem",
        "sasl.oauthbearer.client.secret",
        "sasl.jaas.config",
    ] {
        assert_eq!(properties[secret], "********", "{secret}");
    }
    assert_eq!(
        properties["sasl.password"],
        "******** (SPIEGEL_KAFKA_SASL_PASSWORD)"
    );

    // TOML by its extension.
    let toml = dir.path().join("spiegel.toml");
    std::fs::write(&toml, "[publish]\nthreshold = 13\n").unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&config_show(&toml, &[]).stdout).unwrap();
    assert_eq!(shown["publish"]["threshold"], 13);
}

#[test]
fn an_unknown_configuration_key_stops_every_command_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("spiegel.json");
    std::fs::write(&file, r#"{"publish": {"treshold": 12}}"#).unwrap();
    let output = config_show(&file, &[]);
    assert!(!output.status.success());
    let said = text(&output);
    assert!(
        said.contains("treshold") && said.contains("spiegel.json"),
        "{said}"
    );

    std::fs::write(&file, "{}").unwrap();
    let output = config_show(&file, &[("SPIEGEL__PUBLSH__THRESHOLD", "12")]);
    assert!(!output.status.success());
    let said = text(&output);
    assert!(
        said.contains("publsh") && said.contains("SPIEGEL__"),
        "{said}"
    );

    // Not only `config show`: a pipeline refuses to start on it.
    let output = Command::new(env!("CARGO_BIN_EXE_spiegel"))
        .args(["run", "--input", dir.path().to_str().unwrap(), "--out"])
        .arg(dir.path().join("out"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("SPIEGEL__PUBLISH__TRESHOLD", "12")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(text(&output).contains("treshold"), "{}", text(&output));
    // A threshold below what docs/release-rules.md allows is refused too, wherever it was set.
    let output = config_show(&file, &[("SPIEGEL__PUBLISH__THRESHOLD", "3")]);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("below the minimum of 5"),
        "{}",
        text(&output)
    );
}

/// Every file and directory under `dir` with its size, as paths relative to it.
fn listing(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(dir).unwrap().display().to_string();
            if path.is_dir() {
                found.push(format!("{relative}/"));
                pending.push(path);
            } else {
                found.push(format!(
                    "{relative} {}",
                    std::fs::metadata(&path).unwrap().len()
                ));
            }
        }
    }
    found.sort();
    found
}

/// Runs `spiegel args` in `dir`; a command that is still running after a minute (a server
/// that started) is killed and reported as such.
fn spiegel_in(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    use std::io::Read as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_spiegel"))
        .args(args)
        .current_dir(dir)
        .env("SPIEGEL_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(60) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("spiegel {args:?} did not stop: it started despite a bad input");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut said = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut said)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut said)
        .unwrap();
    (status.code(), said)
}

#[test]
fn a_command_with_a_bad_input_fails_before_it_creates_anything() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("in")).unwrap();
    std::fs::create_dir(root.join("data")).unwrap();
    std::fs::write(root.join("not-a-certificate.pem"), "no PEM here\n").unwrap();
    std::fs::create_dir(root.join("half-keys")).unwrap();
    write_key(&root.join("half-keys/stage2.key"), 2, [3; 32]);
    write_key(&root.join("stage1.key"), 1, [7; 32]);
    std::fs::write(
        root.join("12345678_2026-H1.csv"),
        format!("{HEADER}\n{}\n", row("123456782")),
    )
    .unwrap();
    // Not named <AGB>_<PERIOD>.csv: validation cannot tell whose it is.
    std::fs::copy(root.join("12345678_2026-H1.csv"), root.join("levering.csv")).unwrap();
    let server = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--reports",
        "reports",
    ];
    let with_server = |more: &[&'static str]| -> Vec<&'static str> {
        server.iter().chain(more).copied().collect()
    };
    // The command, and what its message must name.
    #[cfg_attr(not(feature = "kafka"), allow(unused_mut))]
    let mut cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["run", "--input", "does-not-exist/", "--out", "reports/"],
            "does-not-exist",
        ),
        (
            vec![
                "run", "--input", "in", "--out", "reports", "--keys", "no-keys",
            ],
            "no-keys",
        ),
        (
            vec![
                "run", "--input", "in", "--out", "reports", "--config", "no.json",
            ],
            "no.json",
        ),
        (vec!["validate", "does-not-exist.csv"], "does-not-exist.csv"),
        (
            vec!["validate", "12345678_2026-H1.csv", "levering.csv"],
            "levering.csv",
        ),
        (
            vec![
                "prepare",
                "--source-key",
                "stage1.key",
                "12345678_2026-H1.csv",
                "no-dir/12345678_2026-H1.csv",
            ],
            "no-dir",
        ),
        (
            vec!["render", "--reports", "no-reports", "--out", "pages"],
            "no-reports",
        ),
        (
            vec!["render", "--reports", "in", "--out", "pages"],
            "manifest",
        ),
        (
            vec!["keys", "rotate", "--data-dir", "data", "--keys", "no-keys"],
            "no-keys",
        ),
        (
            vec!["keys", "rotate", "--key-only", "--keys", "no-keys"],
            "no-keys",
        ),
        (
            vec!["keys", "generate", "--out", "half-keys"],
            "refusing to overwrite",
        ),
        (
            vec!["tokens", "revoke", "00000000", "--data-dir", "no-data"],
            "no-data",
        ),
        (vec!["certs", "list", "--data-dir", "no-data"], "no-data"),
        (with_server(&["--config", "no.toml"]), "no.toml"),
        (with_server(&["--keys", "no-keys"]), "no-keys"),
        (
            with_server(&["--tls-cert", "no-cert.pem", "--tls-key", "no-key.pem"]),
            "no-cert.pem",
        ),
        (
            with_server(&[
                "--tls-cert",
                "not-a-certificate.pem",
                "--tls-key",
                "not-a-certificate.pem",
            ]),
            "not-a-certificate.pem",
        ),
    ];
    #[cfg(feature = "kafka")]
    cases.extend([
        (
            vec!["ingest", "--inbox", "no-inbox", "--keys", "half-keys"],
            "no-inbox",
        ),
        (
            vec!["ingest", "--inbox", "in", "--keys", "half-keys"],
            "stage-1 key",
        ),
        (vec!["pseudonymise", "--keys", "no-keys"], "no-keys"),
    ]);
    for (args, named) in cases {
        let before = listing(root);
        let (code, said) = spiegel_in(root, &args);
        assert!(
            code.is_some_and(|c| c != 0),
            "spiegel {args:?} succeeded: {said}"
        );
        assert!(
            said.contains(named),
            "spiegel {args:?} does not name {named}: {said}"
        );
        assert!(
            !said.contains("generated a new K1"),
            "spiegel {args:?} generated keys: {said}"
        );
        assert_eq!(
            listing(root),
            before,
            "spiegel {args:?} changed the file system"
        );
    }
}
