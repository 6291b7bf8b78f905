//! The command line.

pub(crate) const USAGE: &str = "\
usage: session_autonomic_example [--sessions N] [--tenants N] [--fault-rate F] [--seed N]

  --sessions N     sessions to run (1 to 5000000; default 200000)
  --tenants N      tenants (2 to 64; default 6); the second one turns bad mid-run
  --fault-rate F   baseline fraction of sessions that fail, also drives transient task
                   failures (0 to 1; default 0.02)
  --seed N         workload seed (default 42): the same seed gives the same workload
  --help           this text

RUST_LOG turns tracing on, for example RUST_LOG=autonomic=info for the loop's summaries.";

#[derive(Debug, Clone)]
pub(crate) struct Args {
    pub(crate) sessions: u64,
    pub(crate) tenants: usize,
    pub(crate) fault_rate: f64,
    pub(crate) seed: u64,
}

pub(crate) fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args { sessions: 200_000, tenants: 6, fault_rate: 0.02, seed: 42 };
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (flag.clone(), None),
        };
        if name == "--help" || name == "-h" {
            return Ok(None);
        }
        if !matches!(name.as_str(), "--sessions" | "--tenants" | "--fault-rate" | "--seed") {
            return Err(format!("unknown argument `{flag}`"));
        }
        let value = match inline.or_else(|| args.next()) {
            Some(v) => v,
            None => return Err(format!("`{name}` needs a value")),
        };
        let bad = |what: &str| format!("`{name} {value}`: {what}");
        match name.as_str() {
            "--sessions" => {
                parsed.sessions = value.parse().map_err(|_| bad("not a whole number"))?;
                if !(1..=5_000_000).contains(&parsed.sessions) {
                    return Err(bad("must be between 1 and 5000000"));
                }
            }
            "--tenants" => {
                parsed.tenants = value.parse().map_err(|_| bad("not a whole number"))?;
                if !(2..=64).contains(&parsed.tenants) {
                    return Err(bad("must be between 2 and 64"));
                }
            }
            "--fault-rate" => {
                parsed.fault_rate = value.parse().map_err(|_| bad("not a number"))?;
                if !(0.0..=1.0).contains(&parsed.fault_rate) {
                    return Err(bad("must be between 0 and 1"));
                }
            }
            _ => parsed.seed = value.parse().map_err(|_| bad("not a whole number"))?,
        }
    }
    Ok(Some(parsed))
}
