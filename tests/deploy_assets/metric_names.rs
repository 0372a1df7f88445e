//! Metric names in PromQL and in a Prometheus scrape, and the comparison of the two.
//!
//! Reusable on purpose: [`problems`] takes the text of any scrape, so the same check
//! runs on the registry built in-process (today) and on a live `/metrics` scrape of
//! the running binary. It knows nothing about dashboards or rule files: callers hand
//! it PromQL strings.

use std::collections::{BTreeMap, BTreeSet};

/// The prefix of every connector metric.
pub(crate) const PREFIX: &str = "streak_connector_";

/// The prefixes of the names checked in PromQL: the connector's own, and the
/// standard `process_*` metrics it exports too.
const CHECKED_PREFIXES: [&str; 2] = [PREFIX, "process_"];

/// The first occurrence at or after `from` of a checked prefix: its position and length.
fn next_prefix(expr: &str, from: usize) -> Option<(usize, usize)> {
    CHECKED_PREFIXES
        .iter()
        .filter_map(|p| expr[from..].find(p).map(|at| (from + at, p.len())))
        .min()
}

/// Labels that Prometheus adds to every scraped series (target labels): a selector
/// may use them although the connector does not export them.
pub(crate) const TARGET_LABELS: [&str; 2] = ["job", "instance"];

/// One use of a connector metric in a PromQL expression.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Selector {
    /// The series name as written (`..._bucket` included for histograms).
    pub(crate) name: String,
    /// Label names of the matchers in braces right after the name.
    pub(crate) labels: BTreeSet<String>,
}

/// Every `streak_connector_*` (and `process_*`) name in a PromQL expression, with
/// the label names of its matchers (`name{a="x", b=~"y"}` gives `a`, `b`).
pub(crate) fn selectors(expr: &str) -> Vec<Selector> {
    let bytes = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some((start, prefix_len)) = next_prefix(expr, i) {
        // Part of a longer identifier (e.g. `my_streak_connector_x`): not ours.
        if start > 0 && is_ident(bytes[start - 1]) {
            i = start + prefix_len;
            continue;
        }
        let mut end = start;
        while end < bytes.len() && is_ident(bytes[end]) {
            end += 1;
        }
        let name = expr[start..end].to_string();
        let mut j = end;
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        let mut labels = BTreeSet::new();
        if j < bytes.len() && bytes[j] == b'{' {
            let (body, close) = braced(expr, j);
            labels = matcher_names(body);
            j = close;
        }
        out.push(Selector { name, labels });
        i = j.max(end);
    }
    out
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

/// The text between `{` at `open` and its `}` (quotes respected), and the index after.
fn braced(expr: &str, open: usize) -> (&str, usize) {
    let bytes = expr.as_bytes();
    let mut k = open + 1;
    let mut quote: Option<u8> = None;
    while k < bytes.len() {
        let b = bytes[k];
        match quote {
            Some(_) if b == b'\\' => k += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' || b == b'`' => quote = Some(b),
            None if b == b'}' => return (&expr[open + 1..k], k + 1),
            None => {}
        }
        k += 1;
    }
    (&expr[open + 1..], bytes.len())
}

/// Label names of `a="x", b!~"y"` (values may hold commas and operators).
fn matcher_names(body: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut expecting_name = true;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut current = String::new();
    for c in body.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            ',' => {
                expecting_name = true;
                current.clear();
            }
            '=' | '!' | '~' => {
                if expecting_name && !current.is_empty() {
                    names.insert(current.trim().to_string());
                }
                expecting_name = false;
            }
            c if expecting_name => current.push(c),
            _ => {}
        }
    }
    names
}

/// What a scrape exports: every sample name with the label names it carries, and
/// every metric family (from `# TYPE` lines).
#[derive(Debug, Default)]
pub(crate) struct Scrape {
    pub(crate) samples: BTreeMap<String, BTreeSet<String>>,
    pub(crate) families: BTreeSet<String>,
}

/// Parses the Prometheus text exposition format (what `/metrics` serves).
pub(crate) fn parse_scrape(text: &str) -> Scrape {
    let mut scrape = Scrape::default();
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(name) = rest.split_whitespace().next() {
                scrape.families.insert(name.to_string());
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line
            .find(|c: char| c == '{' || c.is_whitespace())
            .unwrap_or(line.len());
        let name = line[..name_end].to_string();
        let labels = if line[name_end..].starts_with('{') {
            let (body, _) = braced(line, name_end);
            matcher_names(body)
        } else {
            BTreeSet::new()
        };
        scrape.samples.entry(name).or_default().extend(labels);
    }
    scrape
}

/// Everything wrong with the uses of connector metrics in `exprs` (each paired with
/// where it comes from, for the message) against a scrape: a name the scrape does not
/// have, or a matcher on a label that the series does not carry. Empty when all is
/// well.
pub(crate) fn problems(exprs: &[(String, String)], scrape_text: &str) -> Vec<String> {
    let scrape = parse_scrape(scrape_text);
    let mut out = Vec::new();
    for (origin, expr) in exprs {
        for sel in selectors(expr) {
            let Some(exported) = scrape.samples.get(&sel.name) else {
                out.push(format!(
                    "{origin}: {} is not exported by the connector",
                    sel.name
                ));
                continue;
            };
            for label in &sel.labels {
                if !exported.contains(label) && !TARGET_LABELS.contains(&label.as_str()) {
                    out.push(format!(
                        "{origin}: {} has no label {label:?} (it has {:?})",
                        sel.name, exported
                    ));
                }
            }
        }
    }
    out
}

/// The metric families of a scrape that no expression uses (a histogram counts as
/// used through its `_bucket`, `_sum` or `_count` series).
pub(crate) fn unused_families(exprs: &[(String, String)], scrape_text: &str) -> Vec<String> {
    let used: BTreeSet<String> = exprs
        .iter()
        .flat_map(|(_, e)| selectors(e))
        .map(|s| s.name)
        .collect();
    parse_scrape(scrape_text)
        .families
        .into_iter()
        .filter(|f| f.starts_with(PREFIX))
        .filter(|f| {
            !["", "_bucket", "_sum", "_count"]
                .iter()
                .any(|suffix| used.contains(&format!("{f}{suffix}")))
        })
        .collect()
}
