//! Who is asking: a provider, a municipality or an operator (docs/serving.md).

use std::fmt;
use std::str::FromStr;

use spiegel_core::{Agb, GemeenteCode, Reference};

use crate::{AuditError, Result};

/// The one party a token or certificate stands for; every request is authorised against it.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum Principal {
    /// A youth-care provider, by its AGB code.
    Provider(String),
    /// A municipality, by its CBS code `GMxxxx`.
    Gemeente(String),
    /// An operator of the TTP, by name.
    Operator(String),
}

impl Principal {
    /// A provider; the AGB code must be 8 digits.
    pub fn provider(agb: &str) -> Result<Self> {
        let agb = Agb::from_str(agb).map_err(|_| {
            AuditError::InvalidPrincipal(format!(
                "AGB code {agb:?} is not 8 digits / AGB-code {agb:?} is geen 8 cijfers"
            ))
        })?;
        Ok(Self::Provider(agb.as_str().to_owned()))
    }

    /// A municipality of the current reference (342 in 2026).
    pub fn gemeente(code: &str) -> Result<Self> {
        let known = GemeenteCode::from_str(code)
            .ok()
            .filter(|c| Reference::embedded().gemeente(*c).is_some());
        match known {
            Some(c) => Ok(Self::Gemeente(c.to_string())),
            None => Err(AuditError::InvalidPrincipal(format!(
                "{code:?} is not a current municipality code GMxxxx / {code:?} is geen \
                 huidige gemeentecode GMxxxx"
            ))),
        }
    }

    /// An operator: 1 to 64 lower-case letters, digits, `.`, `_` or `-`.
    pub fn operator(name: &str) -> Result<Self> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if valid {
            Ok(Self::Operator(name.to_owned()))
        } else {
            Err(AuditError::InvalidPrincipal(format!(
                "operator name {name:?}: 1 to 64 of a-z, 0-9, '.', '_', '-' / operatornaam \
                 {name:?}: 1 tot 64 van a-z, 0-9, '.', '_', '-'"
            )))
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Provider(id) => write!(f, "provider:{id}"),
            Self::Gemeente(id) => write!(f, "gemeente:{id}"),
            Self::Operator(id) => write!(f, "operator:{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_are_checked_and_print_with_their_kind() {
        assert_eq!(
            Principal::provider("12345678").unwrap().to_string(),
            "provider:12345678"
        );
        assert!(Principal::provider("1234567").is_err());
        assert_eq!(
            Principal::gemeente("GM0363").unwrap().to_string(),
            "gemeente:GM0363"
        );
        assert!(Principal::gemeente("GM9999").is_err(), "not a municipality");
        assert!(Principal::operator("ops.alice").is_ok());
        assert!(Principal::operator("Alice Smith").is_err());
        let json = serde_json::to_string(&Principal::gemeente("GM0363").unwrap()).unwrap();
        assert_eq!(json, r#"{"kind":"gemeente","id":"GM0363"}"#);
    }
}
