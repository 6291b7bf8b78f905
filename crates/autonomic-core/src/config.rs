//! Validation of configuration values, shared by every layer: [`ConfigError`] and the checks
//! that produce it, so that every refused value names its field in the same words.

use std::fmt;

use thiserror::Error;

/// A configuration value was refused, or a configuration document could not be read.
///
/// ```
/// use autonomic_core::{config, ConfigError};
/// let err = config::fraction("min_slo_compliance", f64::NAN).unwrap_err();
/// assert_eq!(err.to_string(), "min_slo_compliance = NaN: must be a finite number");
/// assert!(matches!(err, ConfigError::InvalidField { field: "min_slo_compliance", .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// A field holds a value outside what it may hold.
    #[error("{field} = {value}: {reason}")]
    InvalidField {
        /// The field's name, as it is spelled in configuration files.
        field: &'static str,
        /// The refused value, printed.
        value: String,
        /// What the value must be.
        reason: &'static str,
    },
    /// The document could not be parsed (syntax, unknown field, wrong type).
    #[error("invalid {format} configuration: {message}")]
    Parse {
        /// `"json"`, `"toml"`, ...
        format: &'static str,
        /// The parser's message.
        message: String,
    },
}

impl ConfigError {
    /// A refused field.
    pub fn invalid(field: &'static str, value: impl ToString, reason: &'static str) -> Self {
        ConfigError::InvalidField { field, value: value.to_string(), reason }
    }

    /// The refused field's name, if the error is about one field.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ConfigError::InvalidField { field, .. } => Some(field),
            ConfigError::Parse { .. } => None,
        }
    }
}

/// A finite number.
pub fn finite(field: &'static str, value: f64) -> Result<f64, ConfigError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ConfigError::invalid(field, value, "must be a finite number"))
    }
}

/// A fraction in `0.0..=1.0`.
pub fn fraction(field: &'static str, value: f64) -> Result<f64, ConfigError> {
    let v = finite(field, value)?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(ConfigError::invalid(field, v, "must be between 0.0 and 1.0"))
    }
}

/// A finite number `>= 0`.
pub fn non_negative(field: &'static str, value: f64) -> Result<f64, ConfigError> {
    let v = finite(field, value)?;
    if v >= 0.0 { Ok(v) } else { Err(ConfigError::invalid(field, v, "must not be negative")) }
}

/// A finite number `> 0`.
pub fn positive(field: &'static str, value: f64) -> Result<f64, ConfigError> {
    let v = finite(field, value)?;
    if v > 0.0 { Ok(v) } else { Err(ConfigError::invalid(field, v, "must be greater than zero")) }
}

/// An integer `> 0`.
pub fn nonzero(field: &'static str, value: u64) -> Result<u64, ConfigError> {
    if value > 0 {
        Ok(value)
    } else {
        Err(ConfigError::invalid(field, value, "must be greater than zero"))
    }
}

/// Longest parse message a [`ConfigError::Parse`] keeps, in bytes. Parsers quote the
/// offending input (an unknown key, a bad value), which a hostile document makes as large as
/// it likes; the message is cut here.
pub const MAX_PARSE_MESSAGE: usize = 1024;

impl ConfigError {
    /// A document in `format` could not be read: `message` (a parser's error), trimmed, with
    /// every run of non-space text cut at 64 bytes and the whole at [`MAX_PARSE_MESSAGE`]
    /// bytes, lengths noted. Every loader of every layer reports parse failures through here.
    ///
    /// ```
    /// use autonomic_core::ConfigError;
    /// let key = "k".repeat(10_000_000);
    /// let err = ConfigError::parse("toml", format!("unknown field `{key}`, expected `a`"));
    /// assert_eq!(
    ///     err.to_string(),
    ///     format!("invalid toml configuration: unknown field `{}... (10000003 bytes) expected `a`",
    ///         &key[..63]),
    /// );
    /// let err = ConfigError::parse("json", "word ".repeat(1_000));
    /// assert!(err.to_string().len() < 1_100);
    /// assert!(err.to_string().ends_with("(4999 bytes in all)"));
    /// ```
    pub fn parse(format: &'static str, message: impl fmt::Display) -> Self {
        ConfigError::Parse { format, message: bounded(message.to_string().trim_end()) }
    }
}

/// The error `parse` makes of a parser's error, for `map_err`: see [`ConfigError::parse`].
pub fn parse_error<E: fmt::Display>(format: &'static str) -> impl Fn(E) -> ConfigError {
    move |e| ConfigError::parse(format, e)
}

/// Runs a serde parse of a `format` document whose types validate as they deserialize, and
/// returns what it read or the error: the [`ConfigError`] a type refused with (through
/// [`refused`], so a nested section's refused value still comes back as
/// [`ConfigError::InvalidField`]), or else the parser's message, bounded.
///
/// ```
/// use autonomic_core::{config, ConfigError, GlobalQ};
/// let err = config::load("json", || serde_json::from_str::<GlobalQ>(r#"{"max_failure_rate": 2}"#))
///     .unwrap_err();
/// assert_eq!(err.field(), Some("max_failure_rate"));
/// let err = config::load("json", || serde_json::from_str::<GlobalQ>("[")).unwrap_err();
/// assert!(matches!(err, ConfigError::Parse { format: "json", .. }));
/// ```
pub fn load<T, E: fmt::Display>(
    format: &'static str,
    parse: impl FnOnce() -> Result<T, E>,
) -> Result<T, ConfigError> {
    REFUSED.with(|r| r.take());
    let result = parse();
    let refusal = REFUSED.with(|r| r.take());
    result.map_err(|e| {
        let message = e.to_string();
        match refusal {
            // Only if this refusal is what ended the parse (a format may try alternatives and
            // fail later for another reason).
            Some(refusal) if message.contains(&refusal.to_string()) => refusal,
            _ => ConfigError::parse(format, message),
        }
    })
}

/// What a validating `Deserialize` impl returns for a refused value: the deserializer's error
/// with `err`'s message, and `err` itself kept for [`load`] on this thread, so the loader
/// can hand back the typed error.
pub fn refused<E: serde::de::Error>(err: ConfigError) -> E {
    let error = E::custom(&err);
    REFUSED.with(|r| r.replace(Some(err)));
    error
}

std::thread_local! {
    /// The last refusal of a validating `Deserialize` impl on this thread, until [`load`]
    /// takes it.
    static REFUSED: std::cell::RefCell<Option<ConfigError>> = const { std::cell::RefCell::new(None) };
}

/// Longest run of non-space text a parse message quotes whole, in bytes: a longer one (a huge
/// key or value, the parser's line of context under it) is cut to this, with its length.
const MAX_QUOTED_RUN: usize = 64;

/// `message` with every run of non-space text longer than [`MAX_QUOTED_RUN`] cut to it, and
/// the whole cut at [`MAX_PARSE_MESSAGE`] bytes (on character boundaries), lengths noted: the
/// parser's words around a huge input survive, the input does not.
fn bounded(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_PARSE_MESSAGE + MAX_QUOTED_RUN));
    let mut rest = message;
    while out.len() <= MAX_PARSE_MESSAGE {
        let run = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (text, after) = rest.split_at(run);
        if text.len() > MAX_QUOTED_RUN {
            let cut = text.floor_char_boundary(MAX_QUOTED_RUN);
            out.push_str(&text[..cut]);
            out.push_str(&format!("... ({} bytes)", text.len()));
        } else {
            out.push_str(text);
        }
        let mut spaces = after.chars();
        match spaces.next() {
            Some(space) => out.push(space),
            None => return out,
        }
        rest = spaces.as_str();
    }
    let cut = out.floor_char_boundary(MAX_PARSE_MESSAGE);
    out.truncate(cut);
    out.push_str(&format!("... ({} bytes in all)", message.len()));
    out
}

/// Deserializes `T` from a map of fields only: a configuration section is a table of named
/// fields, never a list of values in field order (which serde's derived impls would accept).
/// The validating `Deserialize` impls of the configuration types read their fields through
/// this.
pub fn from_map<'de, T, D>(deserializer: D) -> Result<T, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    struct Fields<T>(std::marker::PhantomData<T>);
    impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Fields<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a table of fields")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    deserializer.deserialize_map(Fields(std::marker::PhantomData))
}
