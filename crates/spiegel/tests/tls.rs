//! `spiegel serve` over TLS with client certificates: a certificate from the configured client
//! CA whose subject is registered with `spiegel certs add` authenticates as that principal,
//! bearer tokens keep working on the same listener, and every other combination is refused.
//! Certificates are made with rcgen; the client is rustls over real TCP on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;

mod common;
use common::server::{Server, exchange, get, serve_command};
use common::{p, released, spiegel, token};

/// A certificate authority for the test.
struct Authority {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Authority {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Self {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// A leaf certificate and its key, as PEM files in `dir` named `name`.
    fn issue(&self, dir: &Path, name: &str, subject: &[(DnType, &str)], server: bool) -> Leaf {
        let mut params = if server {
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap()
        } else {
            CertificateParams::new(Vec::<String>::new()).unwrap()
        };
        for (kind, value) in subject {
            params.distinguished_name.push(kind.clone(), *value);
        }
        params.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let key = KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        let leaf = Leaf {
            certificate: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}.key")),
        };
        fs::write(&leaf.certificate, certificate.pem()).unwrap();
        fs::write(&leaf.key, key.serialize_pem()).unwrap();
        leaf
    }
}

struct Leaf {
    certificate: PathBuf,
    key: PathBuf,
}

/// An HTTPS client that trusts `ca` and presents `identity`, if any.
fn client(ca: &Path, identity: Option<&Leaf>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(certificate.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    Arc::new(match identity {
        None => builder.with_no_client_auth(),
        Some(leaf) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(&leaf.certificate)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_file(&leaf.key).unwrap(),
            )
            .unwrap(),
    })
}

/// Opens a TLS connection and finishes the handshake; Err when the server refuses it.
fn connect(
    address: &str,
    config: &Arc<rustls::ClientConfig>,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, std::io::Error> {
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let connection = rustls::ClientConnection::new(Arc::clone(config), name).unwrap();
    let mut stream = rustls::StreamOwned::new(connection, TcpStream::connect(address).unwrap());
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    // In TLS 1.3 the server's verdict on the client certificate arrives after the client's
    // handshake is done: a first read sees it.
    stream.flush()?;
    Ok(stream)
}

/// A GET over HTTPS: status and body; None when the connection is refused.
fn https_get(
    address: &str,
    config: &Arc<rustls::ClientConfig>,
    path: &str,
    headers: &[(&str, &str)],
) -> Option<(u16, Vec<u8>)> {
    let stream = connect(address, config).ok()?;
    exchange(stream, "GET", address, path, headers, "").ok()
}

fn report_ids(answer: &(u16, Vec<u8>)) -> BTreeSet<String> {
    assert_eq!(answer.0, 200, "{}", String::from_utf8_lossy(&answer.1));
    let listed: Value = serde_json::from_slice(&answer.1).unwrap();
    listed["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

fn certs(args: &[&str], data: &Path) -> String {
    let mut all = vec!["certs"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--data-dir", p(data), "--by", "beheer"]);
    String::from_utf8(spiegel(&all).stdout).unwrap()
}

#[test]
fn client_certificates_authenticate_their_registered_principal_beside_bearer_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (reports, data, manifest) = released(root, 3000, 2, 11);
    let files = manifest["files"].as_array().unwrap();
    let recipients = |kind: &str| -> BTreeSet<String> {
        files
            .iter()
            .filter(|f| f["kind"] == kind)
            .map(|f| f["recipient"].as_str().unwrap().to_owned())
            .collect()
    };
    let providers: Vec<String> = recipients("mirror").into_iter().collect();
    assert_eq!(providers.len(), 2);
    let (a, b) = (&providers[0], &providers[1]);
    let gemeente = recipients("municipality").into_iter().next().unwrap();

    let pki = root.join("pki");
    fs::create_dir_all(&pki).unwrap();
    let ca = Authority::new("Spiegel test client CA");
    let server_ca = Authority::new("Spiegel test server CA");
    let stranger_ca = Authority::new("Someone else's CA");
    fs::write(pki.join("client-ca.pem"), &ca.pem).unwrap();
    fs::write(pki.join("server-ca.pem"), &server_ca.pem).unwrap();
    let server_leaf = server_ca.issue(
        &pki,
        "server",
        &[(DnType::CommonName, "spiegel.test")],
        true,
    );
    let subject_a = [
        (DnType::CommonName, "Jeugdhulp A"),
        (DnType::OrganizationName, "Jeugdhulp A B.V."),
    ];
    let cert_a = ca.issue(&pki, "a", &subject_a, false);
    let renewed_a = ca.issue(&pki, "a-renewed", &subject_a, false);
    let cert_b = ca.issue(&pki, "b", &[(DnType::CommonName, "Jeugdhulp B")], false);
    let cert_gemeente = ca.issue(&pki, "gm", &[(DnType::CommonName, "Gemeente")], false);
    let unregistered = ca.issue(
        &pki,
        "unregistered",
        &[(DnType::CommonName, "Niemand")],
        false,
    );
    let forged_a = stranger_ca.issue(&pki, "forged-a", &subject_a, false);

    let added = certs(
        &["add", "--cert", p(&cert_a.certificate), "--provider", a],
        &data,
    );
    assert!(
        added.contains("CN=Jeugdhulp A, O=Jeugdhulp A B.V."),
        "{added}"
    );
    certs(
        &["add", "--cert", p(&cert_b.certificate), "--provider", b],
        &data,
    );
    certs(
        &[
            "add",
            "--cert",
            p(&cert_gemeente.certificate),
            "--gemeente",
            &gemeente,
        ],
        &data,
    );
    let listed = certs(&["list"], &data);
    assert_eq!(listed.lines().count(), 3, "{listed}");
    let token_b = token(&data, ["--provider", b], "beheer");
    let token_a = token(&data, ["--provider", a], "beheer");

    let server = Server::start_with(
        &reports,
        &data,
        &[
            "--tls-cert",
            p(&server_leaf.certificate),
            "--tls-key",
            p(&server_leaf.key),
            "--client-ca",
            p(&pki.join("client-ca.pem")),
        ],
    );
    let api = server.api.as_str();
    let server_ca_file = pki.join("server-ca.pem");
    let as_ = |leaf: Option<&Leaf>| client(&server_ca_file, leaf);
    let list = |config: &Arc<rustls::ClientConfig>, headers: &[(&str, &str)]| {
        https_get(api, config, "/v1/reports", headers)
    };

    // Each certificate reads exactly what its principal may.
    let own_a = report_ids(&list(&as_(Some(&cert_a)), &[]).unwrap());
    let own_b = report_ids(&list(&as_(Some(&cert_b)), &[]).unwrap());
    let own_gemeente = report_ids(&list(&as_(Some(&cert_gemeente)), &[]).unwrap());
    assert!(!own_a.is_empty() && !own_b.is_empty() && !own_gemeente.is_empty());
    assert!(
        own_a
            .iter()
            .all(|id| id.starts_with(&format!("mirror.2026-H1.{a}.")))
    );
    assert!(
        own_b
            .iter()
            .all(|id| id.starts_with(&format!("mirror.2026-H1.{b}.")))
    );
    assert!(own_gemeente.contains(&format!("municipality.2026-H1.{gemeente}")));
    assert!(
        own_gemeente.iter().all(|id| !id.starts_with("mirror.")
            && !id.starts_with("municipality.")
            || id == &format!("municipality.2026-H1.{gemeente}")),
        "its own report, its region's and the national one: {own_gemeente:?}"
    );
    let report_of_a = own_a.iter().next().unwrap();
    let path_of_a = format!("/v1/reports/{report_of_a}");
    assert_eq!(
        https_get(api, &as_(Some(&cert_a)), &path_of_a, &[])
            .unwrap()
            .0,
        200
    );
    assert_eq!(
        https_get(api, &as_(Some(&cert_b)), &path_of_a, &[])
            .unwrap()
            .0,
        404
    );
    assert_eq!(
        https_get(api, &as_(Some(&cert_gemeente)), &path_of_a, &[])
            .unwrap()
            .0,
        404,
        "a mirror report that was not shared"
    );
    // A renewed certificate with the same subject from the same CA needs no operator.
    assert_eq!(
        report_ids(&list(&as_(Some(&renewed_a)), &[]).unwrap()),
        own_a
    );

    // Bearer tokens still work over TLS, without a certificate.
    let bearer_b = format!("Bearer {token_b}");
    let bearer_a = format!("Bearer {token_a}");
    assert_eq!(
        report_ids(&list(&as_(None), &[("Authorization", &bearer_b)]).unwrap()),
        own_b
    );
    // Nothing, or credentials that disagree, or a bad token beside a good certificate: 401.
    assert_eq!(list(&as_(None), &[]).unwrap().0, 401);
    assert_eq!(
        list(&as_(Some(&cert_a)), &[("Authorization", &bearer_b)])
            .unwrap()
            .0,
        401
    );
    assert_eq!(
        list(
            &as_(Some(&cert_a)),
            &[("Authorization", "Bearer spiegel_00000000_00")]
        )
        .unwrap()
        .0,
        401
    );
    assert_eq!(
        report_ids(&list(&as_(Some(&cert_a)), &[("Authorization", &bearer_a)]).unwrap()),
        own_a,
        "a token and a certificate of the same principal agree"
    );
    // A certificate of the trusted CA with an unregistered subject authenticates nobody.
    assert_eq!(list(&as_(Some(&unregistered)), &[]).unwrap().0, 401);
    // A certificate with A's subject from a CA that is not trusted: no connection at all.
    assert!(
        list(&as_(Some(&forged_a)), &[]).is_none(),
        "a certificate of an untrusted CA is refused in the handshake"
    );
    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(api).unwrap();
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .unwrap();
    plain
        .write_all(b"GET /v1/reports HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/"), "plain HTTP is not served");

    // Removing the subject ends it from the next request on, renewed certificate included.
    certs(&["remove", "--cert", p(&cert_a.certificate)], &data);
    assert_eq!(list(&as_(Some(&cert_a)), &[]).unwrap().0, 401);
    assert_eq!(list(&as_(Some(&renewed_a)), &[]).unwrap().0, 401);
    assert_eq!(
        report_ids(&list(&as_(Some(&cert_b)), &[]).unwrap()),
        own_b,
        "other subjects are untouched"
    );

    // A renewed server certificate is used from the next connection on, without a restart.
    let first_seen = server_certificate(api, &as_(None));
    let renewed_server = server_ca.issue(
        &pki,
        "server-next",
        &[(DnType::CommonName, "spiegel.test")],
        true,
    );
    let replace = |from: &Path, to: &Path| {
        let temporary = to.with_extension("new");
        fs::copy(from, &temporary).unwrap();
        fs::rename(&temporary, to).unwrap();
    };
    replace(&renewed_server.key, &server_leaf.key);
    replace(&renewed_server.certificate, &server_leaf.certificate);
    let now_seen = server_certificate(api, &as_(None));
    assert_ne!(first_seen, now_seen);
    assert_eq!(
        now_seen,
        CertificateDer::from_pem_file(&renewed_server.certificate)
            .unwrap()
            .to_vec()
    );
    assert_eq!(
        report_ids(&list(&as_(Some(&cert_b)), &[]).unwrap()),
        own_b,
        "the renewed server certificate serves"
    );

    // The handshakes refused above are counted; the audit log names the principal each
    // certificate stood for, records the certificate changes, and its chain is intact.
    let (status, metrics) = get(&server.admin, "/metrics", &[]);
    assert_eq!(status, 200);
    let metrics = String::from_utf8(metrics).unwrap();
    let failed: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("spiegel_tls_handshake_failures_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        failed >= 2,
        "the forged certificate and plain HTTP: {failed}"
    );
    let log = fs::read_to_string(data.join("audit-log.jsonl")).unwrap();
    let records: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let count = |action: &str| records.iter().filter(|r| r["action"] == action).count();
    assert_eq!(count("certificate_add"), 3);
    assert_eq!(count("certificate_remove"), 1);
    let read_by_a = records.iter().any(|r| {
        r["action"] == "report_read"
            && r["actor"] == format!("provider:{a}").as_str()
            && r["object"] == report_of_a.as_str()
    });
    assert!(
        read_by_a,
        "the report read by A's certificate is A's in the log"
    );
    for secret in [&token_a, &token_b] {
        assert!(!log.contains(secret.as_str()));
    }
    drop(server);
    let verified = spiegel(&["audit", "verify", "--data-dir", p(&data)]);
    assert!(verified.status.success());
}

/// The end-entity certificate the server presents on a new connection.
fn server_certificate(address: &str, config: &Arc<rustls::ClientConfig>) -> Vec<u8> {
    let stream = connect(address, config).unwrap();
    stream.conn.peer_certificates().unwrap()[0].to_vec()
}

#[test]
fn a_server_with_unusable_tls_files_refuses_to_start_and_says_which_file() {
    let dir = tempfile::tempdir().unwrap();
    let certificate = dir.path().join("server.pem");
    let key = dir.path().join("server.key");
    fs::write(&certificate, "not a certificate\n").unwrap();
    fs::write(&key, "not a key\n").unwrap();
    let output = serve_command(dir.path().join("reports"), &dir.path().join("data"))
        .args(["--tls-cert", p(&certificate), "--tls-key", p(&key)])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "it never said it was listening");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("server.pem"), "{stderr}");
}
