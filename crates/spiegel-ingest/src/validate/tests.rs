use super::fields::parse_amount;

#[test]
fn amounts_in_euros() {
    assert_eq!(parse_amount("1234,50"), Some(123_450));
    assert_eq!(parse_amount("1234.5"), Some(123_450));
    assert_eq!(parse_amount("0"), Some(0));
    assert_eq!(parse_amount("17"), Some(1700));
    for bad in ["-5", "1.234,56", "12,345", "€ 12", "1e3", ",5", "12."] {
        assert_eq!(parse_amount(bad), None, "{bad}");
    }
}
