//! The listing parsed as a stream: the body is fed chunk by chunk as it arrives, and
//! each element of the top-level array is parsed (by the lenient visitors of
//! [`super::de`]) as soon as its last byte is in. Only the element being read is
//! buffered, so a listing's memory is its members, not its body.
//!
//! The scanner only finds where each element of the array ends (strings, escapes
//! and nesting depth, no recursion); serde_json validates each element. A body whose
//! first value is not an array is buffered whole and parsed as before, so its error
//! names what was found ("found an object").

use super::de::Entry;
use super::{wire_error, Accumulator, ParsedListing, WireError};

/// A body that is not an array is buffered whole up to this size, for an error that
/// names what it is; beyond, it is refused at once.
const MAX_WHOLE_BYTES: usize = 1 << 20;

/// The byte-order mark some servers put first.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Where the scanner is in the top-level structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Top {
    /// Before the first value (a BOM and whitespace may come).
    #[default]
    Start,
    /// The body is not an array: buffered whole, parsed at the end.
    Whole,
    /// After `[`: an element or `]`.
    First,
    /// After `,`: an element (not `]`: no trailing comma).
    Next,
    /// Inside an element.
    Element(Scan),
    /// After an element: `,` or `]`.
    After,
    /// After `]`: whitespace only.
    Done,
}

/// How far into one element the scanner is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Scan {
    /// Open `{` and `[` (0 for a bare scalar).
    depth: u64,
    in_string: bool,
    escaped: bool,
    /// A bare scalar (number, literal, or garbage): ends before whitespace, `,` or `]`.
    scalar: bool,
}

/// A listing being parsed from the chunks of its body.
#[derive(Debug, Default)]
pub struct ListingParser {
    acc: Accumulator,
    /// The bytes not consumed yet: the element being read (or the whole body in
    /// [`Top::Whole`]).
    buf: Vec<u8>,
    /// Where the scan goes on in `buf`.
    at: usize,
    /// Where the current element starts in `buf`.
    start: usize,
    top: Top,
    /// Bytes fed so far, for a BOM split across chunks.
    fed: u64,
    /// [`finish`](Self::finish) was called: the body ended.
    ended: bool,
}

impl ListingParser {
    pub fn new() -> Self {
        ListingParser::default()
    }

    /// A parser for a body announced (by its `Content-Length`) as `body_bytes`
    /// long: the members' storage is sized from it up front.
    pub fn with_announced_length(body_bytes: Option<u64>) -> Self {
        ListingParser {
            acc: Accumulator::with_announced(body_bytes),
            ..ListingParser::default()
        }
    }

    /// The next chunk of the body. An error is final: the body is not a listing.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), WireError> {
        self.buf.extend_from_slice(chunk);
        self.fed += chunk.len() as u64;
        let scanned = self.scan();
        // Keep only what is still needed: the element being read.
        let keep_from = match self.top {
            Top::Whole | Top::Start => 0,
            Top::Element(_) => self.start,
            _ => self.at,
        };
        if keep_from > 0 {
            self.buf.drain(..keep_from);
            self.at -= keep_from;
            self.start = self.start.saturating_sub(keep_from);
        }
        scanned
    }

    /// The end of the body: the listing, or why it is not one.
    pub fn finish(mut self) -> Result<ParsedListing, WireError> {
        self.ended = true;
        match self.top {
            Top::Done => {}
            // Not an array, or nothing but whitespace: the whole-body parser says what.
            Top::Whole | Top::Start => return super::parse_listing_whole(&self.buf),
            Top::Element(s) if s.scalar && !s.in_string => {
                // A scalar element cut by the end of the body: parse it for the error.
                self.element_ends(self.buf.len())?;
                return Err(truncated());
            }
            _ => return Err(truncated()),
        }
        Ok(self.acc.into_parsed())
    }

    /// Bytes held now: the element being read (what bounds the parser's memory
    /// beyond the members).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn scan(&mut self) -> Result<(), WireError> {
        while self.at < self.buf.len() {
            let top = self.top;
            match top {
                Top::Whole if self.buf.len() > MAX_WHOLE_BYTES => {
                    return Err(shape(
                        "expected a JSON array of users, found a large value that is not one",
                    ))
                }
                Top::Whole => return Ok(()),
                Top::Start => {
                    if self.fed < BOM.len() as u64 && BOM.starts_with(&self.buf) {
                        return Ok(()); // maybe a BOM: wait for more
                    }
                    if self.buf.starts_with(BOM) && self.at == 0 {
                        self.at = BOM.len();
                        continue;
                    }
                    let b = self.buf[self.at];
                    if is_ws(b) {
                        self.at += 1;
                    } else if b == b'[' {
                        self.at += 1;
                        self.top = Top::First;
                    } else {
                        self.top = Top::Whole;
                    }
                }
                Top::First | Top::Next => {
                    let b = self.buf[self.at];
                    if is_ws(b) {
                        self.at += 1;
                    } else if b == b']' {
                        if top == Top::Next {
                            return Err(shape("a trailing comma before the end of the listing"));
                        }
                        self.at += 1;
                        self.top = Top::Done;
                    } else {
                        self.start = self.at;
                        self.top = Top::Element(Scan {
                            depth: 0,
                            in_string: false,
                            escaped: false,
                            scalar: !matches!(b, b'{' | b'[' | b'"'),
                        });
                    }
                }
                Top::Element(scan) => self.scan_element(scan)?,
                Top::After => {
                    let b = self.buf[self.at];
                    self.at += 1;
                    match b {
                        b',' => self.top = Top::Next,
                        b']' => self.top = Top::Done,
                        b if is_ws(b) => {}
                        _ => {
                            return Err(shape("expected `,` or `]` after an entry of the listing"))
                        }
                    }
                }
                Top::Done => {
                    if !is_ws(self.buf[self.at]) {
                        return Err(shape("trailing characters after the listing"));
                    }
                    self.at += 1;
                }
            }
        }
        Ok(())
    }

    /// Scans on in the current element; at its end, parses it.
    fn scan_element(&mut self, mut s: Scan) -> Result<(), WireError> {
        let bytes = &self.buf;
        let mut i = self.at;
        let end = loop {
            if i >= bytes.len() {
                self.at = i;
                self.top = Top::Element(s);
                return Ok(());
            }
            if s.escaped {
                // The byte after a backslash is taken as it is.
                s.escaped = false;
                i += 1;
                continue;
            }
            if s.in_string {
                // Straight to the next quote or backslash.
                match bytes[i..].iter().position(|&b| b == b'"' || b == b'\\') {
                    None => i = bytes.len(),
                    Some(p) => {
                        i += p;
                        if bytes[i] == b'\\' {
                            s.escaped = true;
                        } else {
                            s.in_string = false;
                            if s.depth == 0 {
                                break i + 1; // a string element
                            }
                        }
                        i += 1;
                    }
                }
                continue;
            }
            let b = bytes[i];
            if s.scalar {
                if is_ws(b) || b == b',' || b == b']' {
                    break i;
                }
                i += 1;
                continue;
            }
            match b {
                b'"' => s.in_string = true,
                b'{' | b'[' => s.depth += 1,
                b'}' | b']' => {
                    s.depth = s.depth.saturating_sub(1);
                    if s.depth == 0 {
                        break i + 1;
                    }
                }
                _ => {}
            }
            i += 1;
        };
        self.element_ends(end)
    }

    /// The element `buf[start..end]` is complete: into the accumulator.
    fn element_ends(&mut self, end: usize) -> Result<(), WireError> {
        let entry: Entry = serde_json::from_slice(&self.buf[self.start..end]).map_err(|e| {
            // The element ends where its bytes end: running out within it is a
            // malformed entry, unless the body itself ended there.
            let body_ended_here = self.ended && end == self.buf.len();
            if e.is_eof() && !body_ended_here {
                shape(&e.to_string())
            } else {
                wire_error(e)
            }
        })?;
        self.acc.add(entry);
        self.at = end;
        self.top = Top::After;
        Ok(())
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

fn truncated() -> WireError {
    WireError {
        reason: "truncated JSON (the listing ends before its closing `]`)".into(),
    }
}

fn shape(what: &str) -> WireError {
    WireError {
        reason: format!("not valid JSON of the expected shape ({what})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(body: &[u8], size: usize) -> Result<ParsedListing, WireError> {
        let mut p = ListingParser::new();
        for chunk in body.chunks(size.max(1)) {
            p.feed(chunk)?;
        }
        p.finish()
    }

    /// The announced length only sizes the storage: right, far too small, far too
    /// large (a lying header) or absent, the listing is the same.
    #[test]
    fn an_announced_length_changes_nothing_but_the_room() {
        let entries: Vec<String> = (0..3000)
            .map(|i| format!("{{\"key\":\"k{i}\",\"email\":\"u{i}@example.com\"}}"))
            .collect();
        let body = format!("[{},{{\"key\":\"k7\"}}]", entries.join(","));
        let reference = chunked(body.as_bytes(), 4096).expect("a listing");
        assert_eq!(reference.listing.members.len(), 3000);
        assert_eq!(reference.stats.duplicates, 1);
        for announced in [
            None,
            Some(0),
            Some(10),
            Some(body.len() as u64),
            Some(u64::MAX),
        ] {
            let mut p = ListingParser::with_announced_length(announced);
            for chunk in body.as_bytes().chunks(4096) {
                p.feed(chunk).expect("feeds");
            }
            assert_eq!(p.finish(), Ok(reference.clone()), "announced {announced:?}");
        }
    }

    #[test]
    fn every_split_gives_the_whole_bodys_result() {
        let body = "\u{feff} [ {\"key\":\"a\\\"]}\",\"email\":\"x@y\",\"n\":[1,{\"z\":\"]\"}]},\n 7 ,\"s\", null,\
                    {\"key\":\"b\",\"isOrgAdmin\":true}, [[]] ,{\"key\":\"b\"}]  \n";
        let whole = chunked(body.as_bytes(), body.len()).expect("a listing");
        assert_eq!(whole.listing.members.len(), 2);
        assert_eq!(whole.stats.entries, 7);
        assert_eq!(whole.stats.invalid, 4);
        assert_eq!(whole.stats.duplicates, 1);
        assert_eq!(whole.listing.members[0].key, "a\"]}");
        for size in 1..body.len() {
            assert_eq!(
                chunked(body.as_bytes(), size),
                Ok(whole.clone()),
                "chunks of {size}"
            );
        }
    }

    #[test]
    fn wrong_structure_is_refused_at_once() {
        for (body, expect) in [
            ("[{\"key\":\"a\"},]", "trailing comma"),
            ("[{\"key\":\"a\"} {\"key\":\"b\"}]", "expected `,` or `]`"),
            ("[{\"key\":\"a\"}] x", "trailing characters"),
            ("[{\"key\":\"a\"}", "truncated"),
            ("[{\"key\":\"a\"},", "truncated"),
            ("[{\"key\":\"a", "truncated"),
            ("[12", "truncated"),
            ("[tru", "truncated"),
            ("[tru,1]", "not valid JSON"),
            ("[{\"key\" \"a\"}]", "not valid JSON"),
        ] {
            for size in [1, 3, body.len()] {
                let err = chunked(body.as_bytes(), size).expect_err(body);
                assert!(
                    err.reason.contains(expect),
                    "{body} in chunks of {size}: {}",
                    err.reason
                );
            }
        }
    }

    #[test]
    fn only_the_entry_being_read_is_buffered() {
        let entry = r#"{"key":"user-0000000000000000000000000000000000","email":"someone@example.com","displayName":"Some One","image":"https://example.com/a/very/long/avatar/url/that/goes/on/and/on.png"}"#;
        let body = format!("[{}]", vec![entry; 10_000].join(","));
        let mut p = ListingParser::new();
        let mut most = 0;
        for chunk in body.as_bytes().chunks(16 * 1024) {
            p.feed(chunk).expect("a listing");
            most = most.max(p.buffered());
        }
        assert!(
            most <= entry.len() + 1,
            "{most} bytes held for {} of body",
            body.len()
        );
        let parsed = p.finish().expect("a listing");
        assert_eq!(parsed.stats.entries, 10_000);
        assert_eq!(parsed.listing.members.len(), 1, "one key, merged");
    }

    #[test]
    fn a_large_body_that_is_not_an_array_is_refused_without_being_held() {
        let mut p = ListingParser::new();
        p.feed(b"{\"users\": \"").expect("not judged yet");
        let filler = vec![b'x'; 64 * 1024];
        let mut refused = None;
        for _ in 0..32 {
            if let Err(e) = p.feed(&filler) {
                refused = Some(e);
                break;
            }
        }
        let err = refused.expect("refused within 2 MiB");
        assert!(err.reason.contains("not one"), "{}", err.reason);
    }
}
