//! The case ids of per-request sessions: version-4 UUIDs, a random one per thread and then
//! counted up, so that a request does not pay for a random number.

use std::cell::Cell;

use autonomic::CaseId;

/// The low 62 bits of a v4 UUID, below its variant bits: the part that is counted up (it
/// would wrap after 2^62 requests on one thread).
const COUNTED: u128 = (1 << 62) - 1;

thread_local! {
    /// The case id this thread handed out last; 0 (never a v4 UUID) before the first.
    static LAST: Cell<u128> = const { Cell::new(0) };
}

/// A fresh case id for a request's session.
///
/// Unique as random ones are: each thread starts at a random v4 UUID (122 random bits) and
/// counts up in its low 62 bits, so two threads' ids meet only if their random starts agree
/// in their 60 other random bits; version and variant bits are kept, so every id is a valid
/// v4 UUID. Ids are guessable from one another, like session ids; a case id grants nothing.
pub(crate) fn next_case_id() -> CaseId {
    LAST.with(|last| {
        let prev = last.get();
        let next = if prev == 0 {
            CaseId::new().as_uuid().as_u128()
        } else {
            (prev & !COUNTED) | (prev.wrapping_add(1) & COUNTED)
        };
        last.set(next);
        CaseId::from_u128(next)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn case_ids_are_v4_uuids_unique_across_threads() {
        let ids: Vec<CaseId> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..5_000).map(|_| next_case_id()).collect::<Vec<_>>()))
                .collect();
            workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
        });
        for id in &ids {
            assert_eq!(id.as_uuid().get_version_num(), 4, "{id}");
            assert_eq!(id.as_uuid().get_variant(), uuid::Variant::RFC4122, "{id}");
        }
        let distinct: HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
    }

    #[test]
    fn counting_wraps_within_the_low_bits() {
        LAST.with(|last| last.set(CaseId::new().as_uuid().as_u128() | COUNTED));
        let before = LAST.with(Cell::get);
        let id = next_case_id().as_uuid().as_u128();
        assert_eq!((id & COUNTED, id & !COUNTED), (0, before & !COUNTED));
        assert_eq!(CaseId::from_u128(id).as_uuid().get_version_num(), 4);
    }
}
