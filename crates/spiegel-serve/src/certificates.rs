//! Client certificates (docs/serving.md): a certificate that a trusted client CA issued
//! authenticates the one principal its subject is registered for. The registry maps subjects, not
//! single certificates, so a provider's renewed certificate (same subject, same CA) keeps working
//! without an operator; removing the subject ends it from the next request on.

use std::path::Path;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use spiegel_state::{Database, StoredCertificate};

use crate::{Principal, Result, ServeError};

/// Name of the client-certificate registry in a data directory before the state database:
/// moved into the database on first start (see `state.rs`).
pub(crate) const CLIENT_CERTIFICATES_FILE: &str = "client-certificates.json";

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

    pub(crate) fn key(&self) -> String {
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

/// The registered client-certificate subjects, each standing for one principal, in the state
/// database.
#[derive(Debug, Clone)]
pub struct CertificateRegistry {
    db: Database,
}

impl CertificateRegistry {
    /// The subjects registered in `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Registers `subject` for `principal`. Registering it again for the same principal
    /// changes nothing; a subject already standing for another principal is refused, since
    /// one certificate must never be two parties.
    pub async fn add(
        &self,
        subject: &CertificateSubject,
        principal: Principal,
        now: &str,
    ) -> Result<()> {
        let stored = StoredCertificate {
            subject_der: subject.key(),
            subject: subject.text.clone(),
            principal: principal.clone(),
            added: now.to_owned(),
        };
        match self.db.insert_certificate(&stored).await? {
            Some(existing) if existing != principal => {
                Err(ServeError::InvalidCertificate(format!(
                    "{} already stands for {existing}; remove it first / staat al voor {existing}; \
                 verwijder het eerst",
                    subject.text
                )))
            }
            _ => Ok(()),
        }
    }

    /// Removes a subject, given as a certificate's subject or as the text `list` shows;
    /// returns whom it stood for.
    pub async fn remove(&self, subject: SubjectRef<'_>) -> Result<Principal> {
        let key = match subject {
            SubjectRef::Subject(subject) => Some(subject.key()),
            SubjectRef::Text(text) => self
                .db
                .certificates()
                .await?
                .into_iter()
                .find(|stored| stored.subject == text)
                .map(|stored| stored.subject_der),
        };
        let removed = match key {
            Some(key) => self.db.remove_certificate(&key).await?,
            None => None,
        };
        removed.ok_or_else(|| {
            ServeError::InvalidCertificate(
                "no such subject is registered / dit subject is niet geregistreerd".into(),
            )
        })
    }

    /// Every registered subject.
    pub async fn list(&self) -> Result<Vec<CertificateInfo>> {
        Ok(self
            .db
            .certificates()
            .await?
            .into_iter()
            .map(|stored| CertificateInfo {
                subject: stored.subject,
                principal: stored.principal,
                added: stored.added,
            })
            .collect())
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

    #[tokio::test]
    async fn a_subject_stands_for_one_principal_across_renewals_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let url = spiegel_state::DatabaseUrl::sqlite_in(dir.path());
        let db = Database::open(&url).await.unwrap();
        let registry = CertificateRegistry::new(db.clone());
        let server = crate::credentials::CredentialCache::open(db).await.unwrap();
        let provider = Principal::provider("12345678").unwrap();
        let first =
            CertificateSubject::of_certificate(&certificate("Oost", "Jeugdhulp Oost")).unwrap();
        assert_eq!(first.text(), "CN=Oost, O=Jeugdhulp Oost");
        registry
            .add(&first, provider.clone(), "2026-11-24T10:00:00Z")
            .await
            .unwrap();
        registry
            .add(&first, provider.clone(), "2026-11-24T11:00:00Z")
            .await
            .unwrap();
        let listed = registry.list().await.unwrap();
        assert_eq!(listed.len(), 1, "registering again changes nothing");
        assert_eq!(listed[0].added, "2026-11-24T10:00:00Z");
        assert!(matches!(
            registry
                .add(&first, Principal::gemeente("GM0363").unwrap(), "x")
                .await,
            Err(ServeError::InvalidCertificate(_))
        ));

        // A renewed certificate: another key, the same subject.
        let renewed =
            CertificateSubject::of_certificate(&certificate("Oost", "Jeugdhulp Oost")).unwrap();
        let reopened = CertificateRegistry::new(Database::open(&url).await.unwrap());
        assert_eq!(
            server.by_certificate(&renewed).await.unwrap(),
            Some(provider.clone())
        );
        let other =
            CertificateSubject::of_certificate(&certificate("Oost", "Jeugdhulp West")).unwrap();
        assert_eq!(server.by_certificate(&other).await.unwrap(), None);

        assert_eq!(
            reopened
                .remove(SubjectRef::Text("CN=Oost, O=Jeugdhulp Oost"))
                .await
                .unwrap(),
            provider
        );
        assert_eq!(server.by_certificate(&renewed).await.unwrap(), None);
        assert!(
            reopened
                .remove(SubjectRef::Subject(&renewed))
                .await
                .is_err()
        );
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
