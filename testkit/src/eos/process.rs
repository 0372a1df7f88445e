//! The real binary as a child process: `streak-connector run` configured through the
//! environment and a TOML file, its stderr kept (the last lines, for failure reports,
//! and echoed with `EOS_VERBOSE=1`), killed with SIGKILL or stopped with SIGTERM.
//!
//! Started with [`crate::process::clean_command`] and stopped with
//! [`crate::process::sigterm`]; only processes this module started are signalled, by
//! their pid.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::process::{clean_command, sigterm};
use crate::unique;

/// How many stderr lines a process keeps for reports.
const TAIL_LINES: usize = 60;

/// Everything one connector needs; instances started from one spec share the
/// connector name, hence the transactional id.
#[derive(Debug, Clone)]
pub struct ConnectorSpec {
    pub base_url: String,
    pub api_keys: Vec<String>,
    pub bootstrap: String,
    pub events_topic: String,
    pub state_topic: String,
    pub connector_name: String,
    pub config_file: PathBuf,
    /// The OCSF topic (`STREAK_CONNECTOR_OCSF_TOPIC`), when the test wants one.
    pub ocsf_topic: Option<String>,
}

impl ConnectorSpec {
    /// A spec with fresh topic and connector names; writes the TOML file into `dir`.
    pub fn new(
        dir: &Path,
        base_url: String,
        api_keys: &[&str],
        bootstrap: &str,
        test: &str,
    ) -> Self {
        let config_file = dir.join("connector.toml");
        std::fs::write(
            &config_file,
            "# written by testkit::eos\n[kafka]\npartitions = 3\nreplication_factor = 1\n",
        )
        .expect("the test writes its config file in its temp dir");
        ConnectorSpec {
            base_url,
            api_keys: api_keys.iter().map(|k| (*k).to_owned()).collect(),
            bootstrap: bootstrap.to_owned(),
            events_topic: unique(&format!("eos-events-{test}")),
            state_topic: unique(&format!("eos-state-{test}")),
            connector_name: unique(&format!("eos-{test}")),
            config_file,
            ocsf_topic: None,
        }
    }

    /// The same spec with a fresh OCSF topic: every event also as an OCSF record.
    pub fn with_ocsf_topic(mut self, test: &str) -> Self {
        self.ocsf_topic = Some(unique(&format!("eos-ocsf-{test}")));
        self
    }

    fn command(&self) -> Command {
        // Nothing inherited may change the set-up under test (clean_command).
        let mut cmd = clean_command(["run", "--config"]);
        cmd.arg(&self.config_file);
        let log = std::env::var("EOS_RUST_LOG").unwrap_or_else(|_| "info".into());
        cmd.env("RUST_LOG", log)
            .env("STREAK_CONNECTOR_STREAK_BASE_URL", &self.base_url)
            .env("STREAK_CONNECTOR_API_KEYS", self.api_keys.join(","))
            .env("STREAK_CONNECTOR_KAFKA_BOOTSTRAP_SERVERS", &self.bootstrap)
            .env("STREAK_CONNECTOR_EVENTS_TOPIC", &self.events_topic)
            .env("STREAK_CONNECTOR_STATE_TOPIC", &self.state_topic)
            .env("STREAK_CONNECTOR_CONNECTOR_NAME", &self.connector_name)
            .env("STREAK_CONNECTOR_POLL_INTERVAL", "1s")
            .env("STREAK_CONNECTOR_INACTIVE_AFTER", "30d")
            .env("STREAK_CONNECTOR_METRICS_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(t) = &self.ocsf_topic {
            cmd.env("STREAK_CONNECTOR_OCSF_TOPIC", t);
        }
        cmd
    }
}

/// One running (or exited) connector process.
#[derive(Debug)]
pub struct Connector {
    label: String,
    child: Child,
    pid: u32,
    tail: Arc<Mutex<VecDeque<String>>>,
    exit: Option<ExitStatus>,
}

impl Connector {
    pub fn spawn(spec: &ConnectorSpec, label: impl Into<String>) -> Connector {
        let label = label.into();
        let mut child = spec
            .command()
            .spawn()
            .expect("the streak-connector binary starts");
        let pid = child.id().expect("a child that just started has a pid");
        let tail: Arc<Mutex<VecDeque<String>>> = Arc::default();
        if let Some(stderr) = child.stderr.take() {
            let (tail, label) = (tail.clone(), label.clone());
            let echo = std::env::var_os("EOS_VERBOSE").is_some();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if echo {
                        eprintln!("[{label}] {line}");
                    }
                    let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                    if t.len() == TAIL_LINES {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            });
        }
        Connector {
            label,
            child,
            pid,
            tail,
            exit: None,
        }
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// The last stderr lines.
    pub fn stderr_tail(&self) -> String {
        let t = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        t.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// The exit status if the process has exited (without waiting).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// Waits for the process to exit, up to `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = tokio::time::timeout(timeout, self.child.wait())
                .await
                .ok()
                .and_then(Result::ok);
        }
        self.exit
    }

    /// SIGKILL, then reap: the crash under test.
    pub async fn kill(&mut self) {
        if self.exited().is_some() {
            return;
        }
        let _ = self.child.start_kill(); // SIGKILL on Unix
        self.exit = self.child.wait().await.ok();
    }

    /// SIGTERM (the orderly stop), then wait up to `timeout`; SIGKILL if it did not
    /// stop by then. Returns the status of the orderly stop, `None` if it timed out.
    pub async fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(s) = self.exited() {
            return Some(s);
        }
        if !sigterm(self.pid) {
            eprintln!("{}: could not send SIGTERM", self.label);
        }
        let status = self.wait_exit(timeout).await;
        if status.is_none() {
            eprintln!("{}: no exit {timeout:?} after SIGTERM; SIGKILL", self.label);
            self.kill().await;
        }
        status
    }
}
