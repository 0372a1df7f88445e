//! The schema files of `schemas/`, embedded at build time, and their parsed form.
//!
//! `schemas/*.avsc` are the single source of truth: the binary carries them verbatim
//! (`include_str!`), registers them verbatim with a Schema Registry and writes them
//! out verbatim for `streak-connector schemas`. `schemas/history/<name>/vN.avsc` are
//! the released versions: the compatibility test holds the current files against
//! them, and the decoder recognises single-object data written with any of them.
//!
//! This module parses once, at start-up, and returns errors: it never panics on a
//! schema and does no I/O except in [`write_schemas`].

use std::io::Write;
use std::path::{Path, PathBuf};

use apache_avro::Schema;

use super::fingerprint::{schema_fingerprint, CanonicalFormError};

/// Which of the three schemas a file is a version of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaRole {
    /// `membership_key.avsc`: the key of both topics.
    Key,
    /// `change_event.avsc`: the value of the events topic.
    Event,
    /// `state_value.avsc`: the value of the state topic.
    State,
}

impl SchemaRole {
    /// The schema's file stem, which is also its `schemas/history/` directory.
    pub fn file_stem(self) -> &'static str {
        match self {
            SchemaRole::Key => "membership_key",
            SchemaRole::Event => "change_event",
            SchemaRole::State => "state_value",
        }
    }

    /// The Avro full name of the schema's top-level record.
    pub(crate) fn record_name(self) -> &'static str {
        match self {
            SchemaRole::Key => "io.streakconnector.membership.MembershipKey",
            SchemaRole::Event => "io.streakconnector.membership.ChangeEvent",
            SchemaRole::State => "io.streakconnector.membership.StateValue",
        }
    }

    /// Every role.
    pub const ALL: [SchemaRole; 3] = [SchemaRole::Key, SchemaRole::Event, SchemaRole::State];
}

/// One embedded schema file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaFile {
    /// File name under `schemas/`, e.g. `change_event.avsc`.
    pub name: &'static str,
    pub role: SchemaRole,
    /// The file's text, verbatim.
    pub text: &'static str,
}

/// One released version of a schema, from `schemas/history/<stem>/v<version>.avsc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryFile {
    pub role: SchemaRole,
    pub version: u32,
    /// Path relative to `schemas/`, e.g. `history/change_event/v1.avsc`.
    pub path: &'static str,
    pub text: &'static str,
}

const CURRENT: [SchemaFile; 3] = [
    SchemaFile {
        name: "membership_key.avsc",
        role: SchemaRole::Key,
        text: include_str!("../../schemas/membership_key.avsc"),
    },
    SchemaFile {
        name: "change_event.avsc",
        role: SchemaRole::Event,
        text: include_str!("../../schemas/change_event.avsc"),
    },
    SchemaFile {
        name: "state_value.avsc",
        role: SchemaRole::State,
        text: include_str!("../../schemas/state_value.avsc"),
    },
];

// A test checks that every file under schemas/history/ is listed here.
const HISTORY: [HistoryFile; 4] = [
    HistoryFile {
        role: SchemaRole::Key,
        version: 1,
        path: "history/membership_key/v1.avsc",
        text: include_str!("../../schemas/history/membership_key/v1.avsc"),
    },
    HistoryFile {
        role: SchemaRole::Event,
        version: 1,
        path: "history/change_event/v1.avsc",
        text: include_str!("../../schemas/history/change_event/v1.avsc"),
    },
    HistoryFile {
        role: SchemaRole::State,
        version: 1,
        path: "history/state_value/v1.avsc",
        text: include_str!("../../schemas/history/state_value/v1.avsc"),
    },
    HistoryFile {
        role: SchemaRole::State,
        version: 2,
        path: "history/state_value/v2.avsc",
        text: include_str!("../../schemas/history/state_value/v2.avsc"),
    },
];

/// The current schema files, in a fixed order (key, event, state value): what
/// `streak-connector schemas` prints and what gets registered.
pub fn schema_files() -> &'static [SchemaFile] {
    &CURRENT
}

/// Every released version kept under `schemas/history/`.
pub fn history_files() -> &'static [HistoryFile] {
    &HISTORY
}

/// Why the embedded schemas could not be loaded or written out.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// An embedded file does not parse. A build defect: stop; the schema tests
    /// catch this before release.
    #[error("schema file {file} is not a valid Avro schema: {source}")]
    Parse {
        file: &'static str,
        #[source]
        source: Box<apache_avro::Error>,
    },
    /// An embedded file has no canonical form. A build defect: stop.
    #[error("schema file {file}: {source}")]
    Canonical {
        file: &'static str,
        #[source]
        source: CanonicalFormError,
    },
    /// A file's top-level record is not the one its role requires. A build defect:
    /// stop.
    #[error("schema file {file} defines {found}, expected {expected}")]
    WrongRecord {
        file: &'static str,
        expected: &'static str,
        found: String,
    },
    /// Two different schema texts share a fingerprint (or a history file repeats a
    /// different current file). A build defect: stop.
    #[error("schema files {first} and {second} have the same fingerprint {fingerprint:016x}")]
    FingerprintClash {
        first: &'static str,
        second: &'static str,
        fingerprint: u64,
    },
    /// Writing the files out failed. Stop: check the directory and its permissions.
    #[error("cannot write schema file {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A parsed schema with what the wire formats need about it.
#[derive(Debug, Clone)]
pub struct ParsedSchema {
    pub role: SchemaRole,
    /// Where it came from: a current file name or a history path.
    pub origin: &'static str,
    /// The text, verbatim (registered as is).
    pub text: &'static str,
    pub schema: Schema,
    /// CRC-64-AVRO of the Parsing Canonical Form (single-object header).
    pub fingerprint: u64,
}

/// The embedded schemas, parsed once at start-up. Cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Schemas {
    key: ParsedSchema,
    event: ParsedSchema,
    state: ParsedSchema,
    /// Current and released versions, one per fingerprint, for single-object
    /// decoding. A handful: a scan beats hashing (this is on the restore's path).
    by_fingerprint: Vec<ParsedSchema>,
}

fn parse(
    role: SchemaRole,
    origin: &'static str,
    text: &'static str,
) -> Result<ParsedSchema, SchemaError> {
    let schema = Schema::parse_str(text).map_err(|e| SchemaError::Parse {
        file: origin,
        source: Box::new(e),
    })?;
    let found = match &schema {
        Schema::Record(r) => r.name.fullname(None),
        other => format!("{:?}", apache_avro::schema::SchemaKind::from(other)),
    };
    if found != role.record_name() {
        return Err(SchemaError::WrongRecord {
            file: origin,
            expected: role.record_name(),
            found,
        });
    }
    let fingerprint = schema_fingerprint(text).map_err(|source| SchemaError::Canonical {
        file: origin,
        source,
    })?;
    Ok(ParsedSchema {
        role,
        origin,
        text,
        schema,
        fingerprint,
    })
}

impl Schemas {
    /// Parse every embedded file (current and history). Errors are build defects,
    /// reported rather than panicked on.
    pub fn load() -> Result<Schemas, SchemaError> {
        let [k, e, s] = &CURRENT;
        let (key, event, state) = (
            parse(k.role, k.name, k.text)?,
            parse(e.role, e.name, e.text)?,
            parse(s.role, s.name, s.text)?,
        );
        let mut by_fingerprint: Vec<ParsedSchema> = Vec::new();
        let history = HISTORY
            .iter()
            .map(|h| parse(h.role, h.path, h.text))
            .collect::<Result<Vec<_>, _>>()?;
        for parsed in [&key, &event, &state].into_iter().chain(history.iter()) {
            if let Some(existing) = by_fingerprint
                .iter()
                .find(|p| p.fingerprint == parsed.fingerprint)
            {
                // The same canonical form twice is expected (a history version equal
                // to the current file); a clash across roles is not.
                if existing.role != parsed.role {
                    return Err(SchemaError::FingerprintClash {
                        first: existing.origin,
                        second: parsed.origin,
                        fingerprint: parsed.fingerprint,
                    });
                }
                continue;
            }
            by_fingerprint.push(parsed.clone());
        }
        Ok(Schemas {
            key,
            event,
            state,
            by_fingerprint,
        })
    }

    /// The current schema of a role.
    pub fn current(&self, role: SchemaRole) -> &ParsedSchema {
        match role {
            SchemaRole::Key => &self.key,
            SchemaRole::Event => &self.event,
            SchemaRole::State => &self.state,
        }
    }

    /// A current or released schema by its CRC-64-AVRO fingerprint.
    pub(crate) fn by_fingerprint(&self, fingerprint: u64) -> Option<&ParsedSchema> {
        self.by_fingerprint
            .iter()
            .find(|p| p.fingerprint == fingerprint)
    }
}

/// Write the current schema files into `dir` (created if absent), returning the
/// paths written.
pub(crate) fn write_schemas(dir: &Path) -> Result<Vec<PathBuf>, SchemaError> {
    std::fs::create_dir_all(dir).map_err(|source| SchemaError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    CURRENT
        .iter()
        .map(|f| {
            let path = dir.join(f.name);
            std::fs::write(&path, f.text).map_err(|source| SchemaError::Write {
                path: path.clone(),
                source,
            })?;
            Ok(path)
        })
        .collect()
}

/// Print the current schema files to `out`, each under a `==> name <==` header line
/// (as `head` does for several files).
pub(crate) fn print_schemas(out: &mut impl Write) -> std::io::Result<()> {
    for (i, f) in CURRENT.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        writeln!(out, "==> {} <==", f.name)?;
        out.write_all(f.text.as_bytes())?;
        if !f.text.ends_with('\n') {
            writeln!(out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_every_embedded_schema() {
        let schemas = Schemas::load().expect("embedded schemas load");
        for role in SchemaRole::ALL {
            let parsed = schemas.current(role);
            assert_eq!(parsed.role, role);
            assert_eq!(
                schemas.by_fingerprint(parsed.fingerprint).map(|p| p.role),
                Some(role)
            );
        }
        for h in history_files() {
            let fp = schema_fingerprint(h.text).expect("history canonical form");
            assert_eq!(schemas.by_fingerprint(fp).map(|p| p.role), Some(h.role));
        }
    }

    #[test]
    fn writes_and_prints_the_current_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("out");
        let written = write_schemas(&target).expect("write");
        assert_eq!(written.len(), 3);
        for f in schema_files() {
            let text = std::fs::read_to_string(target.join(f.name)).expect("read back");
            assert_eq!(text, f.text);
        }
        let mut printed = Vec::new();
        print_schemas(&mut printed).expect("print");
        let printed = String::from_utf8(printed).expect("utf8");
        assert!(printed.starts_with("==> membership_key.avsc <==\n{"));
        assert!(printed.contains("==> state_value.avsc <=="));
    }

    #[test]
    fn write_error_names_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("plain-file");
        std::fs::write(&file, "x").expect("write");
        let err = write_schemas(&file).expect_err("a file is not a directory");
        assert!(err.to_string().contains("plain-file"), "{err}");
    }
}
