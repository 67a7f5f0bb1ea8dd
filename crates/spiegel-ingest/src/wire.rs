//! The normalised records as an Arrow IPC stream: what the ingest stage sends on the submissions
//! topic, one message per accepted submission (docs/submission.md: a submission is applied whole or
//! not at all).

use std::sync::Arc;

use arrow_array::builder::{
    Date32Builder, Decimal128Builder, StringBuilder, StringDictionaryBuilder, UInt8Builder,
};
use arrow_array::types::Int16Type;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema};
use spiegel_core::{Agb, CodeList, Period};
use spiegel_pseudonymise::Sentinel;

use spiegel_core::ipc::date32;

use crate::{NormalisedRecord, Subject, normalised_schema};

pub use spiegel_core::wire::{META_PERIOD, META_PROVIDER, META_SUBMISSION};

/// One accepted submission as a record batch of [`normalised_schema`], with the provider,
/// period and submission id in the schema metadata.
pub fn submission_batch(
    provider: Agb,
    period: Period,
    submission: &str,
    records: &[NormalisedRecord],
) -> Result<RecordBatch, ArrowError> {
    let rows = records.len();
    let repeated = |value: &str| -> ArrayRef {
        let mut b = StringDictionaryBuilder::<Int16Type>::new();
        b.append_values(value, rows);
        Arc::new(b.finish())
    };
    let mut subject_kind = StringDictionaryBuilder::<Int16Type>::new();
    let mut token = StringBuilder::with_capacity(rows, rows * 56);
    let mut age_years = UInt8Builder::with_capacity(rows);
    let mut code_columns: [StringDictionaryBuilder<Int16Type>; 12] =
        std::array::from_fn(|_| StringDictionaryBuilder::new());
    let mut dates: [Date32Builder; 3] = std::array::from_fn(|_| Date32Builder::with_capacity(rows));
    let mut scores: [UInt8Builder; 2] = std::array::from_fn(|_| UInt8Builder::with_capacity(rows));
    let mut amount = Decimal128Builder::with_capacity(rows);
    for record in records {
        match &record.subject {
            Subject::Token(t) => {
                subject_kind.append_value("token");
                token.append_value(t.to_wire());
            }
            Subject::Unlinkable(s) => {
                subject_kind.append_value(match s {
                    Sentinel::Unknown => "unknown",
                    Sentinel::Unborn => "unborn",
                });
                token.append_null();
            }
        }
        let t = &record.trajectory;
        age_years.append_value(t.age_years);
        let [
            age_band,
            geslacht,
            gemeente,
            verwijzer,
            hulpvorm,
            crisis,
            reden,
            zhv_j,
            zhv_o,
            doelen,
            problematiek,
            informant,
        ] = &mut code_columns;
        age_band.append_value(t.age_band.label());
        geslacht.append_value(t.geslacht.code());
        gemeente.append_value(t.gemeente.to_string());
        verwijzer.append_value(t.verwijzer.code());
        hulpvorm.append_value(t.hulpvorm.code());
        crisis.append_value(t.gestart_met_crisis.code());
        reden.append_option(t.reden_beeindiging.map(CodeList::code));
        zhv_j.append_option(t.zonder_hulp_verder_jeugdige.map(CodeList::code));
        zhv_o.append_option(t.zonder_hulp_verder_ouder.map(CodeList::code));
        doelen.append_option(t.doelen_behaald.map(CodeList::code));
        problematiek.append_option(t.problematiek_afgenomen.map(CodeList::code));
        informant.append_option(t.doelrealisatie_informant.map(CodeList::code));
        let [aanvang, einde, aanmelding] = &mut dates;
        aanvang.append_value(date32(t.datum_aanvang));
        einde.append_option(t.datum_einde.map(date32));
        aanmelding.append_option(t.datum_aanmelding.map(date32));
        scores[0].append_option(t.tevredenheid_jeugdige);
        scores[1].append_option(t.tevredenheid_ouder);
        amount.append_option(t.gedeclareerd_bedrag_cent.map(i128::from));
    }
    let [
        age_band,
        geslacht,
        gemeente,
        verwijzer,
        hulpvorm,
        crisis,
        reden,
        zhv_j,
        zhv_o,
        doelen,
        problematiek,
        informant,
    ] = code_columns.map(|mut b| Arc::new(b.finish()) as ArrayRef);
    let [aanvang, einde, aanmelding] = dates.map(|mut b| Arc::new(b.finish()) as ArrayRef);
    let [tev_j, tev_o] = scores.map(|mut b| Arc::new(b.finish()) as ArrayRef);
    let amount: ArrayRef = Arc::new(amount.finish().with_precision_and_scale(14, 2)?);
    let columns = vec![
        repeated(provider.as_str()),
        repeated(&period.to_string()),
        Arc::new(subject_kind.finish()),
        Arc::new(token.finish()),
        Arc::new(age_years.finish()),
        age_band,
        geslacht,
        gemeente,
        verwijzer,
        hulpvorm,
        crisis,
        aanvang,
        einde,
        reden,
        tev_j,
        tev_o,
        zhv_j,
        zhv_o,
        aanmelding,
        amount,
        doelen,
        problematiek,
        informant,
    ];
    let metadata: std::collections::HashMap<String, String> = [
        (META_PROVIDER.to_owned(), provider.as_str().to_owned()),
        (META_PERIOD.to_owned(), period.to_string()),
        (META_SUBMISSION.to_owned(), submission.to_owned()),
    ]
    .into_iter()
    .collect();
    RecordBatch::try_new(Arc::new(wire_schema().with_metadata(metadata)), columns)
}

/// [`normalised_schema`] as it travels: repeated texts dictionary-encoded.
pub fn wire_schema() -> Schema {
    let fields: Vec<Field> = normalised_schema()
        .fields()
        .iter()
        .map(|f| {
            if f.data_type() == &DataType::Utf8
                && f.name() != spiegel_core::wire::submission_column::CLIENT_TOKEN
            {
                f.as_ref().clone().with_data_type(DataType::Dictionary(
                    Box::new(DataType::Int16),
                    Box::new(DataType::Utf8),
                ))
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Schema::new(fields)
}
