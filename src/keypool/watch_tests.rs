use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use super::*;

fn fp(k: &str) -> String {
    ApiKey::new(k.into())
        .map(|k| k.fingerprint().to_owned())
        .unwrap_or_default()
}

fn fps(keys: &[ApiKey]) -> Vec<String> {
    keys.iter().map(|k| k.fingerprint().to_owned()).collect()
}

const SETTINGS: WatchSettings = WatchSettings {
    reread_every: Duration::from_secs(30),
    stat_every: Duration::from_secs(1),
};

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
}

#[test]
fn a_changed_file_yields_the_keys_added_and_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("keys");
    write(&f, "key-a\nkey-b\n");
    let t0 = Instant::now();
    let mut w = KeyFileWatcher::start(&f, SETTINGS, t0).expect("start");
    assert_eq!(fps(w.keys()), [fp("key-a"), fp("key-b")]);
    assert!(w.poll(t0, false).expect("poll").is_none(), "no change");
    assert_eq!(w.reads(), 1, "an unchanged file is not read again");

    write(&f, "# rotated\nkey-b\nkey-c\n");
    let changes = w.poll(t0, false).expect("poll").expect("changes");
    assert_eq!(fps(&changes.added), [fp("key-c")]);
    assert_eq!(fps(&changes.removed), [fp("key-a")]);
    assert_eq!(fps(w.keys()), [fp("key-b"), fp("key-c")]);
    // Debug of the changes shows fingerprints, never a key.
    let shown = format!("{changes:?} {w:?}");
    assert!(
        !shown.contains("key-c") && !shown.contains("key-b"),
        "{shown}"
    );
    assert!(shown.contains(&fp("key-c")), "{shown}");
}

#[test]
fn the_file_is_read_again_every_30s_and_on_a_trigger() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("keys");
    write(&f, "key-a\n");
    let t0 = Instant::now();
    let mut w = KeyFileWatcher::start(&f, SETTINGS, t0).expect("start");
    assert!(w
        .poll(t0 + Duration::from_secs(29), false)
        .expect("poll")
        .is_none());
    assert_eq!(w.reads(), 1);
    assert!(w
        .poll(t0 + Duration::from_secs(30), false)
        .expect("poll")
        .is_none());
    assert_eq!(w.reads(), 2, "read again after 30 s");
    assert!(w
        .poll(t0 + Duration::from_secs(31), true)
        .expect("poll")
        .is_none());
    assert_eq!(w.reads(), 3, "read again when triggered");
}

#[test]
fn a_broken_file_keeps_the_keys_in_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("keys");
    write(&f, "key-a\n");
    let t0 = Instant::now();
    let mut w = KeyFileWatcher::start(&f, SETTINGS, t0).expect("start");
    write(&f, "");
    let err = w.poll(t0, false).expect_err("empty file");
    assert_eq!(err.error_code(), "key_file_empty");
    write(&f, "key-a\nkey b with spaces\n");
    let err = w.poll(t0, false).expect_err("invalid key");
    assert!(!err.to_string().contains("with spaces"), "{err}");
    std::fs::remove_file(&f).expect("rm");
    let err = w.poll(t0, false).expect_err("missing file");
    assert_eq!(err.error_code(), "key_file_unreadable");
    assert_eq!(fps(w.keys()), [fp("key-a")], "the keys in use stay");
    write(&f, "key-a\nkey-d\n");
    let changes = w.poll(t0, false).expect("poll").expect("changes");
    assert_eq!(fps(&changes.added), [fp("key-d")]);
    assert!(changes.removed.is_empty());
}

#[cfg(unix)]
#[test]
fn a_kubernetes_secret_swap_is_seen() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // The layout kubelet writes: files in a hidden timestamped folder, `..data`
    // pointing at it, and one visible symlink per secret key through `..data`.
    let v1 = d.join("..2026_12_02_00_00_00.1");
    std::fs::create_dir(&v1).expect("mkdir");
    write(&v1.join("org-a"), "key-a\n");
    write(&v1.join("org-b"), "key-b\n");
    symlink("..2026_12_02_00_00_00.1", d.join("..data")).expect("symlink");
    symlink("..data/org-a", d.join("org-a")).expect("symlink");
    symlink("..data/org-b", d.join("org-b")).expect("symlink");

    let t0 = Instant::now();
    let mut w = KeyFileWatcher::start(d, SETTINGS, t0).expect("start");
    assert_eq!(fps(w.keys()), [fp("key-a"), fp("key-b")]);

    // The swap: a new folder, a temporary link to it renamed over `..data` (atomic),
    // then the old folder removed. The visible links never change.
    let v2 = d.join("..2026_12_02_00_05_00.2");
    std::fs::create_dir(&v2).expect("mkdir");
    write(&v2.join("org-a"), "key-a2\n");
    write(&v2.join("org-b"), "key-b\n");
    symlink("..2026_12_02_00_05_00.2", d.join("..data_tmp")).expect("symlink");
    std::fs::rename(d.join("..data_tmp"), d.join("..data")).expect("rename");
    std::fs::remove_dir_all(&v1).expect("rm old");

    let changes = w.poll(t0, false).expect("poll").expect("changes");
    assert_eq!(fps(&changes.added), [fp("key-a2")]);
    assert_eq!(fps(&changes.removed), [fp("key-a")]);
    assert_eq!(fps(w.keys()), [fp("key-a2"), fp("key-b")]);
    assert!(w.poll(t0, false).expect("poll").is_none());
}

#[tokio::test]
async fn run_sends_changes_and_answers_the_trigger() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("keys");
    write(&f, "key-a\n");
    let slow = WatchSettings {
        reread_every: Duration::from_secs(3600),
        stat_every: Duration::from_secs(3600),
    };
    let w = KeyFileWatcher::start(&f, slow, Instant::now()).expect("start");
    let trigger = Arc::new(Notify::new());
    let (tx, mut rx) = mpsc::channel(4);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(w.run(trigger.clone(), tx, cancel.clone()));
    write(&f, "key-a\nkey-e\n");
    // The stat interval is an hour away: only the trigger (SIGHUP) makes it look.
    trigger.notify_one();
    let update = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an update in time")
        .expect("channel open")
        .expect("a good read");
    assert_eq!(fps(&update.added), [fp("key-e")]);
    write(&f, "");
    trigger.notify_one();
    let update = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an update in time")
        .expect("channel open");
    assert!(update.is_err(), "a failed re-read is reported");
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("stops on cancel")
        .expect("no panic");
}

#[test]
fn a_resumed_watcher_reads_at_once_and_yields_what_changed_since_start_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("keys");
    write(&f, "key-a\nkey-b\n");
    let known = vec![ApiKey::new("key-a".into()).expect("key")];
    let t0 = Instant::now();
    let mut w = KeyFileWatcher::resume(&f, SETTINGS, t0, known);
    let changes = w.poll(t0, false).expect("poll").expect("a change");
    assert_eq!(fps(&changes.added), [fp("key-b")]);
    assert!(changes.removed.is_empty());
    assert_eq!(w.reads(), 1);
    assert!(
        w.poll(t0, false).expect("poll").is_none(),
        "then only on change"
    );
}
