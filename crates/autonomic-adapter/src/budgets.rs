//! [`Budgets`]: the doctrine's budgets below Global Q: tenant shares of its capacity
//! ([`TenantShares`]) and a bound on retries in flight ([`RetryBudget`]), with their
//! validation. `Budgets` is a configuration document (JSON and TOML loaders), read like the
//! crate's others through `validated_document!` (`validated.rs`); its two sections
//! validate as they are read (`validated_section!`).
//!
//! Every value is validated when it is deserialized and when it is swapped in
//! ([`SessionAdapter::update_budgets`](crate::SessionAdapter::update_budgets)); a refused
//! value comes back as [`ConfigError::InvalidField`] naming the field (for a listed tenant,
//! the value names the tenant too).

use autonomic_core::TenantId;
use autonomic_core::config::{self as check, ConfigError};
use serde::{Deserialize, Serialize};

/// The budgets below Global Q: each is off when absent (the default).
///
/// ```
/// use autonomic_adapter::Budgets;
/// let budgets = Budgets::from_toml_str(r#"
///     [tenant_shares.default_class]
///     guaranteed_slots = 0.2
///     ceiling_slots = 0.5
///
///     [[tenant_shares.tenants]]
///     tenant = "00000000-0000-0000-0000-00000000000a"
///     guaranteed_slots = 0.5
///     ceiling_slots = 1.0
///
///     [retry_budget]
///     budget_percent = 20.0
///     min_retry_concurrency = 3
/// "#)?;
/// assert_eq!(budgets.tenant_shares.as_ref().unwrap().tenants.len(), 1);
/// assert_eq!(budgets.retry_budget.unwrap().min_retry_concurrency, 3);
///
/// let err = Budgets::from_json_str(r#"{"tenant_shares": {"default_class":
///     {"guaranteed_slots": 0.6, "ceiling_slots": 0.5}}}"#).unwrap_err();
/// assert_eq!(err.field(), Some("tenant_shares.default_class.ceiling_slots"));
/// # Ok::<(), autonomic_core::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields, default)]
pub struct Budgets {
    /// Per-tenant guaranteed shares and ceilings of `max_concurrent_adaptations` and
    /// `max_total_resources` (off when `None`: one flat pool, as without budgets).
    pub tenant_shares: Option<TenantShares>,
    /// A bound on `RetryTask` decisions in flight (off when `None`).
    pub retry_budget: Option<RetryBudget>,
}

/// Guaranteed shares and ceilings by tenant: the listed tenants, each with its own, and the
/// *default class*, which every tenant not listed belongs to (together: they share one
/// guarantee and one ceiling, so any number of unlisted tenants costs no memory).
///
/// Shares are fractions of Global Q's caps, turned into slots and resource units by rounding
/// down; the guarantees of the listed tenants and of the default class sum to at most 1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields, default)]
pub struct TenantShares {
    /// The listed tenants (at most [`MAX_LISTED_TENANTS`](Self::MAX_LISTED_TENANTS), each
    /// once).
    pub tenants: Vec<TenantShare>,
    /// The share of every tenant not listed, together (default: no guarantee, ceiling the
    /// whole cap).
    pub default_class: Share,
}

impl TenantShares {
    /// Largest number of listed tenants.
    pub const MAX_LISTED_TENANTS: usize = 4096;

    /// Checks every share, the sums of the guarantees, and that no tenant is listed twice.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.tenants.len() > Self::MAX_LISTED_TENANTS {
            return Err(ConfigError::invalid(
                "tenant_shares.tenants",
                self.tenants.len(),
                "lists more tenants than the documented maximum (4096)",
            ));
        }
        self.default_class.validate(&DEFAULT_CLASS_FIELDS, None)?;
        for listed in &self.tenants {
            listed.share().validate(&TENANT_FIELDS, Some(listed.tenant))?;
        }
        let mut ids: Vec<TenantId> = self.tenants.iter().map(|t| t.tenant).collect();
        ids.sort_unstable();
        if let Some(pair) = ids.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(ConfigError::invalid(
                "tenant_shares.tenants.tenant",
                pair[0],
                "is listed more than once",
            ));
        }
        let shares = || self.tenants.iter().map(TenantShare::share).chain([self.default_class]);
        guarantees_fit("tenant_shares.guaranteed_slots", shares().map(|s| s.guaranteed_slots))?;
        guarantees_fit(
            "tenant_shares.guaranteed_resources",
            shares().map(|s| s.guaranteed_resources),
        )
    }
}

crate::validated::validated_section!(TenantShares);

/// Slack allowed on the sum of guarantees for the rounding of decimal fractions (`0.1 + 0.2 +
/// 0.7`); the gate never lets the guaranteed slots or units sum above the cap whatever it is.
const SUM_SLACK: f64 = 1e-9;

fn guarantees_fit(
    field: &'static str,
    shares: impl Iterator<Item = f64>,
) -> Result<(), ConfigError> {
    let sum: f64 = shares.sum();
    if sum > 1.0 + SUM_SLACK {
        return Err(ConfigError::invalid(field, sum, "the guarantees sum above 1.0"));
    }
    Ok(())
}

/// One class's guaranteed share and ceiling of Global Q's two caps, as fractions of them.
///
/// *Guaranteed*: the class is never refused for lack of capacity while what it holds stays
/// within this (see the [crate documentation](crate#tenant-shares)). *Ceiling*: it never
/// holds more than this, borrowing the capacity nobody is guaranteed up to it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Share {
    /// Guaranteed fraction of `max_concurrent_adaptations` (`0.0..=1.0`; default 0).
    pub guaranteed_slots: f64,
    /// Ceiling fraction of `max_concurrent_adaptations` (`guaranteed_slots..=1.0`; default 1).
    pub ceiling_slots: f64,
    /// Guaranteed fraction of `max_total_resources` (`0.0..=1.0`; default 0).
    pub guaranteed_resources: f64,
    /// Ceiling fraction of `max_total_resources` (`guaranteed_resources..=1.0`; default 1).
    pub ceiling_resources: f64,
}

impl Default for Share {
    fn default() -> Self {
        Share {
            guaranteed_slots: 0.0,
            ceiling_slots: 1.0,
            guaranteed_resources: 0.0,
            ceiling_resources: 1.0,
        }
    }
}

/// The field names a share's errors carry.
struct ShareFields {
    guaranteed_slots: &'static str,
    ceiling_slots: &'static str,
    guaranteed_resources: &'static str,
    ceiling_resources: &'static str,
}

const DEFAULT_CLASS_FIELDS: ShareFields = ShareFields {
    guaranteed_slots: "tenant_shares.default_class.guaranteed_slots",
    ceiling_slots: "tenant_shares.default_class.ceiling_slots",
    guaranteed_resources: "tenant_shares.default_class.guaranteed_resources",
    ceiling_resources: "tenant_shares.default_class.ceiling_resources",
};

const TENANT_FIELDS: ShareFields = ShareFields {
    guaranteed_slots: "tenant_shares.tenants.guaranteed_slots",
    ceiling_slots: "tenant_shares.tenants.ceiling_slots",
    guaranteed_resources: "tenant_shares.tenants.guaranteed_resources",
    ceiling_resources: "tenant_shares.tenants.ceiling_resources",
};

impl Share {
    fn validate(&self, names: &ShareFields, tenant: Option<TenantId>) -> Result<(), ConfigError> {
        let named = |e: ConfigError| match (e, tenant) {
            (ConfigError::InvalidField { field, value, reason }, Some(tenant)) => {
                ConfigError::InvalidField { field, value: format!("{value} ({tenant})"), reason }
            }
            (e, _) => e,
        };
        let pairs = [
            (
                names.guaranteed_slots,
                self.guaranteed_slots,
                names.ceiling_slots,
                self.ceiling_slots,
            ),
            (
                names.guaranteed_resources,
                self.guaranteed_resources,
                names.ceiling_resources,
                self.ceiling_resources,
            ),
        ];
        for (guaranteed_name, guaranteed, ceiling_name, ceiling) in pairs {
            check::fraction(guaranteed_name, guaranteed).map_err(named)?;
            check::fraction(ceiling_name, ceiling).map_err(named)?;
            if ceiling < guaranteed {
                return Err(named(ConfigError::invalid(
                    ceiling_name,
                    ceiling,
                    "must be at least the guarantee",
                )));
            }
        }
        Ok(())
    }
}

/// A listed tenant's share (the fields of [`Share`], with the tenant).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantShare {
    /// The tenant.
    pub tenant: TenantId,
    /// See [`Share::guaranteed_slots`] (default 0).
    #[serde(default)]
    pub guaranteed_slots: f64,
    /// See [`Share::ceiling_slots`] (default 1).
    #[serde(default = "one")]
    pub ceiling_slots: f64,
    /// See [`Share::guaranteed_resources`] (default 0).
    #[serde(default)]
    pub guaranteed_resources: f64,
    /// See [`Share::ceiling_resources`] (default 1).
    #[serde(default = "one")]
    pub ceiling_resources: f64,
}

fn one() -> f64 {
    1.0
}

impl TenantShare {
    /// A listed tenant with `share`.
    pub fn new(tenant: TenantId, share: Share) -> Self {
        TenantShare {
            tenant,
            guaranteed_slots: share.guaranteed_slots,
            ceiling_slots: share.ceiling_slots,
            guaranteed_resources: share.guaranteed_resources,
            ceiling_resources: share.ceiling_resources,
        }
    }

    /// The tenant's share.
    pub fn share(&self) -> Share {
        Share {
            guaranteed_slots: self.guaranteed_slots,
            ceiling_slots: self.ceiling_slots,
            guaranteed_resources: self.guaranteed_resources,
            ceiling_resources: self.ceiling_resources,
        }
    }
}

/// A bound on `RetryTask` decisions in flight, in Envoy's shape: at most
/// `max(min_retry_concurrency, floor(budget_percent / 100 * running sessions))`.
///
/// *In flight*: a `RetryTask` decision holds a retry token from its admission until it is
/// executed or dropped, like its adaptation slot (see the [crate
/// documentation](crate#retry-budget)). *Running sessions*: the running gauge of the knowledge
/// the aggregator last published (its windows' when it has windows, else `active_sessions`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields, default)]
pub struct RetryBudget {
    /// Retries in flight allowed per 100 running sessions (`0.0..=100.0`; default 20).
    pub budget_percent: f64,
    /// Retries in flight allowed whatever the number of running sessions (default 3).
    pub min_retry_concurrency: u64,
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget { budget_percent: 20.0, min_retry_concurrency: 3 }
    }
}

impl RetryBudget {
    /// Checks both fields.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let percent = check::non_negative("retry_budget.budget_percent", self.budget_percent)?;
        if percent > 100.0 {
            return Err(ConfigError::invalid(
                "retry_budget.budget_percent",
                percent,
                "must be between 0.0 and 100.0",
            ));
        }
        Ok(())
    }

    /// Retries in flight allowed with `running` sessions running.
    ///
    /// ```
    /// use autonomic_adapter::RetryBudget;
    /// let budget = RetryBudget { budget_percent: 20.0, min_retry_concurrency: 3 };
    /// assert_eq!(budget.allowed(100), 20);
    /// assert_eq!(budget.allowed(4), 3); // never below the minimum
    /// ```
    pub fn allowed(&self, running: u64) -> u64 {
        // The product is finite and non-negative (validated); `as` saturates.
        let share = (self.budget_percent / 100.0 * running as f64).floor() as u64;
        share.max(self.min_retry_concurrency)
    }
}

crate::validated::validated_section!(RetryBudget);

impl Budgets {
    /// Checks every budget; the error names the first field refused.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(shares) = &self.tenant_shares {
            shares.validate()?;
        }
        if let Some(retry) = &self.retry_budget {
            retry.validate()?;
        }
        Ok(())
    }
}

crate::validated::validated_document!(Budgets);

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(n: u128) -> TenantId {
        TenantId::from_u128(n)
    }

    /// (The documents' refusals, in JSON and TOML, are tested with the crate's other
    /// documents: `tests/config_documents.rs`.)
    #[test]
    fn a_nan_built_in_code_is_refused_by_name() {
        let nan = Budgets {
            tenant_shares: Some(TenantShares {
                tenants: vec![TenantShare::new(
                    tenant(1),
                    Share { guaranteed_slots: f64::NAN, ..Share::default() },
                )],
                ..TenantShares::default()
            }),
            retry_budget: None,
        };
        let err = nan.validate().unwrap_err();
        assert_eq!(err.field(), Some("tenant_shares.tenants.guaranteed_slots"));
        assert!(err.to_string().contains("tenant-00000000-0000-0000-0000-000000000001"), "{err}");
    }

    #[test]
    fn a_tenant_listed_twice_is_refused() {
        let twice = TenantShares {
            tenants: vec![TenantShare::new(tenant(1), Share::default()); 2],
            ..TenantShares::default()
        };
        assert_eq!(twice.validate().unwrap_err().field(), Some("tenant_shares.tenants.tenant"));
    }

    #[test]
    fn decimal_guarantees_that_sum_to_one_are_accepted_and_round_trip() {
        let shares = TenantShares {
            tenants: vec![
                TenantShare::new(tenant(1), Share { guaranteed_slots: 0.1, ..Share::default() }),
                TenantShare::new(tenant(2), Share { guaranteed_slots: 0.2, ..Share::default() }),
            ],
            default_class: Share { guaranteed_slots: 0.7, ..Share::default() },
        };
        let budgets =
            Budgets { tenant_shares: Some(shares), retry_budget: Some(RetryBudget::default()) };
        budgets.validate().unwrap();
        let json = serde_json::to_string(&budgets).unwrap();
        assert_eq!(Budgets::from_json_str(&json).unwrap(), budgets);
        let toml = toml::to_string(&budgets).unwrap();
        assert_eq!(Budgets::from_toml_str(&toml).unwrap(), budgets);
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(matches!(
            Budgets::from_json_str(r#"{"retry_budget": {"percent": 1}}"#),
            Err(ConfigError::Parse { .. })
        ));
        assert!(matches!(Budgets::from_toml_str("shares = 1"), Err(ConfigError::Parse { .. })));
    }
}
