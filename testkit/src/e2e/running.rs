//! A running `streak-connector run` of an end-to-end test ([`Running`]): the process,
//! the address it serves `/metrics` on, and the waits on that page the tests of a
//! running connector share. It asserts no product behaviour; the tests do.

use std::process::ExitStatus;
use std::time::{Duration, Instant};

use super::Setup;
use crate::metrics::{scrape, Scrape};
use crate::process::{Cmd, Spawned};

/// How long a spawned connector may take to print its metrics address.
const METRICS_ADDRESS_WITHIN: Duration = Duration::from_secs(60);

/// How long [`Running::stop`] gives the connector to exit after SIGTERM.
const STOP_WITHIN: Duration = Duration::from_secs(30);

/// A spawned connector and where it serves metrics.
#[derive(Debug)]
pub struct Running {
    /// The process: its output, waits on its lines, signals.
    pub proc: Spawned,
    /// The address of `/metrics` (also `/status`, `/healthz`, `/readyz`).
    pub addr: String,
}

impl Running {
    /// Spawns `cmd` and waits (at most 60 s) for the metrics address it prints.
    pub async fn spawn(cmd: &Cmd) -> Running {
        let mut proc = cmd.spawn();
        let addr = proc.metrics_addr(METRICS_ADDRESS_WITHIN).await;
        Running { proc, addr }
    }

    /// The `/metrics` page now.
    pub async fn scrape(&self) -> Scrape {
        scrape(&self.addr).await
    }

    /// Scrapes every 200 ms until `done` accepts the page, at most `within`; the
    /// failure message shows `what`, the page and the process output.
    pub async fn scrape_until(
        &self,
        what: &str,
        within: Duration,
        done: impl Fn(&Scrape) -> bool,
    ) -> Scrape {
        let deadline = Instant::now() + within;
        loop {
            let m = self.scrape().await;
            if done(&m) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "within {within:?}: {what}\n--- metrics ---\n{}\n{}",
                m.text,
                self.proc.report()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// SIGTERM, then the exit status (at most `within`: killed, and a panic with
    /// the output, after that).
    pub async fn terminate(&mut self, within: Duration) -> ExitStatus {
        self.proc.sigterm();
        self.proc.wait_exit(within).await
    }

    /// SIGTERM, and exit 0 within 30 s.
    pub async fn stop(mut self) {
        let status = self.terminate(STOP_WITHIN).await;
        assert!(status.success(), "SIGTERM: exit 0, got {status}");
    }
}

impl Setup {
    /// `run` polling every second, then `args`: the command line of the tests of a
    /// running connector.
    pub fn run_command(&self, args: &[&str]) -> Cmd {
        let mut cmd = self.command(&["run"]);
        cmd.args(["--poll-interval", "1s"]);
        for arg in args {
            cmd.arg(arg);
        }
        cmd
    }

    /// [`Setup::run_command`] spawned, with its metrics address.
    pub async fn spawn_run(&self, args: &[&str]) -> Running {
        Running::spawn(&self.run_command(args)).await
    }
}
