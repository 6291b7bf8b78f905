//! Running commands, echoing them first.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A step failed; the message says which.
#[derive(Debug)]
pub struct Failed(pub String);

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// A command to run from the workspace root.
pub struct Cmd(Command);

impl Cmd {
    /// `cargo <args>` with the cargo that runs xtask.
    pub fn cargo<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut c = Command::new(cargo);
        c.args(args.into_iter().map(Into::into)).current_dir(root());
        Cmd(c)
    }

    /// `cargo +<toolchain> <args>` through rustup's `cargo` proxy (the cargo that runs xtask
    /// is a toolchain's own binary, which does not understand `+toolchain`).
    pub fn cargo_on<I, S>(toolchain: &str, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut c = Command::new("cargo");
        c.arg(format!("+{toolchain}")).args(args.into_iter().map(Into::into)).current_dir(root());
        // Set by the outer cargo for its own toolchain; the proxy must pick the requested one.
        c.env_remove("RUSTC").env_remove("RUSTDOC").env_remove("CARGO");
        Cmd(c)
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.0.env(key, value);
        self
    }

    /// Runs it, inheriting stdio; a non-zero exit is a failure.
    pub fn run(mut self) -> Result<(), Failed> {
        let shown = format!("{:?}", self.0).replace('"', "");
        eprintln!("$ {shown}");
        let status = self.0.status().map_err(|e| Failed(format!("{shown}: {e}")))?;
        if status.success() { Ok(()) } else { Err(Failed(format!("{shown}: {status}"))) }
    }

    /// Runs it quietly and returns its standard output; a non-zero exit is a failure that
    /// quotes the first line of its standard error.
    pub fn stdout(mut self) -> Result<String, Failed> {
        let shown = format!("{:?}", self.0).replace('"', "");
        let out = self.0.output().map_err(|e| Failed(format!("{shown}: {e}")))?;
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr);
            return Err(Failed(format!("{shown}: {}", why.lines().next().unwrap_or("failed"))));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}
