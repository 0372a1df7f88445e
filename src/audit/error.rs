//! The audit module's one error type, [`DirectoryError`]: what can go wrong reading
//! a directory. Everything else in the module is infallible.

use super::status::DirectoryStatus;

/// How many problems an error's message lists; all of them are in the value.
const LISTED: usize = 20;

/// A directory that cannot be used.
///
/// Recovery: a file error is fixed by a person (the command exits non-zero). A
/// topic record error is not [`crate::recovery::Classified`]: none of its outcomes
/// fits, since retrying cannot fix the record and nothing needs to stop; the
/// runtime counts it, logs it and keeps the entry it had for that email.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// The file as a whole is unusable: empty, or the header lacks a column.
    #[error("directory: {0}")]
    Header(String),
    /// Lines that cannot be used (a strict load): every one of them, in line order.
    #[error("directory: {}", list(.0))]
    Invalid(Vec<LineProblem>),
    /// One directory topic record that cannot be used.
    #[error("directory record: {0}")]
    Record(Problem),
}

fn list(problems: &[LineProblem]) -> String {
    let mut out = format!("{} unusable line(s): ", problems.len());
    let shown: Vec<String> = problems
        .iter()
        .take(LISTED)
        .map(ToString::to_string)
        .collect();
    out.push_str(&shown.join("; "));
    if problems.len() > LISTED {
        out.push_str(&format!("; and {} more", problems.len() - LISTED));
    }
    out
}

/// One unusable line of a directory file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct LineProblem {
    /// 1-based physical line (the header is line 1 of a CSV file); for a record
    /// spanning lines, the line it starts on.
    pub line: u64,
    pub problem: Problem,
}

/// What is wrong with one row or record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// CSV quoting, JSON syntax, encoding.
    #[error("malformed: {0}")]
    Syntax(String),
    #[error("malformed: {found} field(s) where the header has {expected}")]
    FieldCount { expected: usize, found: usize },
    #[error("no email")]
    MissingEmail,
    #[error("not an email: {0:?}")]
    InvalidEmail(String),
    #[error("no status")]
    MissingStatus,
    #[error("unknown status {0:?} (active, suspended, deleted or a documented synonym)")]
    UnknownStatus(String),
    #[error("field {name:?}: {reason}")]
    BadField { name: String, reason: String },
    /// The same normalised email as an earlier line; the entry keeps `kept`.
    #[error("duplicate of line {first_line} ({email}); kept status {}", .kept.as_str())]
    Duplicate {
        email: String,
        first_line: u64,
        kept: DirectoryStatus,
    },
    /// A topic record whose key and value name different people.
    #[error("the key {key:?} and the value's email {email:?} differ")]
    KeyMismatch { key: String, email: String },
}
