//! Running the binary: [`clean_command`] (the one way every test starts it: the
//! built binary, no inherited `STREAK_CONNECTOR_*` setting, killed when dropped) and
//! [`sigterm`]; on top, [`Cmd`] with output captured line by line, every wait
//! bounded, the child killed when its guard drops. The exactly-once harness
//! ([`crate::eos::process`]) builds its crash-and-restart connector on the same two.
//!
//! Only processes a test started are signalled, by their pid.

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// The built binary with `args`, stdin closed, killed when the handle drops, and
/// none of the test's own `STREAK_CONNECTOR_*` variables (they must not leak
/// settings into the binary under test).
pub fn clean_command<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut c = Command::new(crate::bin());
    c.args(args).stdin(Stdio::null()).kill_on_drop(true);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("STREAK_CONNECTOR_") {
            c.env_remove(k);
        }
    }
    c
}

/// Sends SIGTERM (as Kubernetes and systemd do) to `pid`; whether it was sent.
pub fn sigterm(pid: u32) -> bool {
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A command line for the binary, built up before it is spawned.
#[derive(Debug)]
pub struct Cmd {
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Cmd {
    /// `streak-connector ARGS...`
    pub fn new(args: &[&str]) -> Cmd {
        Cmd {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: Vec::new(),
        }
    }

    pub fn args<const N: usize>(&mut self, args: [&str; N]) -> &mut Cmd {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    pub fn arg(&mut self, arg: &str) -> &mut Cmd {
        self.args.push(arg.to_owned());
        self
    }

    pub fn env(&mut self, key: &str, value: &str) -> &mut Cmd {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The command line, for messages.
    pub fn display(&self) -> String {
        format!("streak-connector {}", self.args.join(" "))
    }

    fn build(&self) -> Command {
        let mut c = clean_command(&self.args);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        c.env("RUST_LOG", "info").env("NO_COLOR", "1");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Starts the binary in the background.
    pub fn spawn(&self) -> Spawned {
        let mut child = self
            .build()
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", crate::bin().display()));
        let out = Arc::new(Mutex::new(Captured::default()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let readers = vec![
            tokio::spawn(capture(stdout, out.clone(), Stream::Stdout)),
            tokio::spawn(capture(stderr, out.clone(), Stream::Stderr)),
        ];
        Spawned {
            command: self.display(),
            child,
            out,
            readers,
            started: Instant::now(),
            status: None,
        }
    }

    /// Runs the binary to its end, killing it after `timeout` (a failed test then
    /// says so, with what it printed).
    pub async fn run(&self, timeout: Duration) -> Finished {
        let mut s = self.spawn();
        let status = s.wait_exit(timeout).await;
        s.finished(status).await
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug, Default)]
struct Captured {
    stdout: Vec<String>,
    stderr: Vec<String>,
}

async fn capture(pipe: impl AsyncRead + Unpin, out: Arc<Mutex<Captured>>, which: Stream) {
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = strip_ansi(&line);
        let mut o = out.lock().unwrap_or_else(|p| p.into_inner());
        match which {
            Stream::Stdout => o.stdout.push(line),
            Stream::Stderr => o.stderr.push(line),
        }
    }
}

/// Removes ANSI escape sequences (colours), should any be printed.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// A finished run of the binary.
#[derive(Debug)]
pub struct Finished {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Finished {
    /// Stdout then stderr, for searching either.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Panics, showing the output, unless the exit code is 0.
    pub fn assert_success(&self) -> &Finished {
        assert!(
            self.status.success(),
            "`{}` exited with {} after {:?}\n{}",
            self.command,
            self.status,
            self.elapsed,
            self.report()
        );
        self
    }

    /// What it printed, for failure messages.
    pub fn report(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}\n--- end ---",
            tail(&self.stdout, 60),
            tail(&self.stderr, 80)
        )
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(n);
    let mut s = String::new();
    if from > 0 {
        s.push_str(&format!("[... {from} lines before ...]\n"));
    }
    s.push_str(&lines[from..].join("\n"));
    s
}

/// A running binary. Dropping it kills the process; if the test is failing, what
/// the process printed is shown.
#[derive(Debug)]
pub struct Spawned {
    pub command: String,
    child: Child,
    out: Arc<Mutex<Captured>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
    started: Instant,
    status: Option<ExitStatus>,
}

impl Spawned {
    fn captured(&self) -> std::sync::MutexGuard<'_, Captured> {
        self.out.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Everything printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.captured().stdout.join("\n")
    }

    /// Everything printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.captured().stderr.join("\n")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the process is still running")
    }

    /// Waits (at most `timeout`) for a line on stdout or stderr that `pred` accepts;
    /// returns it.
    pub async fn wait_line(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            {
                let c = self.captured();
                if let Some(l) = c.stdout.iter().chain(c.stderr.iter()).find(|l| pred(l)) {
                    return l.clone();
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the readers drain what the process printed before exiting.
                tokio::time::sleep(Duration::from_millis(200)).await;
                let c = self.captured();
                if let Some(l) = c.stdout.iter().chain(c.stderr.iter()).find(|l| pred(l)) {
                    return l.clone();
                }
                drop(c);
                panic!(
                    "`{}` exited with {status} before printing {what}\n{}",
                    self.command,
                    self.report()
                );
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "`{}` did not print {what} within {timeout:?}\n{}",
                    self.command,
                    self.report()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The address of `/metrics`, from the line "metrics listening on http://ADDR".
    pub async fn metrics_addr(&mut self, timeout: Duration) -> String {
        const MARK: &str = "metrics listening on http://";
        let line = self
            .wait_line("the metrics address", timeout, |l| l.contains(MARK))
            .await;
        let at = line.find(MARK).expect("the line has the mark") + MARK.len();
        line[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))
            .collect()
    }

    /// Sends SIGTERM (as Kubernetes and systemd do).
    pub fn sigterm(&self) {
        let pid = self.pid();
        assert!(sigterm(pid), "could not send SIGTERM to {pid}");
    }

    /// Waits for the exit, at most `timeout`; kills the process and panics (with
    /// its output) after that.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(status)) => {
                self.status = Some(status);
                status
            }
            Ok(Err(e)) => panic!("waiting for `{}` failed: {e}", self.command),
            Err(_) => {
                let _ = self.child.start_kill();
                let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
                panic!(
                    "`{}` did not exit within {timeout:?} (killed)\n{}",
                    self.command,
                    self.report()
                );
            }
        }
    }

    /// The run as finished, once the output is drained.
    pub async fn finished(mut self, status: ExitStatus) -> Finished {
        for r in std::mem::take(&mut self.readers) {
            let _ = tokio::time::timeout(Duration::from_secs(5), r).await;
        }
        Finished {
            command: self.command.clone(),
            status,
            stdout: self.stdout(),
            stderr: self.stderr(),
            elapsed: self.started.elapsed(),
        }
    }

    /// What it printed so far, for failure messages.
    pub fn report(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}\n--- end ---",
            tail(&self.stdout(), 60),
            tail(&self.stderr(), 80)
        )
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.start_kill();
        }
        if std::thread::panicking() {
            eprintln!("[e2e] output of `{}`:\n{}", self.command, self.report());
        }
    }
}
