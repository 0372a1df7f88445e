//! Rotation without a restart: re-reads `--api-key-file` (a file, or a directory as
//! a mounted Kubernetes Secret gives, with its atomic `..data` symlink swaps) and
//! yields the keys added and removed.
//!
//! Every `stat_every` (1 s by default) the watcher takes a cheap signature of the
//! path: size, modification time and inode of the file, or of every visible entry of
//! the directory (symlinks followed) plus the `..data` link's target. It re-reads the
//! keys when the signature changed, when `reread_every` (30 s) passed since the last
//! read whatever the signature says, and when triggered (the wiring connects SIGHUP).
//! A re-read that fails (unreadable file, invalid key, no key at all: a half-written
//! file) changes nothing: the keys in use stay in use, and the error is reported.
//!
//! Keys are [`ApiKey`]s, whose `Debug` shows only the fingerprint. This module never
//! logs; [`KeyFileWatcher::run`] hands every outcome to the caller.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use super::file::{key_files_of, read_key_path, KeyFileError};
use crate::streak::ApiKey;

/// How often the watcher re-reads the key file whatever its signature says.
pub(crate) const DEFAULT_REREAD_EVERY: Duration = Duration::from_secs(30);
/// How often the watcher looks at the key file's signature.
pub(crate) const DEFAULT_STAT_EVERY: Duration = Duration::from_secs(1);

/// The watcher's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WatchSettings {
    /// Longest time between two reads of the keys.
    pub reread_every: Duration,
    /// Time between two looks at the file's signature (size, mtime, inode).
    pub stat_every: Duration,
}

impl Default for WatchSettings {
    fn default() -> Self {
        WatchSettings {
            reread_every: DEFAULT_REREAD_EVERY,
            stat_every: DEFAULT_STAT_EVERY,
        }
    }
}

/// The keys that joined and left the key file since the last read, in file order.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyChanges {
    pub added: Vec<ApiKey>,
    pub removed: Vec<ApiKey>,
}

impl KeyChanges {
    /// Whether nothing changed.
    pub(crate) fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }

    fn between(old: &[ApiKey], new: &[ApiKey]) -> KeyChanges {
        let has = |set: &[ApiKey], k: &ApiKey| set.iter().any(|o| o.expose() == k.expose());
        KeyChanges {
            added: new.iter().filter(|k| !has(old, k)).cloned().collect(),
            removed: old.iter().filter(|k| !has(new, k)).cloned().collect(),
        }
    }
}

/// What identifies one version of the key file, cheaply.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Signature(
    Vec<(PathBuf, u64, Option<SystemTime>, u64)>,
    Option<PathBuf>,
);

/// Watches one key file or key directory.
#[derive(Debug)]
pub(crate) struct KeyFileWatcher {
    path: PathBuf,
    settings: WatchSettings,
    keys: Vec<ApiKey>,
    signature: Option<Signature>,
    last_read: Instant,
    reads: u64,
}

impl KeyFileWatcher {
    #[cfg(test)]
    /// Reads the keys of `path` for the first time. Fails as start-up should: the
    /// error names the file, never a key.
    pub(crate) fn start(
        path: impl Into<PathBuf>,
        settings: WatchSettings,
        now: Instant,
    ) -> Result<KeyFileWatcher, KeyFileError> {
        let path = path.into();
        let signature = signature(&path);
        let keys = read_key_path(&path)?;
        Ok(KeyFileWatcher {
            path,
            settings,
            keys,
            signature,
            last_read: now,
            reads: 1,
        })
    }

    /// Watches `path` whose keys were read already (by start-up, maybe a while
    /// ago): `known`. The first look re-reads the file, so a change made meanwhile
    /// is not missed.
    pub(crate) fn resume(
        path: impl Into<PathBuf>,
        settings: WatchSettings,
        now: Instant,
        known: Vec<ApiKey>,
    ) -> KeyFileWatcher {
        KeyFileWatcher {
            path: path.into(),
            settings,
            keys: known,
            signature: None,
            last_read: now,
            reads: 0,
        }
    }

    #[cfg(test)]
    /// The keys of the last successful read, in file order.
    pub(crate) fn keys(&self) -> &[ApiKey] {
        &self.keys
    }

    #[cfg(test)]
    /// How many times the keys were read (successfully or not).
    pub(crate) fn reads(&self) -> u64 {
        self.reads
    }

    /// Looks at the file at `now`: re-reads it if its signature changed, if
    /// `reread_every` passed since the last read, or if `force` (SIGHUP). Returns the
    /// changes when the key set changed, `Ok(None)` when it did not (or was not
    /// read), and the error of a failed re-read (the keys in use stay).
    pub(crate) fn poll(
        &mut self,
        now: Instant,
        force: bool,
    ) -> Result<Option<KeyChanges>, KeyFileError> {
        let sig = signature(&self.path);
        let stale = now.saturating_duration_since(self.last_read) >= self.settings.reread_every;
        if !force && !stale && sig == self.signature {
            return Ok(None);
        }
        self.signature = sig;
        self.last_read = now;
        self.reads += 1;
        let keys = read_key_path(&self.path)?;
        let changes = KeyChanges::between(&self.keys, &keys);
        self.keys = keys;
        Ok((!changes.is_empty()).then_some(changes))
    }

    /// Polls every `stat_every`, and at once on each `trigger.notify_one()`, until
    /// `cancel`; sends every change and every failed re-read to `updates`. Stops
    /// when `updates` is closed. Timing follows tokio's clock. The reads are plain
    /// blocking `std::fs` calls on a few small files, cheap enough for a worker.
    pub(crate) async fn run(
        mut self,
        trigger: Arc<Notify>,
        updates: mpsc::Sender<Result<KeyChanges, KeyFileError>>,
        cancel: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(self.settings.stat_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let force = tokio::select! {
                () = cancel.cancelled() => return,
                _ = tick.tick() => false,
                () = trigger.notified() => true,
            };
            let now = tokio::time::Instant::now().into_std();
            let update = match self.poll(now, force) {
                Ok(None) => continue,
                Ok(Some(changes)) => Ok(changes),
                Err(e) => Err(e),
            };
            if updates.send(update).await.is_err() {
                return;
            }
        }
    }
}

/// The signature of a key file, or of a key directory's visible files and its
/// `..data` link; `None` when the path cannot be read at all.
fn signature(path: &Path) -> Option<Signature> {
    let meta = std::fs::metadata(path).ok()?;
    let files = if meta.is_dir() {
        key_files_of(path).ok()?
    } else {
        vec![path.to_path_buf()]
    };
    let entries = files
        .into_iter()
        .map(|f| {
            let m = std::fs::metadata(&f).ok();
            let len = m.as_ref().map_or(u64::MAX, std::fs::Metadata::len);
            let mtime = m.as_ref().and_then(|m| m.modified().ok());
            let ino = m.as_ref().map_or(0, inode);
            (f, len, mtime, ino)
        })
        .collect();
    let data_link = std::fs::read_link(path.join("..data")).ok();
    Some(Signature(entries, data_link))
}

#[cfg(unix)]
fn inode(m: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    m.ino()
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
