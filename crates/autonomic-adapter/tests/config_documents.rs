//! Every configuration document of the crate loads through one owner (`validated_document!`):
//! the same refusals, typed and naming the field, the same bounds on what an error echoes.

use autonomic_adapter::breaker::BreakerConfig;
use autonomic_adapter::concurrency::ConcurrencyConfig;
use autonomic_adapter::{SessionAdapterConfig, ShadowConfig, ViewOptions};
use autonomic_core::ConfigError;
use autonomic_core::config::MAX_PARSE_MESSAGE;

/// A document type's loaders, a field and a value it refuses, and a valid value for it.
struct Loaders {
    name: &'static str,
    json: fn(&str) -> Result<(), ConfigError>,
    toml: fn(&str) -> Result<(), ConfigError>,
    field: &'static str,
    refused: &'static str,
    valid: &'static str,
}

macro_rules! loaders {
    ($t:ty, $field:literal, $refused:literal, $valid:literal) => {
        Loaders {
            name: stringify!($t),
            json: |d| <$t>::from_json_str(d).map(drop),
            toml: |d| <$t>::from_toml_str(d).map(drop),
            field: $field,
            refused: $refused,
            valid: $valid,
        }
    };
}

fn every_document() -> [Loaders; 5] {
    [
        loaders!(SessionAdapterConfig, "min_samples", "0", "5"),
        loaders!(ShadowConfig, "top_tenants", "0", "4"),
        loaders!(ViewOptions, "max_grants", "0", "10"),
        loaders!(BreakerConfig, "probes", "0", "2"),
        loaders!(ConcurrencyConfig, "floor", "0", "3"),
    ]
}

fn parse_message(err: ConfigError, doc: &str) -> String {
    match err {
        ConfigError::Parse { message, .. } => message,
        other => panic!("{doc}: expected a parse error, got {other:?}"),
    }
}

#[test]
fn a_refused_value_is_typed_and_names_its_field_in_both_formats() {
    for l in every_document() {
        let json = format!(r#"{{"{}": {}}}"#, l.field, l.refused);
        let toml = format!("{} = {}", l.field, l.refused);
        for (err, doc) in
            [((l.json)(&json).unwrap_err(), &json), ((l.toml)(&toml).unwrap_err(), &toml)]
        {
            assert!(matches!(err, ConfigError::InvalidField { .. }), "{}: {doc}: {err:?}", l.name);
            assert_eq!(err.field(), Some(l.field), "{}: {doc}", l.name);
        }
        (l.json)(&format!(r#"{{"{}": {}}}"#, l.field, l.valid)).unwrap();
        (l.toml)(&format!("{} = {}", l.field, l.valid)).unwrap();
        (l.json)("{}").unwrap();
        (l.toml)("").unwrap();
    }
}

#[test]
fn unknown_repeated_and_misshapen_documents_are_parse_errors() {
    for l in every_document() {
        let unknown = r#"{"no_such_field": 1}"#;
        assert!(parse_message((l.json)(unknown).unwrap_err(), unknown).contains("no_such_field"));
        let repeated = format!(r#"{{"{0}": {1}, "{0}": {1}}}"#, l.field, l.valid);
        parse_message((l.json)(&repeated).unwrap_err(), &repeated);
        let repeated = format!("{0} = {1}\n{0} = {1}", l.field, l.valid);
        parse_message((l.toml)(&repeated).unwrap_err(), &repeated);
        for not_a_table in ["[1]", "5", "\"text\"", "{"] {
            parse_message((l.json)(not_a_table).unwrap_err(), not_a_table);
        }
        let wrong_type = format!(r#"{{"{}": "many"}}"#, l.field);
        let message = parse_message((l.json)(&wrong_type).unwrap_err(), &wrong_type);
        assert!(message.starts_with(l.field), "{}: {message}", l.name);
    }
}

#[test]
fn hostile_input_is_echoed_at_most_one_kilobyte() {
    let long_key = format!(r#"{{"{}": 1}}"#, "k".repeat(100_000));
    let long_value = format!(r#"{{"a": "{}"}}"#, "v ".repeat(50_000));
    let toml = format!("{} = 1", "k".repeat(100_000));
    for l in every_document() {
        for (err, doc) in [
            ((l.json)(&long_key).unwrap_err(), "long key"),
            ((l.json)(&long_value).unwrap_err(), "long value"),
            ((l.toml)(&toml).unwrap_err(), "long toml key"),
        ] {
            let message = parse_message(err, doc);
            assert!(message.len() <= MAX_PARSE_MESSAGE, "{}: {doc}: {}", l.name, message.len());
        }
    }
}
