//! The release rules on hand-made cells.

use spiegel_aggregate::indicators::{INDICATORS, indicator};

use super::*;

fn cell(code: &str, dimension: &str, category: &str, n: u32, contributors: &[(&str, u32)]) -> Cell {
    let definition = indicator(code).unwrap();
    let (numerator, denominator) = match definition.kind {
        Kind::Count => (Some(n), None),
        Kind::Share => (Some(n / 2), Some(n)),
        Kind::Statistic => (None, Some(n)),
    };
    Cell {
        indicator: definition,
        indicator_order: INDICATORS.iter().position(|i| i.code == code).unwrap(),
        dimension: dimension.into(),
        category: category.into(),
        numerator,
        numerator_key: u64::from(n) * 0x9E37_79B9,
        denominator,
        denominator_key: u64::from(n) * 0x7F4A_7C15,
        value: Some(f64::from(n)),
        provisional: false,
        contributors: contributors
            .iter()
            .map(|(p, u)| (Arc::from(*p), *u))
            .collect(),
        controlled: true,
        suppressed: false,
        protected: [false; 2],
    }
}

fn spread(n: u32) -> Vec<(&'static str, u32)> {
    vec![("a", n / 3), ("b", n / 3), ("c", n - 2 * (n / 3))]
}

#[test]
fn small_counts_and_small_denominators_are_suppressed() {
    let config = PublishConfig::default();
    let mut cells = vec![
        cell("youths_in_care", "total", "total", 9, &spread(9)),
        cell("youths_in_care", "total", "total", 10, &spread(10)),
        cell("youths_in_care", "total", "total", 0, &[]),
        cell("dropout_share", "total", "total", 19, &spread(19)),
        cell("dropout_share", "total", "total", 20, &spread(20)),
        cell("duration_days_mean", "total", "total", 19, &spread(19)),
    ];
    primary(&mut cells, &config, &[]);
    let suppressed: Vec<bool> = cells.iter().map(|c| c.suppressed).collect();
    assert_eq!(suppressed, [true, false, false, true, false, true]);
    // A threshold of 12 moves the line.
    let mut cells = vec![cell("youths_in_care", "total", "total", 11, &spread(11))];
    primary(
        &mut cells,
        &PublishConfig {
            threshold: 12,
            ..config
        },
        &[],
    );
    assert!(cells[0].suppressed);
}

#[test]
fn nb3_protects_the_one_provider_that_did_not_share() {
    let config = PublishConfig::default();
    let shared = [SharingView::from([Arc::from("shared")])];
    // One sharing provider and one other: the other could be derived by subtraction.
    let mut cells = vec![cell(
        "youths_in_care",
        "total",
        "total",
        40,
        &[("shared", 20), ("b", 20)],
    )];
    primary(&mut cells, &config, &shared);
    assert!(cells[0].suppressed);
    // Without the share, two providers are still too few.
    let mut cells = vec![cell(
        "youths_in_care",
        "total",
        "total",
        40,
        &[("shared", 20), ("b", 20)],
    )];
    primary(&mut cells, &config, &[]);
    assert!(cells[0].suppressed);
    // A second non-sharing provider: still two non-sharing contributors.
    let mut cells = vec![cell(
        "youths_in_care",
        "total",
        "total",
        60,
        &[("shared", 20), ("b", 20), ("c", 20)],
    )];
    primary(&mut cells, &config, &shared);
    assert!(cells[0].suppressed);
    // A third non-sharing provider: published.
    let mut cells = vec![cell(
        "youths_in_care",
        "total",
        "total",
        80,
        &[("shared", 20), ("b", 20), ("c", 20), ("d", 20)],
    )];
    primary(&mut cells, &config, &shared);
    assert!(!cells[0].suppressed);
    // Everybody shared: nobody to protect.
    let mut cells = vec![cell(
        "youths_in_care",
        "total",
        "total",
        40,
        &[("shared", 20), ("b", 20)],
    )];
    let everybody = [SharingView::from([Arc::from("shared"), Arc::from("b")])];
    primary(&mut cells, &config, &everybody);
    assert!(!cells[0].suppressed);
}

#[test]
fn nb3_suppresses_a_dominant_non_sharing_provider() {
    let config = PublishConfig::default();
    let mut cells = vec![cell(
        "youths_in_care",
        "total",
        "total",
        100,
        &[("a", 86), ("b", 7), ("c", 7)],
    )];
    primary(&mut cells, &config, &[]);
    assert!(cells[0].suppressed);
    let mut cells = vec![cell(
        "youths_in_care",
        "total",
        "total",
        100,
        &[("a", 85), ("b", 8), ("c", 7)],
    )];
    primary(&mut cells, &config, &[]);
    assert!(!cells[0].suppressed);
}

#[test]
fn a_lone_suppressed_category_gets_a_complement_and_the_audit_proves_it() {
    let mut cells = vec![
        cell("youths_in_care", "total", "total", 100, &spread(100)),
        cell("youths_in_care", "geslacht", "M", 55, &spread(55)),
        cell("youths_in_care", "geslacht", "V", 41, &spread(41)),
        cell("youths_in_care", "geslacht", "O", 4, &spread(4)),
    ];
    primary(&mut cells, &PublishConfig::default(), &[]);
    assert!(cells[3].suppressed && !cells[2].suppressed);
    let audit = secondary(&mut cells, &PublishConfig::default(), 10, false).unwrap();
    // Without a complement O = 100 - 55 - 41: the smallest published category joins it.
    assert!(cells[2].suppressed, "V must be suppressed as a complement");
    assert!(!cells[1].suppressed && !cells[0].suppressed);
    assert!(!audit.is_empty() && audit.iter().all(AuditInterval::protects));
    let o = audit.iter().find(|i| i.cell == 3).unwrap();
    assert_eq!((o.lower, o.upper), (1, Some(44)));
}

#[test]
fn a_suppressed_total_is_not_left_recoverable_from_a_complete_breakdown() {
    // The total is primary-suppressed (NB-3 style); geslacht fully published would give it.
    let mut cells = vec![
        cell("youths_in_care", "total", "total", 30, &spread(30)),
        cell("youths_in_care", "geslacht", "M", 15, &spread(15)),
        cell("youths_in_care", "geslacht", "V", 15, &spread(15)),
        cell("youths_in_care", "hulpvorm", "02", 30, &spread(30)),
    ];
    cells[0].suppressed = true;
    cells[0].protected = [true; 2];
    let audit = secondary(&mut cells, &PublishConfig::default(), 10, false).unwrap();
    assert!(audit.iter().all(AuditInterval::protects));
    assert!(cells[1].suppressed || cells[2].suppressed);
    assert!(cells[3].suppressed);
}

#[test]
fn a_large_cell_suppressed_by_nb3_is_not_left_alone_in_its_breakdown() {
    let mut cells = vec![
        cell("youths_in_care", "total", "total", 200, &spread(200)),
        cell("youths_in_care", "hulpvorm", "02", 120, &spread(120)),
        cell(
            "youths_in_care",
            "hulpvorm",
            "11",
            50,
            &[("a", 25), ("b", 25)],
        ),
        cell("youths_in_care", "hulpvorm", "13", 30, &spread(30)),
    ];
    primary(&mut cells, &PublishConfig::default(), &[]);
    assert!(cells[2].suppressed);
    let audit = secondary(&mut cells, &PublishConfig::default(), 10, false).unwrap();
    assert!(cells[3].suppressed, "13 = 200 - 120 - 11 otherwise");
    assert!(audit.iter().all(AuditInterval::protects));
}

#[test]
fn one_hidden_hulpvorm_is_not_left_derivable_from_its_verblijf_cell() {
    let mut cells = vec![
        cell("trajectories_active", "total", "total", 100, &spread(100)),
        cell("trajectories_active", "hulpvorm", "01", 5, &spread(5)),
        cell("trajectories_active", "hulpvorm", "02", 45, &spread(45)),
        cell("trajectories_active", "hulpvorm", "11", 30, &spread(30)),
        cell("trajectories_active", "hulpvorm", "12", 20, &spread(20)),
        cell(
            "trajectories_active",
            "verblijf",
            "zonder_verblijf",
            50,
            &spread(50),
        ),
        cell(
            "trajectories_active",
            "verblijf",
            "met_verblijf",
            50,
            &spread(50),
        ),
    ];
    primary(&mut cells, &PublishConfig::default(), &[]);
    let audit = secondary(&mut cells, &PublishConfig::default(), 10, false).unwrap();
    assert!(cells[1].suppressed);
    // Without nesting, 12 as complement would do for the hulpvorm breakdown, but
    // 01 = zonder verblijf − 02: one of those goes too.
    assert!(cells[2].suppressed || cells[5].suppressed, "01 = 50 − 45");
    assert!(audit.iter().all(AuditInterval::protects));
    let audited: Vec<(usize, &str)> = audit.iter().map(|i| (i.cell, i.column)).collect();
    let mut unique = audited.clone();
    unique.dedup();
    assert_eq!(audited, unique, "each count audited once");
}

#[test]
fn a_count_hidden_in_one_cell_is_hidden_wherever_else_it_is_published() {
    let ended =
        |category: &str, n: u32| cell("trajectories_ended", "hulpvorm", category, n, &spread(n));
    let mut reason = cell("end_reason_01", "hulpvorm", "13", 40, &spread(40));
    // The same 40 trajectories ended in hulpvorm 13: the same count and cell key.
    let mut ended_13 = ended("13", 40);
    reason.denominator_key = ended_13.numerator_key;
    ended_13.suppressed = true;
    ended_13.protected = [true; 2];
    let mut cells = vec![ended_13, reason];
    let audit = secondary(&mut cells, &PublishConfig::default(), 10, false).unwrap();
    assert!(
        cells[1].suppressed,
        "its denominator would give the hidden count away"
    );
    assert!(audit.iter().all(AuditInterval::protects));
    // A different group of 40 trajectories is another count.
    let mut cells = vec![
        ended("13", 40),
        cell("end_reason_01", "hulpvorm", "13", 40, &spread(40)),
    ];
    cells[0].suppressed = true;
    cells[0].protected = [true; 2];
    cells[1].denominator_key ^= 1;
    secondary(&mut cells, &PublishConfig::default(), 10, false).unwrap();
    assert!(!cells[1].suppressed);
}

#[test]
fn complements_never_use_empty_cells() {
    let mut cells = vec![
        cell("youths_in_care", "total", "total", 50, &spread(50)),
        cell("youths_in_care", "geslacht", "M", 0, &[]),
        cell("youths_in_care", "geslacht", "V", 47, &spread(47)),
        cell("youths_in_care", "geslacht", "O", 3, &spread(3)),
    ];
    primary(&mut cells, &PublishConfig::default(), &[]);
    let audit = secondary(&mut cells, &PublishConfig::default(), 10, false).unwrap();
    assert!(!cells[1].suppressed);
    assert!(cells[2].suppressed && cells[3].suppressed);
    // V + O = 50 is known, but each lies anywhere in 1..=49: protected without the total.
    assert!(!cells[0].suppressed);
    let o = audit.iter().find(|i| i.cell == 3).unwrap();
    assert_eq!((o.lower, o.upper), (1, Some(49)));
    assert!(audit.iter().all(AuditInterval::protects));
}

#[test]
fn perturbation_is_base_5_deterministic_unbiased_and_within_4() {
    let mut up = 0;
    for n in 10..2000u32 {
        for key in [1u64, 77, 12_345_678_901] {
            let p = perturb(n, key.wrapping_mul(u64::from(n)));
            assert_eq!(p % 5, 0);
            assert!((p - i64::from(n)).abs() <= 4);
            assert_eq!(p, perturb(n, key.wrapping_mul(u64::from(n))));
        }
    }
    // Residue 3 rounds up about 60% of the time over many cell keys.
    for key in 0..10_000u64 {
        if perturb(13, spiegel_core::mix64(key)) == 15 {
            up += 1;
        }
    }
    assert!((5_500..6_500).contains(&up), "{up}");
    assert_eq!(perturb(0, 99), 0);
    assert_eq!(perturb(20, 99), 20);
}

#[test]
fn published_counts_are_never_below_the_threshold_and_mirror_volumes_are_exact() {
    let config = PublishConfig::default();
    let share = cell("dropout_share", "total", "total", 40, &spread(40));
    // SDC-2: 3 of 40 would be a count below T beside its share: the share goes with it.
    let mut cells = vec![Cell {
        numerator: Some(3),
        ..share.clone()
    }];
    primary(&mut cells, &config, &[]);
    assert!(cells[0].suppressed, "a share whose numerator SDC-1 hides");
    let mut own = cell("trajectories_active", "total", "total", 7, &[]);
    own.controlled = false;
    assert_eq!(publish(&own, &config).numerator, Some(7));
    let mut hidden = cell("youths_in_care", "total", "total", 7, &[]);
    hidden.suppressed = true;
    assert_eq!(
        publish(&hidden, &config),
        Published {
            numerator: None,
            denominator: None,
            value: None,
            status: "suppressed"
        }
    );
}

#[test]
fn a_share_is_its_published_numerator_over_its_published_denominator() {
    let config = PublishConfig::default();
    for denominator in 20..400u32 {
        for numerator in (0..=denominator).filter(|&n| n == 0 || n >= config.threshold) {
            let cell = Cell {
                numerator: Some(numerator),
                numerator_key: u64::from(numerator) * 0x9E37_79B9,
                denominator: Some(denominator),
                denominator_key: u64::from(denominator) * 0x7F4A_7C15 + 1,
                // The exact share, which must not be what is published.
                value: Some(f64::from(numerator) * 100.0 / f64::from(denominator)),
                ..cell(
                    "dropout_share",
                    "total",
                    "total",
                    denominator,
                    &spread(denominator),
                )
            };
            let p = publish(&cell, &config);
            let (n, d) = (p.numerator.unwrap(), p.denominator.unwrap());
            assert!(n <= d, "{n} of {d}");
            assert!((n - i64::from(numerator)).abs() <= 4);
            assert_eq!(p.value, Some((n as f64 * 100.0 / d as f64).round()));
        }
    }
}

#[test]
fn shares_and_means_on_fewer_than_t_rate_are_suppressed_in_mirror_reports_too() {
    let config = PublishConfig::default();
    let dropout = indicator("dropout_share").unwrap();
    let mean = indicator("satisfaction_mean_youth").unwrap();
    let volume = indicator("trajectories_ended").unwrap();
    assert!(
        counts_rounded(ReportKind::Mirror, dropout) && counts_rounded(ReportKind::Mirror, mean)
    );
    assert!(
        !counts_rounded(ReportKind::Mirror, volume),
        "own volumes stay exact"
    );
    let mirror = |code: &str, n: u32| Cell {
        contributors: Vec::new(),
        controlled: counts_rounded(ReportKind::Mirror, indicator(code).unwrap()),
        ..cell(code, "total", "total", n, &[])
    };
    let mut cells = vec![
        mirror("dropout_share", 3),
        mirror("satisfaction_mean_youth", 1),
        mirror("trajectories_ended", 3),
        mirror("dropout_share", 40),
    ];
    primary(&mut cells, &config, &[]);
    let suppressed: Vec<bool> = cells.iter().map(|c| c.suppressed).collect();
    assert_eq!(suppressed, [true, true, false, false]);
    assert_eq!(publish(&cells[2], &config).numerator, Some(3));
}

#[test]
fn nb3_holds_for_every_reader_of_a_region_report() {
    let config = PublishConfig::default();
    let contributors = [("a", 20), ("b", 20), ("c", 20), ("d", 20)];
    // a shares with one municipality of the region: to that reader only b, c and d are
    // non-sharing, still three.
    let mut cells = vec![cell("youths_in_care", "total", "total", 80, &contributors)];
    let views = [SharingView::new(), SharingView::from([Arc::from("a")])];
    primary(&mut cells, &config, &views);
    assert!(!cells[0].suppressed);
    // b shares with another one: each reader sees three non-sharing, still published ...
    let views = [
        SharingView::new(),
        SharingView::from([Arc::from("a")]),
        SharingView::from([Arc::from("b")]),
    ];
    primary(&mut cells, &config, &views);
    assert!(!cells[0].suppressed);
    // ... but a reader both shared with sees two.
    let views = [SharingView::from([Arc::from("a"), Arc::from("b")])];
    primary(&mut cells, &config, &views);
    assert!(cells[0].suppressed);
}
