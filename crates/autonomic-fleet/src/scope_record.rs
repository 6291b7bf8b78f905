//! The record of one instance's [`ScopeTotals`] as the Redis knowledge store keeps it: fixed
//! size little-endian binary, written by [`encode`] and read back, checked, by [`decode`]
//! (the one reader; the script stores and returns records without looking inside).
//!
//! Layout (`u16`, `u64`, `u128` little-endian):
//!
//! ```text
//!  version: u8 (1) | tenants: u16 | patterns: u16
//!  other tenants: 21 × u64 | other patterns: 21 × u64
//!  tenants × (key: u128, 21 × u64), keys strictly increasing
//!  patterns × (key: u8, 21 × u64), keys strictly increasing
//! ```
//!
//! The 21 numbers of a scope are its totals in wire order (`knowledge::to_wire`), each at
//! most [`MAX_COUNT`](crate::MAX_COUNT). A record of `max_scopes` tenants and patterns is at
//! most [`max_len`] bytes: 22.4 KB for the default 64.

use autonomic_core::TenantId;

use crate::knowledge::{MAX_COUNT, WIRE_LEN, checked, to_wire};
use crate::{ScopeSet, ScopeTotals};

/// The layout's version, the record's first byte.
const VERSION: u8 = 1;
/// Bytes of one scope's 21 numbers.
const NUMBERS: usize = WIRE_LEN * 8;
/// Bytes before the first tenant: version, two counts, the two `other`s.
const HEAD: usize = 1 + 2 + 2 + 2 * NUMBERS;
/// Bytes of one tenant: its key and numbers.
const TENANT: usize = 16 + NUMBERS;
/// Bytes of one pattern: its key and numbers.
const PATTERN: usize = 1 + NUMBERS;

/// The longest record of at most `cap` tenants and `cap` patterns.
pub(crate) fn max_len(cap: usize) -> usize {
    HEAD + cap * (TENANT + PATTERN)
}

/// `scopes` as a record; `scopes` must already be bounded (at most `u16::MAX` of a kind;
/// [`FleetSpec::max_scopes`](crate::FleetSpec::max_scopes) is at most 256). Each number is
/// clamped to [`MAX_COUNT`](crate::MAX_COUNT).
pub(crate) fn encode(scopes: &ScopeTotals) -> Vec<u8> {
    let (tenants, patterns) = (&scopes.tenants.own, &scopes.patterns.own);
    let mut bytes = Vec::with_capacity(HEAD + tenants.len() * TENANT + patterns.len() * PATTERN);
    let numbers = |bytes: &mut Vec<u8>, totals| {
        for n in to_wire(totals) {
            bytes.extend_from_slice(&n.to_le_bytes());
        }
    };
    bytes.push(VERSION);
    // Bounded scopes: at most FleetSpec::MAX_SCOPES (256) of each kind.
    bytes.extend_from_slice(&(tenants.len() as u16).to_le_bytes());
    bytes.extend_from_slice(&(patterns.len() as u16).to_le_bytes());
    numbers(&mut bytes, &scopes.tenants.other);
    numbers(&mut bytes, &scopes.patterns.other);
    for (tenant, totals) in tenants {
        bytes.extend_from_slice(&tenant.as_uuid().as_u128().to_le_bytes());
        numbers(&mut bytes, totals);
    }
    for (pattern, totals) in patterns {
        bytes.push(*pattern);
        numbers(&mut bytes, totals);
    }
    bytes
}

/// Reads a record from outside the process: its exact length, its version, at most `cap`
/// scopes of a kind, keys strictly increasing (so each once), every number within
/// [`MAX_COUNT`](crate::MAX_COUNT) and consistent; else why not.
pub(crate) fn decode(bytes: &[u8], cap: usize) -> Result<ScopeTotals, &'static str> {
    let mut reader = Reader { bytes, at: 0 };
    if reader.take::<1>()? != [VERSION] {
        return Err("unknown version");
    }
    let tenants = usize::from(u16::from_le_bytes(reader.take()?));
    let patterns = usize::from(u16::from_le_bytes(reader.take()?));
    if tenants > cap || patterns > cap {
        return Err("more scopes than max_scopes");
    }
    if bytes.len() != HEAD + tenants * TENANT + patterns * PATTERN {
        return Err("wrong length");
    }
    let mut scopes = ScopeTotals::default();
    scopes.tenants.other = reader.totals()?;
    scopes.patterns.other = reader.totals()?;
    read_set(&mut scopes.tenants, tenants, &mut reader, |r| {
        Ok(TenantId::from_u128(u128::from_le_bytes(r.take()?)))
    })?;
    read_set(&mut scopes.patterns, patterns, &mut reader, |r| Ok(r.take::<1>()?[0]))?;
    Ok(scopes)
}

/// Reads `len` scopes into `set`, each key by `key`, keys strictly increasing.
fn read_set<K: Copy + Ord>(
    set: &mut ScopeSet<K>,
    len: usize,
    reader: &mut Reader<'_>,
    key: impl Fn(&mut Reader<'_>) -> Result<K, &'static str>,
) -> Result<(), &'static str> {
    set.own.reserve_exact(len);
    for _ in 0..len {
        let k = key(reader)?;
        if set.own.last().is_some_and(|(last, _)| *last >= k) {
            return Err("keys out of order or repeated");
        }
        set.own.push((k, reader.totals()?));
    }
    Ok(())
}

/// A record being read.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const L: usize>(&mut self) -> Result<[u8; L], &'static str> {
        let end = self.at.checked_add(L).ok_or("too short")?;
        let taken = self.bytes.get(self.at..end).ok_or("too short")?;
        self.at = end;
        // `taken` is L bytes long.
        taken.try_into().map_err(|_| "too short")
    }

    fn totals(&mut self) -> Result<autonomic_aggregate::WindowTotals, &'static str> {
        let mut wire = [0u64; WIRE_LEN];
        for n in &mut wire {
            *n = u64::from_le_bytes(self.take()?);
        }
        checked(&wire, MAX_COUNT)
    }
}

#[cfg(test)]
mod tests {
    use autonomic_aggregate::WindowTotals;

    use super::*;

    fn sessions(failed: u64, completed: u64) -> WindowTotals {
        let mut t = WindowTotals::default();
        t.counts.failed = failed;
        t.counts.completed = completed;
        t.gauges.running = 2;
        t.gauges.oldest_running_ns = 77;
        t
    }

    fn scopes() -> ScopeTotals {
        ScopeTotals {
            tenants: ScopeSet {
                own: vec![
                    (TenantId::from_u128(3), sessions(1, 2)),
                    (TenantId::from_u128(u128::MAX), sessions(0, 9)),
                ],
                other: sessions(4, 4),
            },
            patterns: ScopeSet {
                own: vec![(0, sessions(5, 5)), (255, sessions(1, 0))],
                other: sessions(0, 1),
            },
        }
    }

    #[test]
    fn a_record_round_trips_within_its_bound() {
        let record = encode(&scopes());
        assert_eq!(record.len(), HEAD + 2 * TENANT + 2 * PATTERN);
        assert!(record.len() <= max_len(2));
        assert_eq!(decode(&record, 2), Ok(scopes()));
        assert_eq!(decode(&encode(&ScopeTotals::default()), 1), Ok(ScopeTotals::default()));
        assert_eq!(max_len(64), 22_933);
    }

    #[test]
    fn hostile_records_are_refused() {
        let good = encode(&scopes());
        let first_pattern = HEAD + 2 * TENANT;
        let with = |at: usize, byte: u8| {
            let mut r = good.clone();
            r[at] = byte;
            r
        };
        let mut tenant_twice = good.clone();
        tenant_twice.copy_within(HEAD + TENANT..HEAD + TENANT + 16, HEAD);
        let mut beyond_max = good.clone();
        // Other tenants' `started`: 2^43 + 1.
        beyond_max[5..13].copy_from_slice(&(MAX_COUNT + 1).to_le_bytes());
        let mut short_over_whole = good.clone();
        short_over_whole[5 + 9 * 8] = 1; // other tenants' short `started` 1, whole 0
        let mut slow_over_running = good.clone();
        slow_over_running[5 + 19 * 8] = 3; // slow 3, running 2
        let cases: [(Vec<u8>, &str); 10] = [
            (Vec::new(), "empty"),
            (with(0, 2), "unknown version"),
            (good[..good.len() - 1].to_vec(), "cut short"),
            ([good.clone(), vec![0]].concat(), "too long"),
            (with(1, 3), "a count that does not match the length"),
            (with(first_pattern, 255), "pattern keys out of order"),
            (tenant_twice, "a tenant twice"),
            (beyond_max, "a number beyond MAX_COUNT"),
            (short_over_whole, "the short window over the whole"),
            (slow_over_running, "slow sessions over running ones"),
        ];
        for (record, what) in cases {
            assert!(decode(&record, 2).is_err(), "{what}");
        }
        // A record of the right shape beyond the reader's cap.
        assert_eq!(decode(&good, 1), Err("more scopes than max_scopes"));
        let repeated = ScopeTotals {
            patterns: ScopeSet {
                own: vec![(7, sessions(1, 1)), (7, sessions(1, 1))],
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(decode(&encode(&repeated), 2), Err("keys out of order or repeated"));
    }
}
