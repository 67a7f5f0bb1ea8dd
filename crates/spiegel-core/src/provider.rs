use std::fmt;
use std::str::FromStr;

use crate::CoreError;

/// A provider's AGB code (Algemeen GegevensBeheer zorgverleners): 8 digits, leading zeros
/// significant. Providers are identified by it throughout Spiegel.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Agb([u8; 8]);

impl Agb {
    /// The code as its 8-digit text.
    pub fn as_str(&self) -> &str {
        // The constructor admits ASCII digits only, which are valid UTF-8.
        std::str::from_utf8(&self.0).unwrap_or("????????")
    }
}

impl FromStr for Agb {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        if bytes.len() != 8 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(CoreError::InvalidAgb(s.chars().take(16).collect()));
        }
        let mut digits = [0u8; 8];
        digits.copy_from_slice(bytes);
        Ok(Self(digits))
    }
}

impl fmt::Display for Agb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Agb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Agb({})", self.as_str())
    }
}

serde_as_text!(Agb);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_leading_zeros_and_rejects_other_lengths() {
        let agb: Agb = "01234567".parse().unwrap();
        assert_eq!(agb.to_string(), "01234567");
        assert!("1234567".parse::<Agb>().is_err());
        assert!("123456789".parse::<Agb>().is_err());
        assert!("1234567a".parse::<Agb>().is_err());
    }
}
