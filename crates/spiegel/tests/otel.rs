//! OpenTelemetry export (feature `otel`): `spiegel run` with an OTLP endpoint sends its spans to
//! a collector, here a loopback receiver speaking OTLP/HTTP as a collector does.
#![cfg(feature = "otel")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};

mod common;
use common::{bsns, generate, p};

/// One request the receiver took: path, content type, body.
type Received = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A minimal OTLP/HTTP receiver on loopback: answers every request 200 with an empty
/// protobuf body, keeping what it was sent.
fn receiver() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let received: Received = Arc::default();
    let keep = Arc::clone(&received);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let keep = Arc::clone(&keep);
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = request_line
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned();
                    let (mut length, mut content_type) = (0, String::new());
                    loop {
                        let mut line = String::new();
                        reader.read_line(&mut line).unwrap();
                        let line = line.trim_end();
                        if line.is_empty() {
                            break;
                        }
                        let (name, value) = line.split_once(':').unwrap();
                        match name.to_ascii_lowercase().as_str() {
                            "content-length" => length = value.trim().parse().unwrap(),
                            "content-type" => value.trim().clone_into(&mut content_type),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    keep.lock().unwrap().push((path, content_type, body));
                    writer
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\n\
                              content-length: 0\r\n\r\n",
                        )
                        .unwrap();
                }
            });
        }
    });
    (address, received)
}

#[test]
fn spiegel_run_exports_its_spans_to_the_configured_collector_without_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    generate(&input, 3000, 3, 5, "2025-H2");
    let (address, received) = receiver();
    let output = Command::new(env!("CARGO_BIN_EXE_spiegel"))
        .args(["run", "--input", p(&input)])
        .args(["--out", p(&dir.path().join("out"))])
        .args(["--data-dir", p(&dir.path().join("data"))])
        .env("SPIEGEL_LOG", "info")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{address}"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The provider is shut down, and so flushed, before the process exits.
    let received = received.lock().unwrap();
    assert!(!received.is_empty(), "no export reached the collector");
    let mut all = Vec::new();
    for (path, content_type, body) in received.iter() {
        assert_eq!(path, "/v1/traces");
        assert_eq!(content_type, "application/x-protobuf");
        all.extend_from_slice(body);
    }
    // Protobuf keeps strings as they are: the service, the span names and their fields.
    let text = String::from_utf8_lossy(&all);
    for expected in [
        "spiegel-run",
        "submission",
        "release",
        "provider",
        "period",
        "2025-H2",
    ] {
        assert!(
            text.contains(expected),
            "no {expected:?} in the exported spans"
        );
    }
    // What a span may never carry.
    for file in std::fs::read_dir(&input).unwrap() {
        for bsn in bsns(&file.unwrap().path()) {
            assert!(!text.contains(&bsn), "a BSN in the exported spans");
        }
    }
    for label in ["ct.spiegel.", "ps.spiegel."] {
        assert!(
            !text.contains(label),
            "a token or pseudonym in the exported spans"
        );
    }
}
