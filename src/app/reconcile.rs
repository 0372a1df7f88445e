//! `reconcile --directory FILE`: each organization's members against a directory
//! export, by normalised email; one finding per member that needs a look.
//!
//! The members come from the state topic (read only, like `audit`) or `--live`
//! from Streak. The exit status is for cron: [`FINDINGS_EXIT`] when there are
//! findings, 0 when there are none or with `--report-only`; a directory that cannot
//! be used fails with every unusable line named. See `docs/audit.md`.

use std::io::{BufReader, Read as _, Write as _};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use super::audit::{members, Members, OutputFormat, SourceArgs};
use crate::audit::{
    self, DirectoryFormat, DirectoryOptions, EmailNormalisation, Finding, Format, ReconcileOptions,
};
use crate::config::Config;

/// The exit status of a run that found something (and was not `--report-only`).
pub const FINDINGS_EXIT: u8 = 3;

/// A directory file's format, as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DirectoryFileFormat {
    /// CSV with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// Flags of `reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The directory export: CSV with a header, or JSON lines.
    #[arg(long)]
    pub directory: PathBuf,
    /// The file's format [default: from the extension (.csv; .jsonl, .ndjson,
    /// .json), else from the content].
    #[arg(long, value_enum)]
    pub directory_format: Option<DirectoryFileFormat>,
    /// The email column (CSV header) or field (JSON), case-insensitive.
    #[arg(long, default_value = "email")]
    pub email_column: String,
    /// The status column or field, case-insensitive.
    #[arg(long, default_value = "status")]
    pub status_column: String,
    /// Drop the `+tag` of an email's local part, on both sides.
    #[arg(long)]
    pub strip_plus_tags: bool,
    /// Also report active directory entries that are not members.
    #[arg(long)]
    pub directory_only: bool,
    /// Load the usable lines and print the unusable ones beside the findings
    /// instead of failing.
    #[arg(long)]
    pub lenient: bool,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Exit 0 even when there are findings.
    #[arg(long)]
    pub report_only: bool,
}

/// Findings were reported: the command's verdict, not a failure to run.
#[derive(Debug, thiserror::Error)]
#[error("{0} finding(s)")]
pub struct FindingsFound(pub usize);

impl ReconcileArgs {
    fn directory_options(&self) -> DirectoryOptions {
        DirectoryOptions {
            email_column: self.email_column.clone(),
            status_column: self.status_column.clone(),
            normalisation: EmailNormalisation {
                strip_plus_tag: self.strip_plus_tags,
            },
            lenient: self.lenient,
            ..DirectoryOptions::default()
        }
    }
}

/// Reads the directory file (every problem named by its line).
fn load_directory(args: &ReconcileArgs) -> anyhow::Result<audit::LoadedDirectory> {
    let path = &args.directory;
    let shown = path.display();
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .with_context(|| format!("cannot read the directory file {shown}"))?;
    let format = match args.directory_format {
        Some(DirectoryFileFormat::Csv) => DirectoryFormat::Csv,
        Some(DirectoryFileFormat::Jsonl) => DirectoryFormat::JsonLines,
        None => DirectoryFormat::from_path(&path.to_string_lossy())
            .unwrap_or_else(|| DirectoryFormat::sniff(&String::from_utf8_lossy(&bytes))),
    };
    audit::parse_directory(
        BufReader::new(bytes.as_slice()),
        format,
        &args.directory_options(),
    )
    .with_context(|| format!("{shown} cannot be used"))
}

/// `reconcile`: prints the findings; `Err(FindingsFound)` when there are some and
/// the run is not `--report-only`.
pub async fn reconcile(config: Config, args: ReconcileArgs) -> anyhow::Result<()> {
    // The file first: a bad directory fails before any Kafka or Streak call.
    let loaded = load_directory(&args)?;
    let members = members(&config, &args.source).await?;
    let options = ReconcileOptions {
        directory_only: args.directory_only,
    };
    let mut findings: Vec<Finding> = match &members {
        Members::State(orgs) => orgs
            .values()
            .flat_map(|s| audit::reconcile_state(s, &loaded.directory, options))
            .collect(),
        Members::Live(orgs) => orgs
            .iter()
            .flat_map(|(k, l)| audit::reconcile(k, &l.members, &loaded.directory, options))
            .collect(),
    };
    audit::sort_findings(&mut findings);
    let format = Format::from(args.format);
    let mut out = std::io::stdout().lock();
    out.write_all(audit::render_findings(&findings, format).as_bytes())?;
    out.flush()?;
    if !loaded.problems.is_empty() {
        // Lenient: nothing dropped silently; on stderr so CSV and JSON stay clean.
        eprintln!(
            "warning: {} line(s) of {} not used (--lenient):",
            loaded.problems.len(),
            args.directory.display()
        );
        for p in &loaded.problems {
            eprintln!("  {p}");
        }
    }
    if findings.is_empty() || args.report_only {
        Ok(())
    } else {
        Err(FindingsFound(findings.len()).into())
    }
}
