//! The directory: who the organization's identity provider says exists, by
//! normalised email, with a status (active, suspended, deleted). It owns parsing a
//! directory file (CSV with a header row, or JSON lines) and a directory topic
//! record, and must not decide findings (that is `reconcile.rs`).
//!
//! Nothing is dropped silently. Every line that cannot be used (a syntax error,
//! a missing or invalid email, a missing or unknown status) and every duplicate
//! (the same normalised email twice) is a [`LineProblem`] naming its line. By
//! default any problem fails the load: a directory missing one row would report
//! a real employee as an orphaned account. With [`DirectoryOptions::lenient`] the
//! usable rows load and the problems come back beside them, for the caller to
//! print; a duplicate then keeps its most severe status (deleted over suspended
//! over active), so a conflict raises a finding for a person to look at instead
//! of hiding one.

use std::collections::BTreeMap;
use std::io::BufRead;

use super::csv;
use super::email::EmailNormalisation;
use super::error::{DirectoryError, LineProblem, Problem};
use super::status::DirectoryStatus;

fn status_word(raw: &str) -> String {
    raw.trim().to_lowercase().replace(['-', ' '], "_")
}

/// The file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DirectoryFormat {
    /// RFC 4180 CSV with a header row.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

impl DirectoryFormat {
    /// By file extension: `.csv`; `.jsonl`, `.ndjson` or `.json` (JSON lines).
    pub(crate) fn from_path(path: &str) -> Option<Self> {
        let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(DirectoryFormat::Csv),
            "jsonl" | "ndjson" | "json" => Some(DirectoryFormat::JsonLines),
            _ => None,
        }
    }

    /// By content: JSON lines when the first non-blank character is `{`.
    pub(crate) fn sniff(text: &str) -> Self {
        match text
            .trim_start_matches('\u{feff}')
            .trim_start()
            .starts_with('{')
        {
            true => DirectoryFormat::JsonLines,
            false => DirectoryFormat::Csv,
        }
    }
}

/// How to read a directory (file or topic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryOptions {
    /// The email column or JSON field (matched case-insensitively). Default `email`.
    pub email_column: String,
    /// The status column or JSON field (matched case-insensitively). Default `status`.
    pub status_column: String,
    /// Extra status names on top of [`DirectoryStatus::SYNONYMS`] (they win on a clash).
    pub status_aliases: Vec<(String, DirectoryStatus)>,
    pub normalisation: EmailNormalisation,
    /// Load the usable rows and return the problems beside them instead of failing.
    pub lenient: bool,
}

impl Default for DirectoryOptions {
    fn default() -> Self {
        DirectoryOptions {
            email_column: "email".into(),
            status_column: "status".into(),
            status_aliases: Vec::new(),
            normalisation: EmailNormalisation::default(),
            lenient: false,
        }
    }
}

impl DirectoryOptions {
    /// The status a directory value names, if any.
    pub fn status(&self, raw: &str) -> Option<DirectoryStatus> {
        let word = status_word(raw);
        self.status_aliases
            .iter()
            .find(|(alias, _)| status_word(alias) == word)
            .map(|(_, s)| *s)
            .or_else(|| {
                DirectoryStatus::SYNONYMS
                    .iter()
                    .find(|(name, _)| *name == word)
                    .map(|(_, s)| *s)
            })
    }

    /// An email and a status read from one row or record, or the problem.
    fn entry(
        &self,
        email: Option<&str>,
        status: Option<&str>,
        line: Option<u64>,
    ) -> Result<(String, DirectoryEntry), Problem> {
        let email = email.map(str::trim).filter(|e| !e.is_empty());
        let email = email.ok_or(Problem::MissingEmail)?;
        let normalised = self
            .normalisation
            .normalise(email)
            .ok_or_else(|| Problem::InvalidEmail(clip(email)))?;
        let status = status.map(str::trim).filter(|s| !s.is_empty());
        let status = status.ok_or(Problem::MissingStatus)?;
        let status = self
            .status(status)
            .ok_or_else(|| Problem::UnknownStatus(clip(status)))?;
        let entry = DirectoryEntry {
            email: email.to_owned(),
            status,
            line,
        };
        Ok((normalised, entry))
    }
}

/// Outside text in a message, cut to a readable length.
pub(crate) fn clip(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

/// One person of the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    /// The email as the directory wrote it (trimmed).
    pub email: String,
    pub status: DirectoryStatus,
    /// The file line it came from (`None` from a topic).
    pub line: Option<u64>,
}

/// The directory by normalised email.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    entries: BTreeMap<String, DirectoryEntry>,
    normalisation: EmailNormalisation,
}

impl Directory {
    /// An empty directory whose emails (and members' emails compared with it) are
    /// normalised by `normalisation`.
    pub fn new(normalisation: EmailNormalisation) -> Self {
        Directory {
            entries: BTreeMap::new(),
            normalisation,
        }
    }

    pub fn normalisation(&self) -> &EmailNormalisation {
        &self.normalisation
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry of an already normalised email.
    pub fn get(&self, normalised: &str) -> Option<&DirectoryEntry> {
        self.entries.get(normalised)
    }

    /// The entry of an email as written anywhere (normalised first).
    pub fn lookup(&self, email: &str) -> Option<&DirectoryEntry> {
        self.normalisation
            .normalise(email)
            .and_then(|n| self.entries.get(&n))
    }

    /// Every entry with its normalised email, in email order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &DirectoryEntry)> + '_ {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Apply one update; returns the entry it replaced or removed.
    pub fn apply(&mut self, update: DirectoryUpdate) -> Option<DirectoryEntry> {
        match update {
            DirectoryUpdate::Upsert { normalised, entry } => self.entries.insert(normalised, entry),
            DirectoryUpdate::Remove { normalised } => self.entries.remove(&normalised),
        }
    }

    /// Insert a parsed row; a duplicate is reported and keeps the most severe status.
    fn add(&mut self, normalised: String, entry: DirectoryEntry, problems: &mut Vec<LineProblem>) {
        match self.entries.get_mut(&normalised) {
            None => {
                self.entries.insert(normalised, entry);
            }
            Some(first) => {
                first.status = first.status.max(entry.status);
                problems.push(LineProblem {
                    line: entry.line.unwrap_or(0),
                    problem: Problem::Duplicate {
                        email: normalised,
                        first_line: first.line.unwrap_or(0),
                        kept: first.status,
                    },
                });
            }
        }
    }
}

/// A directory loaded from a file, with the problems a lenient load let through
/// (always empty for a strict one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoadedDirectory {
    pub directory: Directory,
    pub problems: Vec<LineProblem>,
}

/// Parse a directory file. Every problem names its line; see the module docs for
/// strict and lenient loads.
pub(crate) fn parse_directory(
    input: impl BufRead,
    format: DirectoryFormat,
    options: &DirectoryOptions,
) -> Result<LoadedDirectory, DirectoryError> {
    let mut directory = Directory::new(options.normalisation.clone());
    let mut problems = Vec::new();
    match format {
        DirectoryFormat::Csv => read_csv(input, options, &mut directory, &mut problems)?,
        DirectoryFormat::JsonLines => {
            read_json_lines(input, options, &mut directory, &mut problems)
        }
    }
    problems.sort_by_key(|p| p.line);
    if !problems.is_empty() && !options.lenient {
        return Err(DirectoryError::Invalid(problems));
    }
    Ok(LoadedDirectory {
        directory,
        problems,
    })
}

fn column(header: &[String], name: &str) -> Result<usize, DirectoryError> {
    let found: Vec<usize> = (0..header.len())
        .filter(|&i| header[i].trim().eq_ignore_ascii_case(name.trim()))
        .collect();
    match found.as_slice() {
        [i] => Ok(*i),
        [] => Err(DirectoryError::Header(format!(
            "no column {name:?} in the header (found: {})",
            header
                .iter()
                .map(|h| clip(h))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        _ => Err(DirectoryError::Header(format!(
            "the header names column {name:?} {} times",
            found.len()
        ))),
    }
}

fn read_csv(
    input: impl BufRead,
    options: &DirectoryOptions,
    directory: &mut Directory,
    problems: &mut Vec<LineProblem>,
) -> Result<(), DirectoryError> {
    let mut records = csv::Reader::new(input);
    let header = match records.next() {
        None => {
            return Err(DirectoryError::Header(
                "the file is empty (no header row)".into(),
            ))
        }
        Some(Err(e)) => {
            return Err(DirectoryError::Header(format!(
                "line {}: {}",
                e.line(),
                e.describe()
            )))
        }
        Some(Ok(header)) => header.fields,
    };
    let email_at = column(&header, &options.email_column)?;
    let status_at = column(&header, &options.status_column)?;
    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(LineProblem {
                    line: e.line(),
                    problem: Problem::Syntax(e.describe()),
                });
                continue;
            }
        };
        if record.fields.len() != header.len() {
            problems.push(LineProblem {
                line: record.line,
                problem: Problem::FieldCount {
                    expected: header.len(),
                    found: record.fields.len(),
                },
            });
            continue;
        }
        let email = record.fields[email_at].as_str();
        let status = record.fields[status_at].as_str();
        match options.entry(Some(email), Some(status), Some(record.line)) {
            Ok((normalised, entry)) => directory.add(normalised, entry, problems),
            Err(problem) => problems.push(LineProblem {
                line: record.line,
                problem,
            }),
        }
    }
    Ok(())
}

/// A JSON object's string field, matched case-insensitively; `Err` for a field of
/// another type.
fn string_field<'a>(
    object: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Result<Option<&'a str>, Problem> {
    let found = object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name.trim()));
    match found.map(|(_, v)| v) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(Problem::BadField {
            name: name.to_owned(),
            reason: format!("a string was expected, found {}", json_kind(other)),
        }),
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn json_object(text: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, Problem> {
    let value: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| Problem::Syntax(format!("not JSON: {e}")))?;
    match value {
        serde_json::Value::Object(object) => Ok(object),
        other => Err(Problem::Syntax(format!(
            "a JSON object was expected, found {}",
            json_kind(&other)
        ))),
    }
}

/// The email and status of one JSON object.
fn json_entry(
    text: &[u8],
    options: &DirectoryOptions,
    line: Option<u64>,
) -> Result<(String, DirectoryEntry), Problem> {
    let object = json_object(text)?;
    let email = string_field(&object, &options.email_column)?;
    let status = string_field(&object, &options.status_column)?;
    options.entry(email, status, line)
}

fn read_json_lines(
    mut input: impl BufRead,
    options: &DirectoryOptions,
    directory: &mut Directory,
    problems: &mut Vec<LineProblem>,
) {
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        line += 1;
        match input.read_until(b'\n', &mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                let problem = Problem::Syntax(format!("read failed: {e}"));
                problems.push(LineProblem { line, problem });
                return;
            }
        }
        let text = buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&buf);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match json_entry(text, options, Some(line)) {
            Ok((normalised, entry)) => directory.add(normalised, entry, problems),
            Err(problem) => problems.push(LineProblem { line, problem }),
        }
    }
}

/// One change of the directory, from a directory topic record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryUpdate {
    Upsert {
        normalised: String,
        entry: DirectoryEntry,
    },
    /// A tombstone: the person is no longer in the directory.
    Remove { normalised: String },
}

/// Parse one record of a directory topic: keyed by email (the raw UTF-8 email, a
/// JSON string, or a JSON object holding the email field), the value a JSON object
/// with the status field and optionally the email field, which must then name the
/// same person as the key; a null value is a tombstone.
pub fn parse_directory_record(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    options: &DirectoryOptions,
) -> Result<DirectoryUpdate, DirectoryError> {
    record_update(key, value, options).map_err(DirectoryError::Record)
}

fn record_update(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    options: &DirectoryOptions,
) -> Result<DirectoryUpdate, Problem> {
    let key_email = match key {
        Some(k) => key_email(k, options)?,
        None => None,
    };
    let Some(value) = value else {
        let email = key_email.ok_or(Problem::MissingEmail)?;
        let normalised = options
            .normalisation
            .normalise(&email)
            .ok_or_else(|| Problem::InvalidEmail(clip(&email)))?;
        return Ok(DirectoryUpdate::Remove { normalised });
    };
    let object = json_object(value)?;
    let value_email = string_field(&object, &options.email_column)?;
    let status = string_field(&object, &options.status_column)?;
    let email = value_email.or(key_email.as_deref());
    let (normalised, entry) = options.entry(email, status, None)?;
    if let (Some(k), Some(_)) = (&key_email, value_email) {
        if options.normalisation.normalise(k).as_deref() != Some(normalised.as_str()) {
            return Err(Problem::KeyMismatch {
                key: clip(k),
                email: clip(&entry.email),
            });
        }
    }
    Ok(DirectoryUpdate::Upsert { normalised, entry })
}

/// The email a record key holds.
fn key_email(key: &[u8], options: &DirectoryOptions) -> Result<Option<String>, Problem> {
    let text = std::str::from_utf8(key).map_err(|_| Problem::Syntax("key is not UTF-8".into()))?;
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::String(s)) => Ok(Some(s)),
        Ok(serde_json::Value::Object(o)) => {
            Ok(string_field(&o, &options.email_column)?.map(str::to_owned))
        }
        _ if text.trim().is_empty() => Ok(None),
        _ => Ok(Some(text.to_owned())),
    }
}
