use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// A burgerservicenummer that passed the 11-proef.
///
/// Deliberately without `Display`, `Serialize` or any accessor: the digits leave this type only
/// as input to the stage-1 HMAC. `Debug` prints `Bsn(***)`. The digits are wiped on drop.
#[derive(Clone, PartialEq, Eq, Hash, Zeroize, ZeroizeOnDrop)]
pub struct Bsn([u8; 9]);

/// The two agreed placeholder values of BIJ, accepted but never linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sentinel {
    /// `999999999`: the BSN is unknown to the provider.
    Unknown,
    /// `000000000`: the child is not yet born (care during pregnancy).
    Unborn,
}

/// A parsed `bsn` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedBsn {
    /// A valid BSN.
    Known {
        /// The number.
        bsn: Bsn,
        /// Whether a leading zero dropped by spreadsheet software was put back (8 digits in).
        restored_leading_zero: bool,
    },
    /// One of the BIJ placeholders.
    Sentinel(Sentinel),
}

/// Why a `bsn` value was not accepted. Never carries the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BsnError {
    /// Something other than the ASCII digits 0-9 (letters, spaces inside, other scripts).
    #[error("BSN contains characters other than the digits 0-9")]
    NotDigits,
    /// Seven or fewer, or ten or more digits.
    #[error("BSN has the wrong number of digits")]
    Length,
    /// Nine digits that fail the 11-proef.
    #[error("BSN fails the 11-proef")]
    ElfProef,
}

impl Bsn {
    /// Parses a `bsn` field: nine ASCII digits passing the 11-proef; eight digits are taken as
    /// a BSN whose leading zero was lost. The text is never turned into a number on the way, so
    /// leading zeros survive.
    pub fn parse(text: &str) -> Result<ParsedBsn, BsnError> {
        let bytes = text.as_bytes();
        if !bytes.iter().all(u8::is_ascii_digit) || bytes.is_empty() {
            return Err(BsnError::NotDigits);
        }
        let mut digits = [b'0'; 9];
        let restored_leading_zero = match bytes.len() {
            9 => {
                digits.copy_from_slice(bytes);
                false
            }
            8 => {
                digits[1..].copy_from_slice(bytes);
                true
            }
            _ => return Err(BsnError::Length),
        };
        if !restored_leading_zero {
            if digits == *b"999999999" {
                return Ok(ParsedBsn::Sentinel(Sentinel::Unknown));
            }
            if digits == *b"000000000" {
                return Ok(ParsedBsn::Sentinel(Sentinel::Unborn));
            }
        }
        let bsn = Bsn(digits);
        digits.zeroize();
        if !bsn.passes_elfproef() {
            return Err(BsnError::ElfProef);
        }
        Ok(ParsedBsn::Known {
            bsn,
            restored_leading_zero,
        })
    }

    /// The 11-proef for BSN: weights 9..2 for the first eight digits and −1 for the last; the
    /// sum must be a multiple of 11 (zero included). An all-zero number is not a BSN.
    fn passes_elfproef(&self) -> bool {
        let sum: i32 = self.0[..8]
            .iter()
            .zip((2..=9).rev())
            .map(|(d, w)| i32::from(d - b'0') * w)
            .sum::<i32>()
            - i32::from(self.0[8] - b'0');
        sum % 11 == 0 && self.0 != [b'0'; 9]
    }

    pub(crate) fn digits(&self) -> &[u8; 9] {
        &self.0
    }
}

/// Whether free text holds a number that could be a BSN: nine digits that pass the 11-proef,
/// written together (`123456782`) or in groups joined by one space, dot or dash
/// (`1234 56 782`, `123.456.782`), as people write a BSN. Longer runs of digits (account and
/// phone numbers) and eight-digit ones (dates) are not taken for one. Sentinels are not BSNs.
pub fn mentions_bsn(text: &str) -> bool {
    // Maximal digit runs; `joined` says the run follows the previous one after exactly one
    // separator, so the two may be parts of one number.
    let mut runs: Vec<(&str, bool)> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let joined = start >= 2
            && matches!(bytes[start - 1], b' ' | b'.' | b'-')
            && bytes[start - 2].is_ascii_digit();
        runs.push((&text[start..i], joined));
    }
    for first in 0..runs.len() {
        let mut digits = [b'0'; 9];
        let mut filled = 0;
        for (n, (run, joined)) in runs[first..].iter().enumerate() {
            if n > 0 && !joined {
                break;
            }
            if filled + run.len() > 9 {
                break;
            }
            digits[filled..filled + run.len()].copy_from_slice(run.as_bytes());
            filled += run.len();
            if filled == 9 {
                let known = std::str::from_utf8(&digits)
                    .ok()
                    .is_some_and(|d| matches!(Bsn::parse(d), Ok(ParsedBsn::Known { .. })));
                digits.zeroize();
                if known {
                    return true;
                }
                break;
            }
        }
        digits.zeroize();
    }
    false
}

impl fmt::Debug for Bsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bsn(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(s: &str) -> bool {
        matches!(Bsn::parse(s), Ok(ParsedBsn::Known { .. }))
    }

    #[test]
    fn free_text_mentions_a_bsn_however_it_is_grouped() {
        for text in [
            "client 123456782 stopte",
            "BSN: 1234 56 782.",
            "bsn 123.456.782",
            "(111-222-333)",
            "in 2026 249566758",
        ] {
            assert!(mentions_bsn(text), "{text}");
        }
        for text in [
            "geen nummer",
            "123456789 faalt de 11-proef",
            "1234567820 is te lang",
            "12345678 is te kort",
            "op 20260101 en 20260630",
            "999999999",
            "tel. 020 123 4567",
            "42 van 120 trajecten, 35%",
        ] {
            assert!(!mentions_bsn(text), "{text}");
        }
    }

    #[test]
    fn published_valid_vectors_pass() {
        for valid in ["111222333", "123456782", "249566758"] {
            assert!(known(valid), "{valid} is a published valid BSN");
        }
    }

    #[test]
    fn invalid_numbers_fail_the_elfproef() {
        for invalid in ["111222334", "123456789", "249566757", "100000000"] {
            assert_eq!(Bsn::parse(invalid), Err(BsnError::ElfProef), "{invalid}");
        }
    }

    #[test]
    fn wrong_lengths_and_characters() {
        for short in ["1234567", "123", "1234567890", "12345678901"] {
            assert_eq!(Bsn::parse(short), Err(BsnError::Length), "{short}");
        }
        // Arabic-Indic and full-width digits are digits to Unicode, not to the 11-proef.
        for odd in [
            "١٢٣٤٥٦٧٨٢",
            "１２３４５６７８２",
            "12345678a",
            "1234 5678",
            "",
            "-23456782",
        ] {
            assert_eq!(Bsn::parse(odd), Err(BsnError::NotDigits), "{odd:?}");
        }
    }

    #[test]
    fn eight_digits_restore_the_leading_zero() {
        // 012345672 passes the 11-proef; a spreadsheet shows it as 12345672.
        assert!(known("012345672"));
        match Bsn::parse("12345672") {
            Ok(ParsedBsn::Known {
                bsn,
                restored_leading_zero: true,
            }) => assert_eq!(
                bsn,
                match Bsn::parse("012345672") {
                    Ok(ParsedBsn::Known { bsn, .. }) => bsn,
                    other => panic!("{other:?}"),
                }
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_weighted_sum_of_zero_is_a_multiple_of_eleven() {
        // 0*9 + ... + 1*2 - 2 = 0: valid by the 11-proef.
        assert!(known("000000012"));
        // Eight zeros restored to nine is not the unborn placeholder, and not a BSN.
        assert_eq!(Bsn::parse("00000000"), Err(BsnError::ElfProef));
    }

    #[test]
    fn sentinels_are_recognised() {
        assert_eq!(
            Bsn::parse("999999999"),
            Ok(ParsedBsn::Sentinel(Sentinel::Unknown))
        );
        assert_eq!(
            Bsn::parse("000000000"),
            Ok(ParsedBsn::Sentinel(Sentinel::Unborn))
        );
    }

    #[test]
    fn debug_never_shows_digits() {
        let Ok(ParsedBsn::Known { bsn, .. }) = Bsn::parse("123456782") else {
            panic!("valid")
        };
        let shown = format!("{bsn:?} {:?}", Bsn::parse("123456782"));
        assert!(!shown.contains("123456782"), "{shown}");
        assert!(!shown.contains("49"), "no digit runs at all: {shown}");
    }
}
