//! The code lists of BIJ v7 and the iJw 3.2 mapping, as closed enums.
//!
//! Each list is also published as CSV in `schemas/codes/`; a test keeps the two in step.

/// What every code list offers: parse from its code, print its code and labels.
pub trait CodeList: Sized + Copy + 'static {
    /// The submission column (or list) this code list belongs to.
    const LIST_NAME: &'static str;
    /// Every value, in code order.
    const ALL: &'static [Self];
    /// Parses an exact code such as `"01"`.
    fn from_code(code: &str) -> Option<Self>;
    /// The code as delivered, such as `"01"`.
    fn code(self) -> &'static str;
    /// The Dutch label (the users' own words).
    fn label_nl(self) -> &'static str;
    /// The English label.
    fn label_en(self) -> &'static str;

    /// The valid codes joined for a message, such as `"01, 02, 03"`.
    fn codes_joined() -> String {
        Self::ALL
            .iter()
            .map(|c| c.code())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

macro_rules! code_list {
    (
        $(#[$meta:meta])*
        $name:ident, $list:literal {
            $( $variant:ident = $code:literal, $nl:literal, $en:literal; )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $( #[doc = $en] #[serde(rename = $code)] $variant, )+
        }

        impl CodeList for $name {
            const LIST_NAME: &'static str = $list;
            const ALL: &'static [Self] = &[$(Self::$variant),+];

            fn from_code(code: &str) -> Option<Self> {
                match code {
                    $( $code => Some(Self::$variant), )+
                    _ => None,
                }
            }

            fn code(self) -> &'static str {
                match self { $( Self::$variant => $code, )+ }
            }

            fn label_nl(self) -> &'static str {
                match self { $( Self::$variant => $nl, )+ }
            }

            fn label_en(self) -> &'static str {
                match self { $( Self::$variant => $en, )+ }
            }
        }
    };
}

code_list! {
    /// Sex as registered (BIJ `geslacht`).
    Geslacht, "geslacht" {
        Man = "M", "man", "male";
        Vrouw = "V", "vrouw", "female";
        Onbekend = "O", "onbekend", "unknown";
    }
}

code_list! {
    /// Who referred the child (BIJ `verwijzer`); code 07 does not exist in BIJ v7.
    Verwijzer, "verwijzer" {
        GemeentelijkeToegang = "01", "gemeentelijke toegang", "municipal access team";
        Huisarts = "02", "huisarts", "general practitioner";
        Jeugdarts = "03", "jeugdarts", "youth health physician";
        GecertificeerdeInstelling = "04", "gecertificeerde instelling", "certified institution";
        MedischSpecialist = "05", "medisch specialist", "medical specialist";
        GeenVerwijzer = "06", "geen verwijzer", "no referrer";
        RechterOfficier = "08", "rechter, officier van justitie of JJI", "judge, public prosecutor or youth custodial institution";
    }
}

code_list! {
    /// Form of care (BIJ `hulpvorm`), split into without (0x) and with (1x) residential care.
    Hulpvorm, "hulpvorm" {
        WijkBuurtteam = "01", "jeugdhulp door wijk- of buurtteam", "youth care by a neighbourhood team";
        AmbulantLocatieAanbieder = "02", "ambulante jeugdhulp op locatie van de aanbieder", "outpatient care at the provider's location";
        Daghulp = "03", "daghulp", "day care";
        NetwerkJeugdige = "04", "jeugdhulp in de leefomgeving van de jeugdige", "care in the youth's own environment";
        Pleegzorg = "11", "pleegzorg", "foster care";
        Gezinsgericht = "12", "gezinsgerichte jeugdhulp met verblijf", "family-style residential care";
        GeslotenPlaatsing = "13", "gesloten plaatsing", "secure residential placement";
        OverigVerblijf = "14", "overige jeugdhulp met verblijf", "other residential care";
    }
}

impl Hulpvorm {
    /// Whether this form of care includes residence (verblijf), BIJ codes 11..14.
    pub fn met_verblijf(self) -> bool {
        matches!(
            self,
            Self::Pleegzorg | Self::Gezinsgericht | Self::GeslotenPlaatsing | Self::OverigVerblijf
        )
    }
}

code_list! {
    /// Whether the trajectory started in crisis (BIJ `gestart_met_crisis`).
    GestartMetCrisis, "gestart_met_crisis" {
        Ja = "01", "ja", "yes";
        Nee = "02", "nee", "no";
    }
}

code_list! {
    /// Why the trajectory ended (BIJ `reden_beeindiging`).
    RedenBeeindiging, "reden_beeindiging" {
        VolgensPlan = "01", "volgens plan", "as planned";
        VoortijdigOvereenstemming = "02", "voortijdig, in overeenstemming", "early, by mutual agreement";
        VoortijdigClient = "03", "voortijdig, eenzijdig door cliënt", "early, unilaterally by the client";
        VoortijdigAanbieder = "04", "voortijdig, eenzijdig door aanbieder", "early, unilaterally by the provider";
        ExterneOmstandigheden = "05", "voortijdig wegens externe omstandigheden", "early due to external circumstances";
    }
}

code_list! {
    /// Whether the youth can continue without help (BIJ §4.4), per informant.
    ZonderHulpVerder, "zonder_hulp_verder" {
        ZelfdeOfZwaarder = "01", "zelfde of zwaardere hulp nodig", "same or heavier help needed";
        LichtereHulp = "02", "lichtere hulp volstaat", "lighter help suffices";
        TerugkeerVerwacht = "03", "nu geen hulp, verwacht terug te komen", "no help now, expects to return";
        GeenHulpNodig = "04", "geen verdere hulp nodig", "no further help needed";
    }
}

code_list! {
    /// Whether the agreed goals of the trajectory were achieved (NJi outcome indicator 3.4).
    /// Spiegel's operationalisation, pending a national definition.
    DoelenBehaald, "doelen_behaald" {
        Volledig = "01", "volledig behaald", "fully achieved";
        Gedeeltelijk = "02", "gedeeltelijk behaald", "partly achieved";
        NietBehaald = "03", "niet behaald", "not achieved";
    }
}

code_list! {
    /// Whether the problems decreased (NJi outcome indicator 3.3). Spiegel's
    /// operationalisation, pending a national definition.
    ProblematiekAfgenomen, "problematiek_afgenomen" {
        Ja = "01", "ja", "yes";
        Nee = "02", "nee", "no";
    }
}

code_list! {
    /// Who judged `doelen_behaald` and `problematiek_afgenomen`. Spiegel's operationalisation,
    /// pending a national definition.
    DoelrealisatieInformant, "doelrealisatie_informant" {
        Jeugdige = "01", "jeugdige", "youth";
        Ouder = "02", "ouder/verzorger", "parent/carer";
        JeugdigeEnOuder = "03", "jeugdige en ouder samen", "youth and parent together";
        MetProfessional = "04", "jeugdprofessional samen met jeugdige/ouder", "youth-care professional together with youth/parent";
    }
}

/// Which code list a submission uses for `reden_beeindiging`.
///
/// BIJ codes 01..05 are the default. Software built for the iJw messages delivers JZ588 codes;
/// those that cannot be confused with a BIJ code (31..35, 39) are always mapped. JZ588 code 02
/// collides with BIJ 02 ("voortijdig in overeenstemming"), so a provider whose file carries
/// JZ588 codes says so explicitly and then every value is read as JZ588.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedenCodelijst {
    /// BIJ v7 codes, with the unambiguous JZ588 codes mapped.
    #[default]
    Bij,
    /// iJw JZ588 codes only, all mapped to BIJ.
    Jz588,
}

impl RedenCodelijst {
    /// Maps a delivered code to BIJ; `Some((reason, mapped))` where `mapped` tells whether the
    /// value was a JZ588 code that was translated.
    pub fn resolve(self, code: &str) -> Option<(RedenBeeindiging, bool)> {
        use RedenBeeindiging as R;
        let jz588 = match code {
            "31" | "39" => Some(R::VolgensPlan),
            "34" => Some(R::VoortijdigOvereenstemming),
            "32" => Some(R::VoortijdigClient),
            "33" => Some(R::VoortijdigAanbieder),
            "35" => Some(R::ExterneOmstandigheden),
            _ => None,
        };
        match self {
            Self::Bij => R::from_code(code)
                .map(|r| (r, false))
                .or(jz588.map(|r| (r, true))),
            Self::Jz588 => match code {
                "02" => Some((R::ExterneOmstandigheden, true)),
                _ => jz588.map(|r| (r, true)),
            },
        }
    }

    /// The accepted codes, for messages.
    pub fn accepted_codes(self) -> &'static str {
        match self {
            Self::Bij => "01, 02, 03, 04, 05 (of JZ588 / or JZ588: 31, 32, 33, 34, 35, 39)",
            Self::Jz588 => "02, 31, 32, 33, 34, 35, 39",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for h in Hulpvorm::ALL {
            assert_eq!(Hulpvorm::from_code(h.code()), Some(*h));
        }
        assert_eq!(Verwijzer::from_code("07"), None);
        assert_eq!(
            Hulpvorm::from_code("1"),
            None,
            "no integer path: '1' is not '01'"
        );
        assert!(Hulpvorm::Pleegzorg.met_verblijf());
        assert!(!Hulpvorm::Daghulp.met_verblijf());
    }

    #[test]
    fn jz588_mapping_follows_the_spec_table() {
        use RedenBeeindiging as R;
        let bij = RedenCodelijst::Bij;
        let cases = [
            ("31", R::VolgensPlan),
            ("34", R::VoortijdigOvereenstemming),
            ("32", R::VoortijdigClient),
            ("33", R::VoortijdigAanbieder),
            ("35", R::ExterneOmstandigheden),
            ("39", R::VolgensPlan),
        ];
        for (code, expected) in cases {
            assert_eq!(bij.resolve(code), Some((expected, true)), "{code}");
            assert_eq!(RedenCodelijst::Jz588.resolve(code), Some((expected, true)));
        }
        assert_eq!(
            bij.resolve("02"),
            Some((R::VoortijdigOvereenstemming, false))
        );
        assert_eq!(
            RedenCodelijst::Jz588.resolve("02"),
            Some((R::ExterneOmstandigheden, true))
        );
        assert_eq!(RedenCodelijst::Jz588.resolve("01"), None);
        assert_eq!(bij.resolve("06"), None);
    }
}
