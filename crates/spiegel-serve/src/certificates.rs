//! Client certificates (docs/serving.md): a certificate that a trusted client CA issued
//! authenticates the one principal its subject is registered for. The registry maps subjects, not
//! single certificates, so a provider's renewed certificate (same subject, same CA) keeps working
//! without an operator; removing the subject ends it from the next request on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::{Principal, Result, ServeError};

/// Name of the client-certificate registry in the data directory.
pub const CLIENT_CERTIFICATES_FILE: &str = "client-certificates.json";

/// The subject of a certificate: its distinguished name exactly as encoded (what is compared)
/// and as text (what an operator reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSubject {
    der: Vec<u8>,
    text: String,
}

impl CertificateSubject {
    /// The subject of a DER-encoded X.509 certificate.
    pub fn of_certificate(der: &[u8]) -> Result<Self> {
        let (_, certificate) = x509_parser::parse_x509_certificate(der).map_err(|e| {
            ServeError::InvalidCertificate(format!(
                "not an X.509 certificate ({e}) / geen X.509-certificaat ({e})"
            ))
        })?;
        let subject = certificate.subject();
        Ok(Self {
            der: subject.as_raw().to_vec(),
            text: subject.to_string(),
        })
    }

    /// The subject of the first certificate in a PEM file (a chain starts with the client's
    /// own certificate).
    pub fn of_pem_file(path: &Path) -> Result<Self> {
        let unreadable = |what: String| {
            ServeError::InvalidCertificate(format!(
                "{}: {what} / {}: geen leesbaar PEM-certificaat",
                path.display(),
                path.display()
            ))
        };
        let first = CertificateDer::pem_file_iter(path)
            .map_err(|e| unreadable(e.to_string()))?
            .next()
            .ok_or_else(|| unreadable("no CERTIFICATE block".to_owned()))?
            .map_err(|e| unreadable(e.to_string()))?;
        Self::of_certificate(&first)
    }

    /// The distinguished name as text, for example `CN=Jeugdhulp Oost, O=Jeugdhulp Oost B.V.`.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn key(&self) -> String {
        hex::encode(&self.der)
    }
}

/// A registered subject as `spiegel certs list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertificateInfo {
    /// The subject's distinguished name.
    pub subject: String,
    /// Whom a certificate with this subject stands for.
    pub principal: Principal,
    /// When it was registered (RFC 3339, UTC).
    pub added: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredSubject {
    subject: String,
    principal: Principal,
    added: String,
}

/// The registered client-certificate subjects, each standing for one principal.
#[derive(Debug)]
pub struct CertificateRegistry {
    path: PathBuf,
    /// By the hex of the subject's DER encoding.
    subjects: BTreeMap<String, StoredSubject>,
}

impl CertificateRegistry {
    /// Reads the registry in `data_dir`; a missing file is an empty registry.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(CLIENT_CERTIFICATES_FILE);
        let subjects = crate::error::read_json_or_default(&path)?;
        Ok(Self { path, subjects })
    }

    /// Registers `subject` for `principal`. Registering it again for the same principal
    /// changes nothing; a subject already standing for another principal is refused, since
    /// one certificate must never be two parties.
    pub fn add(
        &mut self,
        subject: &CertificateSubject,
        principal: Principal,
        now: &str,
    ) -> Result<()> {
        if let Some(existing) = self.subjects.get(&subject.key()) {
            if existing.principal == principal {
                return Ok(());
            }
            return Err(ServeError::InvalidCertificate(format!(
                "{} already stands for {}; remove it first / staat al voor {}; verwijder het eerst",
                subject.text, existing.principal, existing.principal
            )));
        }
        self.subjects.insert(
            subject.key(),
            StoredSubject {
                subject: subject.text.clone(),
                principal,
                added: now.to_owned(),
            },
        );
        self.save()
    }

    /// Removes a subject, given as a certificate's subject or as the text `list` shows;
    /// returns whom it stood for.
    pub fn remove(&mut self, subject: SubjectRef<'_>) -> Result<Principal> {
        let key = match subject {
            SubjectRef::Subject(subject) => Some(subject.key()),
            SubjectRef::Text(text) => self
                .subjects
                .iter()
                .find(|(_, stored)| stored.subject == text)
                .map(|(key, _)| key.clone()),
        };
        let removed = key
            .and_then(|key| self.subjects.remove(&key))
            .ok_or_else(|| {
                ServeError::InvalidCertificate(
                    "no such subject is registered / dit subject is niet geregistreerd".into(),
                )
            })?;
        self.save()?;
        Ok(removed.principal)
    }

    /// Every registered subject.
    pub fn list(&self) -> Vec<CertificateInfo> {
        self.subjects
            .values()
            .map(|stored| CertificateInfo {
                subject: stored.subject.clone(),
                principal: stored.principal.clone(),
                added: stored.added.clone(),
            })
            .collect()
    }

    /// The principal a verified client certificate with this subject stands for.
    pub fn authenticate(&self, subject: &CertificateSubject) -> Option<&Principal> {
        self.subjects
            .get(&subject.key())
            .map(|stored| &stored.principal)
    }

    fn save(&self) -> Result<()> {
        crate::error::write_json_private(&self.path, &self.subjects)
    }
}

/// How `remove` is told which subject.
#[derive(Debug, Clone, Copy)]
pub enum SubjectRef<'a> {
    /// The subject of a certificate.
    Subject(&'a CertificateSubject),
    /// The distinguished name as `list` shows it.
    Text(&'a str),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(common_name: &str, organisation: &str) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, organisation);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn a_subject_stands_for_one_principal_across_renewals_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut registry = CertificateRegistry::open(dir.path()).unwrap();
        let provider = Principal::provider("12345678").unwrap();
        let first =
            CertificateSubject::of_certificate(&certificate("Oost", "Jeugdhulp Oost")).unwrap();
        assert_eq!(first.text(), "CN=Oost, O=Jeugdhulp Oost");
        registry
            .add(&first, provider.clone(), "2026-11-24T10:00:00Z")
            .unwrap();
        registry
            .add(&first, provider.clone(), "2026-11-24T11:00:00Z")
            .unwrap();
        assert_eq!(
            registry.list().len(),
            1,
            "registering again changes nothing"
        );
        assert!(matches!(
            registry.add(&first, Principal::gemeente("GM0363").unwrap(), "x"),
            Err(ServeError::InvalidCertificate(_))
        ));

        // A renewed certificate: another key, the same subject.
        let renewed =
            CertificateSubject::of_certificate(&certificate("Oost", "Jeugdhulp Oost")).unwrap();
        let reopened = CertificateRegistry::open(dir.path()).unwrap();
        assert_eq!(reopened.authenticate(&renewed), Some(&provider));
        let other =
            CertificateSubject::of_certificate(&certificate("Oost", "Jeugdhulp West")).unwrap();
        assert_eq!(reopened.authenticate(&other), None);

        let mut registry = reopened;
        assert_eq!(
            registry
                .remove(SubjectRef::Text("CN=Oost, O=Jeugdhulp Oost"))
                .unwrap(),
            provider
        );
        assert_eq!(registry.authenticate(&renewed), None);
        assert!(registry.remove(SubjectRef::Subject(&renewed)).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(CLIENT_CERTIFICATES_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn what_is_not_a_certificate_is_refused_with_a_reason() {
        assert!(matches!(
            CertificateSubject::of_certificate(b"not der"),
            Err(ServeError::InvalidCertificate(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "nothing here\n").unwrap();
        let error = CertificateSubject::of_pem_file(&empty)
            .unwrap_err()
            .to_string();
        assert!(error.contains("empty.pem"), "{error}");
    }
}
