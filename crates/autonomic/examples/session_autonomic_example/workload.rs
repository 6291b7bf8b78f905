//! The workload: randomness, patterns, tenants, and each session's script.

use autonomic::TenantId;

use crate::INCIDENT;
use crate::world::World;

/// SplitMix64: small, fast, and good enough for a workload.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn for_session(seed: u64, index: u64) -> Self {
        Rng(mix(seed ^ mix(index.wrapping_add(0x5eed))))
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

pub(crate) const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A workflow pattern: how many tasks, how long one takes, and its per-task SLO.
pub(crate) struct Pattern {
    pub(crate) id: u8,
    pub(crate) name: &'static str,
    pub(crate) tasks: u32,
    pub(crate) base_us: u64,
    pub(crate) slo_us: u64,
}

pub(crate) const PATTERNS: [Pattern; 8] = [
    Pattern { id: 1, name: "checkout", tasks: 8, base_us: 4_000, slo_us: 20_000 },
    Pattern { id: 2, name: "refund", tasks: 6, base_us: 6_000, slo_us: 30_000 },
    Pattern { id: 3, name: "onboarding", tasks: 12, base_us: 8_000, slo_us: 40_000 },
    Pattern { id: 4, name: "report", tasks: 10, base_us: 15_000, slo_us: 70_000 },
    Pattern { id: 5, name: "sync", tasks: 14, base_us: 2_000, slo_us: 10_000 },
    Pattern { id: 6, name: "payout", tasks: 7, base_us: 9_000, slo_us: 45_000 },
    Pattern { id: 7, name: "kyc", tasks: 11, base_us: 12_000, slo_us: 60_000 },
    Pattern { id: 8, name: "export", tasks: 9, base_us: 18_000, slo_us: 90_000 },
];

/// The bad tenant (index 1) runs the slow patterns, so its spikes push sessions over the
/// latency threshold too.
pub(crate) const BAD_TENANT: usize = 1;

pub(crate) struct Tenant {
    pub(crate) id: TenantId,
    pub(crate) name: String,
    pub(crate) weight: u64,
    pub(crate) patterns: [usize; 3],
    pub(crate) latency_scale: f64,
}

pub(crate) fn tenants(n: usize, seed: u64) -> Vec<Tenant> {
    let mut rng = Rng(mix(seed ^ 0x7e4a_0047));
    (0..n)
        .map(|i| {
            let patterns = if i == BAD_TENANT {
                [3, 6, 7] // report, kyc, export
            } else {
                [rng.below(8) as usize, rng.below(8) as usize, rng.below(8) as usize]
            };
            Tenant {
                id: TenantId::from_u128(0x7e4a_0000_0000_0000_0000_0000_0000_0000 | i as u128),
                name: format!("tenant-{i}"),
                weight: if i == BAD_TENANT { 3 } else { 1 + rng.below(3) },
                patterns,
                latency_scale: 0.8 + 0.5 * rng.unit(),
            }
        })
        .collect()
}

/// How a session ends, decided when it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Complete,
    /// Fails after this many tasks.
    Fail(u32),
    /// Never starts (the request was withdrawn).
    CancelBeforeStart,
    /// Its owner cancels it after this many tasks.
    CancelByOwner(u32),
    /// An operator cancels it from outside after this many tasks; the owner finds out when
    /// it tries to complete.
    CancelFromOutside(u32),
}

/// One session's plan, drawn from its own random stream.
pub(crate) struct Script {
    pub(crate) tenant: usize,
    pub(crate) pattern: &'static Pattern,
    pub(crate) tasks: u32,
    pub(crate) fate: Fate,
    pub(crate) in_incident: bool,
}

impl Script {
    pub(crate) fn draw(rng: &mut Rng, world: &World, index: u64) -> Script {
        let mut pick = rng.below(world.total_weight);
        let tenant = world.tenants.iter().position(|t| {
            let hit = pick < t.weight;
            pick = pick.saturating_sub(t.weight);
            hit
        });
        let tenant = tenant.unwrap_or(0);
        let plan = &world.tenants[tenant];
        let pattern = &PATTERNS[plan.patterns[rng.below(3) as usize]];
        let tasks = pattern.tasks + rng.below(5) as u32;
        let progress = index as f64 / world.args.sessions as f64;
        let in_incident = tenant == BAD_TENANT && (INCIDENT.0..INCIDENT.1).contains(&progress);
        let fail_p = if in_incident { 0.5 } else { world.args.fault_rate };
        let at = 1 + rng.below(u64::from(tasks - 1)) as u32;
        let roll = rng.unit();
        let fate = if roll < fail_p {
            Fate::Fail(at)
        } else if roll < fail_p + 0.01 {
            Fate::CancelBeforeStart
        } else if roll < fail_p + 0.03 {
            Fate::CancelByOwner(at)
        } else if roll < fail_p + 0.035 {
            Fate::CancelFromOutside(at)
        } else {
            Fate::Complete
        };
        Script { tenant, pattern, tasks, fate, in_incident }
    }
}
