//! The `--api-key-file` format, in one place: start-up (config) and the watcher
//! ([`super::watch`]) read keys through [`read_key_path`].
//!
//! A key file has one key a line; blank lines and lines starting with `#` are
//! skipped, and surrounding whitespace is trimmed. A directory (as a mounted
//! Kubernetes Secret gives) contributes every visible regular file in it, by name
//! order; hidden entries (`..data`, the `..2026_11_29_...` folders Kubernetes swaps)
//! are skipped. A key given twice counts once. Every key must be a valid
//! [`ApiKey`]; an error never quotes a key, only the file and line.
//!
//! Reads only the path it is given; never logs.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::streak::ApiKey;

/// Why a key file could not be used. The message names the file and line, never a
/// key. At start-up it is fatal; when the watcher re-reads, the keys already in use
/// stay in use.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyFileError {
    /// The file or directory cannot be read (missing, permissions).
    #[error("cannot read {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line is not a usable API key.
    #[error("{path} line {line}: {reason}")]
    InvalidKey {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// The file (or every file of the directory) holds no key: refused, so that a
    /// half-written file cannot take every key away.
    #[error("{path} holds no API key (one key a line; blank lines and # comments are skipped)")]
    NoKeys { path: PathBuf },
}

impl KeyFileError {
    /// A fixed code for logs and metric labels.
    pub(crate) fn error_code(&self) -> &'static str {
        match self {
            KeyFileError::Io { .. } => "key_file_unreadable",
            KeyFileError::InvalidKey { .. } => "key_file_invalid_key",
            KeyFileError::NoKeys { .. } => "key_file_empty",
        }
    }
}

/// The key lines of a key file's text, as `(line number from 1, key)`: trimmed, with
/// blank lines and `#` comments skipped.
pub(crate) fn parse_key_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// Reads every key of a key file or key directory, in file order (files of a
/// directory by name), each key once.
pub(crate) fn read_key_path(path: &Path) -> Result<Vec<ApiKey>, KeyFileError> {
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| KeyFileError::Io { what, path, source }
    };
    let meta = std::fs::metadata(path).map_err(io("API key file", path))?;
    let files = if meta.is_dir() {
        key_files_of(path)?
    } else {
        vec![path.to_path_buf()]
    };
    let mut seen = HashSet::new();
    let mut keys = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(io("API key file", &f))?;
        for (line, k) in parse_key_lines(&text) {
            let key = ApiKey::new(k.to_owned()).map_err(|e| KeyFileError::InvalidKey {
                path: f.clone(),
                line,
                reason: e.to_string(),
            })?;
            if seen.insert(key.expose().to_owned()) {
                keys.push(key);
            }
        }
    }
    if keys.is_empty() {
        return Err(KeyFileError::NoKeys {
            path: path.to_path_buf(),
        });
    }
    Ok(keys)
}

/// The visible regular files of a key directory (symlinks followed), by name.
pub(crate) fn key_files_of(dir: &Path) -> Result<Vec<PathBuf>, KeyFileError> {
    let entries = std::fs::read_dir(dir).map_err(|source| KeyFileError::Io {
        what: "API key directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in entries.flatten() {
        // Kubernetes mounts secrets through a `..data` symlink and hidden timestamped
        // folders: only the visible entries are keys.
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let p = entry.path();
        if std::fs::metadata(&p).is_ok_and(|m| m.is_file()) {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprints(keys: &[ApiKey]) -> Vec<String> {
        keys.iter().map(|k| k.fingerprint().to_owned()).collect()
    }

    fn fp(k: &str) -> String {
        ApiKey::new(k.into())
            .map(|k| k.fingerprint().to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn lines_skip_blanks_and_comments_and_are_trimmed() {
        let lines: Vec<_> = parse_key_lines("# keys\n\n  k1  \n#k2\nk3\n").collect();
        assert_eq!(lines, [(3, "k1"), (5, "k3")]);
    }

    #[test]
    fn a_file_and_a_directory_give_their_keys_once_each() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("org-b"), "# comment\nkeyB\n\nkeyA\n").expect("write");
        std::fs::write(dir.path().join("org-a"), "keyA\n").expect("write");
        std::fs::write(dir.path().join(".hidden"), "keyH\n").expect("write");
        std::fs::create_dir(dir.path().join("..2026_11_29")).expect("mkdir");
        let keys = read_key_path(dir.path()).expect("keys");
        assert_eq!(fingerprints(&keys), [fp("keyA"), fp("keyB")]);
        let keys = read_key_path(&dir.path().join("org-b")).expect("keys");
        assert_eq!(fingerprints(&keys), [fp("keyB"), fp("keyA")]);
    }

    #[test]
    fn errors_name_the_file_and_line_never_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("keys");
        std::fs::write(&f, "good-key\nbad:secret-value\n").expect("write");
        let err = read_key_path(&f).expect_err("invalid");
        let text = err.to_string();
        assert!(text.contains("line 2"), "{text}");
        assert!(!text.contains("secret-value"), "{text}");
        assert!(!format!("{err:?}").contains("secret-value"));
        assert_eq!(err.error_code(), "key_file_invalid_key");
        std::fs::write(&f, "# nothing\n\n").expect("write");
        let err = read_key_path(&f).expect_err("empty");
        assert_eq!(err.error_code(), "key_file_empty");
        let err = read_key_path(&dir.path().join("missing")).expect_err("missing");
        assert_eq!(err.error_code(), "key_file_unreadable");
    }
}
