//! BSNs for generated children: unique within a data set and valid by the 11-proef, so that
//! the pipeline treats them exactly as it treats real ones.

/// Child number `n` to a unique BSN: the first eight digits walk a permutation of 10^8 (a
/// multiplier coprime to 10), the ninth is the 11-proef check digit; numbers whose check digit
/// would be 10 are skipped by the caller.
pub(super) fn bsn_for(n: u64, offset: u64) -> Option<[u8; 9]> {
    let prefix = (offset + n.wrapping_mul(7_777_777)) % 100_000_000;
    if prefix == 0 || prefix == 99_999_999 {
        return None;
    }
    let mut digits = [0u8; 9];
    let mut rest = prefix;
    for i in (0..8).rev() {
        digits[i] = (rest % 10) as u8;
        rest /= 10;
    }
    let sum: u32 = digits[..8]
        .iter()
        .zip((2..=9).rev())
        .map(|(d, w)| u32::from(*d) * w)
        .sum();
    let check = sum % 11;
    (check < 10).then(|| {
        digits[8] = check as u8;
        digits.map(|d| d + b'0')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_bsns_pass_the_elfproef_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        let mut made = 0;
        for n in 0..20_000 {
            if let Some(digits) = bsn_for(n, 12_345) {
                let text = std::str::from_utf8(&digits).unwrap();
                assert!(matches!(
                    spiegel_pseudonymise::Bsn::parse(text),
                    Ok(spiegel_pseudonymise::ParsedBsn::Known {
                        restored_leading_zero: false,
                        ..
                    })
                ));
                assert!(seen.insert(digits));
                made += 1;
            }
        }
        assert!(made > 17_000, "about 10 in 11 prefixes have a check digit");
    }
}
