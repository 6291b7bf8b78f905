//! [`validated_document!`]: the document side of a configuration section whose fields all
//! have defaults and are checked by its `validate`: JSON and TOML loaders, and serde impls
//! that validate as they read ([`validated_section!`], for a section inside a document).
//!
//! The one owner of how the crate's configuration documents are read:
//! [`SessionAdapterConfig`](crate::SessionAdapterConfig),
//! [`ShadowConfig`](crate::ShadowConfig), [`ViewOptions`](crate::ViewOptions),
//! [`BreakerConfig`](crate::breaker::BreakerConfig),
//! [`ConcurrencyConfig`](crate::concurrency::ConcurrencyConfig) and
//! [`Budgets`](crate::Budgets) each state their fields and their `validate`, and invoke it;
//! none parses on its own. The sections of a document that validate as they are read
//! ([`TenantShares`](crate::TenantShares) and [`RetryBudget`](crate::RetryBudget), in
//! `Budgets`) invoke [`validated_section!`], the serde half. JSON errors go through
//! [`load_json`](crate::config::load_json) (the refused field's path named), TOML errors
//! through core's [`config::load`](autonomic_core::config::load); both bound what they echo
//! ([`MAX_PARSE_MESSAGE`](autonomic_core::config::MAX_PARSE_MESSAGE)). Proof:
//! `tests/config_documents.rs`, over every type above.

/// For a `$section` that derives `Serialize, Deserialize` with
/// `#[serde(remote = "Self", deny_unknown_fields, default)]` and has
/// `fn validate(&self) -> Result<(), ConfigError>`: `from_json_str`, `from_toml_str`, and
/// the [`validated_section!`] serde impls.
macro_rules! validated_document {
    ($section:ident) => {
        impl $section {
            /// Reads and validates a JSON document; missing fields take their defaults,
            /// unknown and repeated fields are refused.
            pub fn from_json_str(json: &str) -> Result<Self, autonomic_core::ConfigError> {
                $crate::config::load_json(json)
            }

            /// Reads and validates a TOML document; missing fields take their defaults,
            /// unknown and repeated fields are refused.
            pub fn from_toml_str(toml: &str) -> Result<Self, autonomic_core::ConfigError> {
                autonomic_core::config::load("toml", || toml::from_str(toml))
            }
        }

        $crate::validated::validated_section!($section);
    };
}

/// For a `$section` of a document (a table inside one, whose refusals name their field from
/// the document's root, so it has no loaders of its own) that derives `Serialize,
/// Deserialize` with `#[serde(remote = "Self", deny_unknown_fields, default)]` and has
/// `fn validate(&self) -> Result<(), ConfigError>`: `Serialize`/`Deserialize` impls that
/// read a table of fields only and refuse, typed
/// ([`ConfigError::InvalidField`](autonomic_core::ConfigError)), what `validate` refuses.
macro_rules! validated_section {
    ($section:ident) => {
        impl<'de> serde::Deserialize<'de> for $section {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                /// The fields as written, before validation.
                struct Unchecked($section);
                impl<'de> serde::Deserialize<'de> for Unchecked {
                    fn deserialize<D: serde::Deserializer<'de>>(
                        deserializer: D,
                    ) -> Result<Self, D::Error> {
                        $section::deserialize(deserializer).map(Unchecked)
                    }
                }
                let Unchecked(section) = autonomic_core::config::from_map(deserializer)?;
                section.validate().map_err(autonomic_core::config::refused)?;
                Ok(section)
            }
        }

        impl serde::Serialize for $section {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $section::serialize(self, serializer)
            }
        }
    };
}

pub(crate) use {validated_document, validated_section};
