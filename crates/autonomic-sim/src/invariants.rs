//! [`Invariant`]: what a scenario's run must hold, and what the run found
//! ([`InvariantCheck`]).

use std::fmt;

/// A property a scenario asserts of its run. The list is open: a scenario names the ones it
/// asserts (`invariants = ["caps", "recovery"]`), and a new guarantee of the runtime adds a
/// variant here with its check in the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Invariant {
    /// After every admission, the adaptations in flight and the resources granted are within
    /// the Global Q in force (`caps`).
    Caps,
    /// One window after a fault ends (plus two loop intervals: one bucket and one pass), the
    /// knowledge rules admit again, and keep admitting until the next fault starts
    /// (`recovery`). For slow sessions, the window counts from the end of the last slow
    /// session of the fault.
    Recovery,
    /// No tenant is starved below its guaranteed share (`tenant_shares`): no proposal of a
    /// listed tenant is refused by a capacity rule (slots, resources, its share) while its
    /// class holds less than its guarantee. Skipped when the scenario has no tenant shares.
    TenantShares,
}

impl Invariant {
    /// Every invariant.
    pub const ALL: [Invariant; 3] = [Invariant::Caps, Invariant::Recovery, Invariant::TenantShares];
    /// What a scenario asserts when it names none.
    pub const DEFAULT: [Invariant; 2] = [Invariant::Caps, Invariant::Recovery];

    /// Its name in scenario files.
    pub const fn name(self) -> &'static str {
        match self {
            Invariant::Caps => "caps",
            Invariant::Recovery => "recovery",
            Invariant::TenantShares => "tenant_shares",
        }
    }

    /// The invariant a scenario file names.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.name() == name)
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a run found of one invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It held; what was checked.
    Held(String),
    /// It was broken; the first breach.
    Broken(String),
    /// It could not be checked; why.
    Skipped(&'static str),
}

/// One invariant and its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvariantCheck {
    /// The invariant.
    pub invariant: Invariant,
    /// What the run found.
    pub verdict: Verdict,
}

impl InvariantCheck {
    /// Whether it was broken.
    pub fn is_broken(&self) -> bool {
        matches!(self.verdict, Verdict::Broken(_))
    }
}
