//! A small RFC 4180 reader and writer: quoted fields, doubled quotes, commas and
//! line breaks inside quotes, CRLF or LF line ends. It owns the syntax only; what a
//! column means is `directory.rs`'s business.
//!
//! Our own rather than the `csv` crate: the directory is the only CSV input, a
//! reader that reports the physical line a record starts on is ~100 lines, and it
//! keeps the dependency tree (and `Cargo.lock`) unchanged.

use std::io::BufRead;

/// One record and the physical line (1-based) it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) line: u64,
    pub(crate) fields: Vec<String>,
}

/// What went wrong reading one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SyntaxError {
    /// A quote inside an unquoted field, or text after a closing quote.
    StrayQuote {
        line: u64,
    },
    TextAfterQuote {
        line: u64,
    },
    /// The file ended inside a quoted field that opened on `line`.
    UnterminatedQuote {
        line: u64,
    },
    /// The bytes of `line` are not UTF-8.
    NotUtf8 {
        line: u64,
    },
    /// The reader failed at `line`.
    Io {
        line: u64,
        message: String,
    },
}

impl SyntaxError {
    pub(crate) fn line(&self) -> u64 {
        match self {
            SyntaxError::StrayQuote { line }
            | SyntaxError::TextAfterQuote { line }
            | SyntaxError::UnterminatedQuote { line }
            | SyntaxError::NotUtf8 { line }
            | SyntaxError::Io { line, .. } => *line,
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            SyntaxError::StrayQuote { .. } => {
                "a quote inside an unquoted field (quote the whole field and double the quote)"
                    .into()
            }
            SyntaxError::TextAfterQuote { .. } => {
                "text after a closing quote (expected a comma or the end of the line)".into()
            }
            SyntaxError::UnterminatedQuote { .. } => {
                "a quoted field opened here is never closed".into()
            }
            SyntaxError::NotUtf8 { .. } => "not UTF-8".into(),
            SyntaxError::Io { message, .. } => format!("read failed: {message}"),
        }
    }
}

/// Reads records one by one. Blank lines between records are skipped; a syntax
/// error ends the record it is in, and reading goes on at the next line, so one
/// bad line does not hide the problems after it.
#[derive(Debug)]
pub(crate) struct Reader<R> {
    input: R,
    /// The number of the last physical line read.
    line: u64,
    buf: Vec<u8>,
    done: bool,
}

impl<R: BufRead> Reader<R> {
    pub(crate) fn new(input: R) -> Self {
        Reader {
            input,
            line: 0,
            buf: Vec::new(),
            done: false,
        }
    }

    /// The next physical line without its line end, or `None` at the end.
    fn next_line(&mut self) -> Option<Result<String, SyntaxError>> {
        self.buf.clear();
        match self.input.read_until(b'\n', &mut self.buf) {
            Ok(0) => None,
            Ok(_) => {
                self.line += 1;
                if self.buf.last() == Some(&b'\n') {
                    self.buf.pop();
                }
                if self.buf.last() == Some(&b'\r') {
                    self.buf.pop();
                }
                let bytes = if self.line == 1 {
                    self.buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&self.buf)
                } else {
                    &self.buf
                };
                Some(
                    String::from_utf8(bytes.to_vec())
                        .map_err(|_| SyntaxError::NotUtf8 { line: self.line }),
                )
            }
            Err(e) => {
                self.line += 1;
                Some(Err(SyntaxError::Io {
                    line: self.line,
                    message: e.to_string(),
                }))
            }
        }
    }

    fn record(&mut self, first: String) -> Result<Record, SyntaxError> {
        let start = self.line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut text = first;
        // Quoted field in progress, and whether the field was quoted at all.
        let (mut in_quotes, mut quoted) = (false, false);
        loop {
            let mut chars = text.chars().peekable();
            while let Some(c) = chars.next() {
                match (in_quotes, c) {
                    (true, '"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    (true, '"') => {
                        in_quotes = false;
                        match chars.peek() {
                            None | Some(',') => {}
                            Some(_) => return Err(SyntaxError::TextAfterQuote { line: self.line }),
                        }
                    }
                    (true, c) => field.push(c),
                    (false, ',') => {
                        fields.push(std::mem::take(&mut field));
                        quoted = false;
                    }
                    (false, '"') if field.is_empty() && !quoted => {
                        in_quotes = true;
                        quoted = true;
                    }
                    (false, '"') => return Err(SyntaxError::StrayQuote { line: self.line }),
                    (false, c) => field.push(c),
                }
            }
            if !in_quotes {
                fields.push(field);
                return Ok(Record {
                    line: start,
                    fields,
                });
            }
            // A line break inside quotes is part of the field.
            match self.next_line() {
                Some(Ok(next)) => {
                    field.push('\n');
                    text = next;
                }
                Some(Err(e)) => return Err(e),
                None => {
                    self.done = true;
                    return Err(SyntaxError::UnterminatedQuote { line: start });
                }
            }
        }
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Record, SyntaxError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            match self.next_line()? {
                Ok(line) if line.trim().is_empty() => continue,
                Ok(line) => return Some(self.record(line)),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// One CSV field, quoted when it must be. A field that a spreadsheet would run as
/// a formula (`=`, `+`, `-`, `@`, tab or CR first) gets a leading `'`: member names
/// come from outside, and an audit export is opened in spreadsheets.
pub(crate) fn field(value: &str) -> String {
    let neutral = match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_owned(),
    };
    if neutral.contains([',', '"', '\n', '\r']) || neutral.trim() != neutral {
        format!("\"{}\"", neutral.replace('"', "\"\""))
    } else {
        neutral
    }
}

/// One CSV line (CRLF-terminated, as RFC 4180 has it).
pub(crate) fn line<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = values.into_iter().map(field).collect::<Vec<_>>().join(",");
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Vec<Result<Record, SyntaxError>> {
        Reader::new(text.as_bytes()).collect()
    }

    fn rec(line: u64, fields: &[&str]) -> Result<Record, SyntaxError> {
        Ok(Record {
            line,
            fields: fields.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn quoting_per_rfc_4180() {
        let text = "\u{feff}a,b\r\n\"x,1\",\"say \"\"hi\"\"\"\r\n\n\"multi\nline\",,\nlast,\"\"";
        assert_eq!(
            read(text),
            vec![
                rec(1, &["a", "b"]),
                rec(2, &["x,1", "say \"hi\""]),
                rec(4, &["multi\nline", "", ""]),
                rec(6, &["last", ""]),
            ]
        );
    }

    #[test]
    fn errors_name_their_line_and_reading_goes_on() {
        let text = "h\nab\"c\n\"x\"y\nok\n\"open\nstill open";
        let got = read(text);
        assert_eq!(got[0], rec(1, &["h"]));
        assert_eq!(got[1], Err(SyntaxError::StrayQuote { line: 2 }));
        assert_eq!(got[2], Err(SyntaxError::TextAfterQuote { line: 3 }));
        assert_eq!(got[3], rec(4, &["ok"]));
        assert_eq!(got[4], Err(SyntaxError::UnterminatedQuote { line: 5 }));
        assert_eq!(got.len(), 5);
        assert!(got[4]
            .as_ref()
            .unwrap_err()
            .describe()
            .contains("never closed"));
    }

    #[test]
    fn invalid_utf8_is_an_error_of_that_line() {
        let got: Vec<_> = Reader::new(&b"a\n\xff\xfe\nb\n"[..]).collect();
        assert_eq!(got[1], Err(SyntaxError::NotUtf8 { line: 2 }));
        assert_eq!(got[2], rec(3, &["b"]));
    }

    #[test]
    fn writer_quotes_and_neutralises_formulas() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(field(" pad"), "\" pad\"");
        assert_eq!(line(["a", "b,c"]), "a,\"b,c\"\r\n");
        // What the writer writes, the reader reads back.
        let text = line(["x\ny", "q\"", ""]);
        assert_eq!(read(&text), vec![rec(1, &["x\ny", "q\"", ""])]);
    }
}
