//! A real `redis-server` of a test's own, on a free loopback port: started, stopped,
//! restarted, paused (SIGSTOP) and resumed (SIGCONT) by the test, killed when dropped.
//! Shared by the tests and the `fleet` example (`#[path]`-included; not part of the crate).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process (no persistence: `--save '' --appendonly no`).
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    paused: bool,
}

impl RedisServer {
    /// Starts a server on a free loopback port and waits until it answers `PING`.
    ///
    /// Panics, saying so, if `redis-server` is not on `PATH`: these tests need a real server
    /// (`apt-get install -y redis-server`; `.ci/run` installs it).
    pub fn start() -> Self {
        let port = free_port();
        let mut server = RedisServer { port, child: None, paused: false };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (its data is lost) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.paused {
                signal(&child, "-CONT");
                self.paused = false;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: a failover that lost its writes).
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--loglevel", "warning"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start `redis-server` ({e}): these tests need a real Redis; install \
                     it with `apt-get update && apt-get install -y redis-server`"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers_ping() {
            assert!(Instant::now() < deadline, "redis-server on port {} never answered", self.port);
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is answered.
    pub fn pause(&mut self) {
        if let Some(child) = &self.child {
            signal(child, "-STOP");
            self.paused = true;
        }
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&mut self) {
        if let Some(child) = &self.child {
            signal(child, "-CONT");
            self.paused = false;
        }
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nobody listens on now: bound on 127.0.0.1:0, then let go.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

fn signal(child: &Child, which: &str) {
    let status = Command::new("kill").arg(which).arg(child.id().to_string()).status();
    assert!(matches!(status, Ok(s) if s.success()), "kill {which} {}: {status:?}", child.id());
}
