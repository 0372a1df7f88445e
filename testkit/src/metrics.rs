//! Scraping `/metrics` and reading samples of the Prometheus text format back.

use std::collections::BTreeMap;
use std::time::Duration;

/// GET `http://ADDR/PATH`: the status and the body.
pub async fn http_get(addr: &str, path: &str) -> Result<(u16, String), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp.text().await.map_err(|e| format!("GET {path}: {e}"))?;
    Ok((status, body))
}

/// The `/metrics` page (panics unless it answers 200).
pub async fn scrape(addr: &str) -> Scrape {
    let (status, body) = http_get(addr, "/metrics")
        .await
        .unwrap_or_else(|e| panic!("scraping {addr}: {e}"));
    assert_eq!(status, 200, "/metrics answered {status}: {body}");
    Scrape::parse(&body)
}

/// One sample: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed exposition.
#[derive(Debug, Clone)]
pub struct Scrape {
    pub text: String,
    pub samples: Vec<Sample>,
}

impl Scrape {
    pub fn parse(text: &str) -> Scrape {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(parse_sample)
            .collect();
        Scrape {
            text: text.to_owned(),
            samples,
        }
    }

    /// The metric families declared (`# TYPE name kind`).
    pub fn families(&self) -> Vec<String> {
        self.text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect()
    }

    /// Samples named `name` whose labels include every `(label, value)` of `with`.
    pub fn find(&self, name: &str, with: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                with.iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The value of the one sample named `name` with exactly these labels (other
    /// labels allowed); `None` if absent.
    pub fn value(&self, name: &str, with: &[(&str, &str)]) -> Option<f64> {
        let found = self.find(name, with);
        if found.is_empty() {
            None
        } else {
            Some(found.iter().map(|s| s.value).sum())
        }
    }

    /// [`Scrape::value`], 0 when absent (a counter nothing has moved yet).
    pub fn or_zero(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.value(name, with).unwrap_or(0.0)
    }

    /// `streak_connector_polls_total` of `org` with `result` (`success`, `held`,
    /// `failure`), 0 when absent.
    pub fn polls(&self, org: &str, result: &str) -> f64 {
        self.or_zero(
            "streak_connector_polls_total",
            &[("org", org), ("result", result)],
        )
    }
}

fn parse_sample(line: &str) -> Option<Sample> {
    let (name_labels, rest) = match line.find('{') {
        Some(_) => {
            let close = line.rfind('}')?;
            (&line[..=close], &line[close + 1..])
        }
        None => {
            let sp = line.find(' ')?;
            (&line[..sp], &line[sp..])
        }
    };
    let value: f64 = rest.split_whitespace().next()?.parse().ok()?;
    let (name, labels) = match name_labels.find('{') {
        Some(open) => (
            &name_labels[..open],
            parse_labels(&name_labels[open + 1..name_labels.len() - 1])?,
        ),
        None => (name_labels, BTreeMap::new()),
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

fn parse_labels(s: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(out);
        }
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if chars.next()? != '"' {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '\\' => match chars.next()? {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        out.insert(name.trim().to_owned(), value);
    }
}

/// The metric names registered in `src/metrics/`, read from its sources so the test
/// follows additions: the first string literal after each constructor call.
pub fn declared_metric_names() -> Vec<String> {
    const SOURCES: [&str; 2] = [
        include_str!("../../src/metrics/mod.rs"),
        include_str!("../../src/metrics/kafka_stats.rs"),
    ];
    let mut names = Vec::new();
    for source in SOURCES {
        let source = source.split("#[cfg(test)]").next().unwrap_or(source);
        names_in(source, &mut names);
    }
    names.sort();
    names
}

/// Adds the metric names constructed in `source` to `names`, once each.
fn names_in(source: &str, names: &mut Vec<String>) {
    for marker in [
        "counter(",
        "gauge(",
        "histogram(",
        "Gauge::new(",
        "Opts::new(",
    ] {
        let mut from = 0;
        while let Some(at) = source[from..].find(marker) {
            let start = from + at + marker.len();
            from = start;
            let Some(q1) = source[start..].find('"') else {
                break;
            };
            let lit_start = start + q1 + 1;
            let Some(q2) = source[lit_start..].find('"') else {
                break;
            };
            let lit = &source[lit_start..lit_start + q2];
            // A name is a bare identifier; help texts and messages have spaces.
            if !lit.is_empty()
                && lit
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                && !names.iter().any(|n| n == lit)
            {
                names.push(lit.to_owned());
            }
        }
    }
}
