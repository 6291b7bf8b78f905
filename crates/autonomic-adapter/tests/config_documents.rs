//! Every configuration document of the crate loads through one owner (`validated_document!`):
//! the same refusals, typed and naming the field, the same bounds on what an error echoes.

use autonomic_adapter::breaker::BreakerConfig;
use autonomic_adapter::concurrency::ConcurrencyConfig;
use autonomic_adapter::{Budgets, SessionAdapterConfig, ShadowConfig, ViewOptions};
use autonomic_core::ConfigError;
use autonomic_core::config::MAX_PARSE_MESSAGE;

/// A document type's loaders, a top-level field with a value it refuses (written in JSON and
/// in TOML) and the field path the refusal names, and a valid value for the field.
struct Loaders {
    name: &'static str,
    json: fn(&str) -> Result<(), ConfigError>,
    toml: fn(&str) -> Result<(), ConfigError>,
    field: &'static str,
    names: &'static str,
    refused: Value,
    valid: Value,
}

/// A field's value as JSON and as TOML write it.
struct Value {
    json: &'static str,
    toml: &'static str,
}

macro_rules! loaders {
    ($t:ty, $field:literal, $refused:literal, $valid:literal) => {
        loaders!($t, $field, $field, ($refused, $refused), ($valid, $valid))
    };
    ($t:ty, $field:literal, $names:literal, ($rj:literal, $rt:literal), ($vj:literal, $vt:literal)) => {
        Loaders {
            name: stringify!($t),
            json: |d| <$t>::from_json_str(d).map(drop),
            toml: |d| <$t>::from_toml_str(d).map(drop),
            field: $field,
            names: $names,
            refused: Value { json: $rj, toml: $rt },
            valid: Value { json: $vj, toml: $vt },
        }
    };
}

fn every_document() -> [Loaders; 6] {
    [
        loaders!(SessionAdapterConfig, "min_samples", "0", "5"),
        loaders!(ShadowConfig, "top_tenants", "0", "4"),
        loaders!(ViewOptions, "max_grants", "0", "10"),
        loaders!(BreakerConfig, "probes", "0", "2"),
        loaders!(ConcurrencyConfig, "floor", "0", "3"),
        loaders!(
            Budgets,
            "retry_budget",
            "retry_budget.budget_percent",
            (r#"{"budget_percent": 150}"#, "{ budget_percent = 150.0 }"),
            (r#"{"budget_percent": 10}"#, "{ budget_percent = 10.0 }")
        ),
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
        let json = format!(r#"{{"{}": {}}}"#, l.field, l.refused.json);
        let toml = format!("{} = {}", l.field, l.refused.toml);
        for (err, doc) in
            [((l.json)(&json).unwrap_err(), &json), ((l.toml)(&toml).unwrap_err(), &toml)]
        {
            assert!(matches!(err, ConfigError::InvalidField { .. }), "{}: {doc}: {err:?}", l.name);
            assert_eq!(err.field(), Some(l.names), "{}: {doc}", l.name);
        }
        (l.json)(&format!(r#"{{"{}": {}}}"#, l.field, l.valid.json)).unwrap();
        (l.toml)(&format!("{} = {}", l.field, l.valid.toml)).unwrap();
        (l.json)("{}").unwrap();
        (l.toml)("").unwrap();
    }
}

#[test]
fn unknown_repeated_and_misshapen_documents_are_parse_errors() {
    for l in every_document() {
        let unknown = r#"{"no_such_field": 1}"#;
        assert!(parse_message((l.json)(unknown).unwrap_err(), unknown).contains("no_such_field"));
        let repeated = format!(r#"{{"{0}": {1}, "{0}": {1}}}"#, l.field, l.valid.json);
        parse_message((l.json)(&repeated).unwrap_err(), &repeated);
        let repeated = format!("{0} = {1}\n{0} = {1}", l.field, l.valid.toml);
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

/// `Budgets`' refusals name their field in both formats: guarantees summing above 1, a
/// ceiling below its guarantee, NaN (which TOML can write), negative values.
#[test]
fn every_refused_budget_names_its_field_in_both_formats() {
    let t = "00000000-0000-0000-0000-000000000001";
    let cases = [
        (
            format!(
                r#"{{"tenant_shares": {{"tenants": [{{"tenant": "{t}", "guaranteed_slots": 0.7}}],
                "default_class": {{"guaranteed_slots": 0.4}}}}}}"#
            ),
            format!(
                "[[tenant_shares.tenants]]\ntenant = \"{t}\"\nguaranteed_slots = 0.7\n\
                 [tenant_shares.default_class]\nguaranteed_slots = 0.4"
            ),
            "tenant_shares.guaranteed_slots",
        ),
        (
            r#"{"tenant_shares": {"default_class": {"guaranteed_slots": 0.6, "ceiling_slots": 0.5}}}"#
                .into(),
            "[tenant_shares.default_class]\nguaranteed_slots = 0.6\nceiling_slots = 0.5".into(),
            "tenant_shares.default_class.ceiling_slots",
        ),
        (
            format!(
                r#"{{"tenant_shares": {{"tenants": [{{"tenant": "{t}", "guaranteed_resources": 0.7,
                "ceiling_resources": 0.5}}]}}}}"#
            ),
            format!(
                "[[tenant_shares.tenants]]\ntenant = \"{t}\"\nguaranteed_resources = 0.7\n\
                 ceiling_resources = 0.5"
            ),
            "tenant_shares.tenants.ceiling_resources",
        ),
        (
            r#"{"tenant_shares": {"default_class": {"guaranteed_resources": -0.1}}}"#.into(),
            "[tenant_shares.default_class]\nguaranteed_resources = -0.1".into(),
            "tenant_shares.default_class.guaranteed_resources",
        ),
        (
            r#"{"retry_budget": {"budget_percent": -1}}"#.into(),
            "[retry_budget]\nbudget_percent = -1.0".into(),
            "retry_budget.budget_percent",
        ),
    ];
    for (json, toml, field) in cases {
        for (err, doc) in [
            (Budgets::from_json_str(&json).unwrap_err(), &json),
            (Budgets::from_toml_str(&toml).unwrap_err(), &toml),
        ] {
            assert!(matches!(err, ConfigError::InvalidField { .. }), "{doc}: {err:?}");
            assert_eq!(err.field(), Some(field), "{doc}");
        }
    }
    // JSON cannot write NaN; TOML can.
    for (toml, field) in [
        (
            "[tenant_shares.default_class]\nceiling_slots = nan",
            "tenant_shares.default_class.ceiling_slots",
        ),
        ("[retry_budget]\nbudget_percent = nan", "retry_budget.budget_percent"),
    ] {
        let err = Budgets::from_toml_str(toml).unwrap_err();
        assert!(matches!(err, ConfigError::InvalidField { .. }), "{toml}: {err:?}");
        assert_eq!(err.field(), Some(field), "{toml}");
    }
    // A listed tenant's refusal names the tenant in its value.
    let toml = format!("[[tenant_shares.tenants]]\ntenant = \"{t}\"\nguaranteed_slots = nan");
    let err = Budgets::from_toml_str(&toml).unwrap_err();
    assert_eq!(err.field(), Some("tenant_shares.tenants.guaranteed_slots"));
    assert!(err.to_string().contains(t), "{err}");
}
