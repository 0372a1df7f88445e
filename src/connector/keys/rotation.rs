//! Rotation without a restart (issue 12.3): the keys of `--api-key-file` are
//! re-read when the file changes, on SIGHUP and at least every 30 s
//! ([`crate::keypool::KeyFileWatcher`]). A new key joins its organization's pool, a
//! removed key leaves it, and a key of an organization not polled yet starts a new
//! poller, handed to the running scheduler. Keys from `STREAK_CONNECTOR_API_KEYS`
//! are fixed for the life of the process: removing them from the file (where they
//! may also be) does not take them away.
//!
//! Every 30 s the keys whose organization could not be learned yet (Streak was
//! down) are tried again.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use super::rejected::RejectedKey;
use super::ring::{Admitted, KeyRing};
use super::telemetry::{
    KeyClientFailed, KeyFileChanged, KeyFileRereadFailed, OrganizationAdded, SighupUnwatched,
};
use super::OrgKeys;
use crate::keypool::{KeyChanges, KeyFileError, KeyFileWatcher, WatchSettings};
use crate::metrics::Metrics;
use crate::streak::{ApiError, ApiKey, StreakApi};
use crate::telemetry::InternalEvent as _;

/// How often keys not placed yet are tried again.
pub(crate) const PENDING_RETRY_EVERY: Duration = Duration::from_secs(30);

/// Makes the Streak client of a key.
pub(crate) type ClientFactory =
    Arc<dyn Fn(ApiKey) -> Result<Arc<dyn StreakApi>, ApiError> + Send + Sync>;

/// What the rotation task needs.
pub(crate) struct Rotation {
    pub ring: Arc<KeyRing>,
    pub factory: ClientFactory,
    /// The key file or directory, if keys come from one.
    pub key_file: Option<PathBuf>,
    pub watch: WatchSettings,
    /// Fingerprints of the keys from the environment: never removed.
    pub fixed: HashSet<String>,
    /// The key file's keys as start-up read them.
    pub file_keys: Vec<ApiKey>,
    pub metrics: Arc<Metrics>,
    /// How often keys not placed yet are tried again: the poll interval, at most
    /// [`PENDING_RETRY_EVERY`] (an organization whose key could not be placed at
    /// start-up misses no more polls than a failing one).
    pub pending_retry: Duration,
    /// Readiness: a key placed after start-up no longer holds it back.
    pub health: Option<Arc<crate::connector::shared::Health>>,
    /// Each new organization's pool, and each new key Streak rejects, goes here
    /// for a new task of the scheduler.
    pub new_tasks: mpsc::UnboundedSender<NewTask>,
}

/// What the running scheduler gets a new task for.
#[derive(Debug)]
pub(crate) enum NewTask {
    /// A key of an organization not polled yet: poll it with this pool.
    Organization(Arc<OrgKeys>),
    /// A new key Streak rejected before its organization was known.
    Rejected(RejectedKey),
}

impl std::fmt::Debug for Rotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rotation")
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

impl Rotation {
    /// Starts watching; returns at once. The first look re-reads the key file, so
    /// a change made while start-up ran is applied.
    pub(crate) fn spawn(self, cancel: CancellationToken) {
        let (tx, rx) = mpsc::channel(8);
        // SIGHUP is caught even without a key file: its default would end the process.
        let trigger = Arc::new(Notify::new());
        sighup_triggers(trigger.clone(), self.metrics.clone());
        if let Some(path) = &self.key_file {
            let watcher = KeyFileWatcher::resume(
                path.clone(),
                self.watch,
                tokio::time::Instant::now().into_std(),
                self.file_keys.clone(),
            );
            tokio::spawn(watcher.run(trigger, tx, cancel.clone()));
        }
        tokio::spawn(self.apply_changes(rx, cancel));
    }

    async fn apply_changes(
        self,
        mut updates: mpsc::Receiver<Result<KeyChanges, KeyFileError>>,
        cancel: CancellationToken,
    ) {
        let mut retry = tokio::time::interval(self.pending_retry);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        retry.tick().await;
        let mut watching = self.key_file.is_some();
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = retry.tick() => {
                    for keys in self.ring.retry_pending().await {
                        self.new_org(keys);
                    }
                    if let Some(health) = &self.health {
                        for fp in self.ring.placed_fingerprints() {
                            health.forget(&format!("key:{fp}"));
                        }
                    }
                }
                u = updates.recv(), if watching => match u {
                    Some(Ok(changes)) => self.apply(changes).await,
                    Some(Err(error)) => KeyFileRereadFailed { error: &error }.emit(&self.metrics),
                    None => watching = false,
                },
            }
        }
    }

    /// Applies one re-read: removed keys leave first (a rotated key's old one
    /// goes), then the added keys are placed.
    pub(crate) async fn apply(&self, changes: KeyChanges) {
        if let Some(path) = &self.key_file {
            KeyFileChanged {
                path,
                added: changes.added.len(),
                removed: changes.removed.len(),
            }
            .emit(&self.metrics);
        }
        for key in &changes.removed {
            if !self.fixed.contains(key.fingerprint()) {
                self.ring.remove(key.fingerprint());
            }
        }
        for key in changes.added {
            let api = match (self.factory)(key) {
                Ok(api) => api,
                Err(error) => {
                    KeyClientFailed { error: &error }.emit(&self.metrics);
                    continue;
                }
            };
            match self.ring.admit(api).await {
                Admitted::NewOrganization(keys) => self.new_org(keys),
                Admitted::Rejected(key) => {
                    let _ = self.new_tasks.send(NewTask::Rejected(key));
                }
                Admitted::Joined { .. } | Admitted::AlreadyKnown | Admitted::Pending { .. } => {}
            }
        }
    }

    fn new_org(&self, keys: Arc<OrgKeys>) {
        OrganizationAdded {
            org: keys.org_key(),
        }
        .emit(&self.metrics);
        let _ = self.new_tasks.send(NewTask::Organization(keys));
    }
}

/// Notifies `trigger` on every SIGHUP.
fn sighup_triggers(trigger: Arc<Notify>, metrics: Arc<Metrics>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(error) => {
                SighupUnwatched { error: &error }.emit(&metrics);
                return;
            }
        };
        while hup.recv().await.is_some() {
            trigger.notify_one();
        }
    });
    #[cfg(not(unix))]
    let _ = (trigger, metrics);
}
