//! The Avro binary encoding of the primitive types our schemas use, written and read
//! by hand: `long` and `int` as zigzag varints, `boolean` as one byte, `string` as a
//! length-prefixed UTF-8 run, a union as its branch index (a long) followed by the
//! branch, `null` as nothing. This is the specification's "Binary Encoding" section,
//! no more; which fields come in which order is `direct_encode`'s and
//! `direct_decode`'s business.

/// Why bytes do not hold the primitive asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("the datum ends early (wanted {wanted} more bytes at offset {at})")]
    Eof { at: usize, wanted: usize },
    #[error("varint longer than 10 bytes at offset {at}")]
    VarintOverflow { at: usize },
    #[error("{value} at offset {at} does not fit an int")]
    IntOverflow { at: usize, value: i64 },
    #[error("invalid boolean byte 0x{byte:02x} at offset {at}")]
    Bool { at: usize, byte: u8 },
    #[error("negative length {len} at offset {at}")]
    NegativeLength { at: usize, len: i64 },
    #[error("string at offset {at} is not UTF-8")]
    Utf8 { at: usize },
    #[error("union branch {index} at offset {at} does not exist (the union has {branches})")]
    Branch { at: usize, index: i64, branches: u8 },
    #[error("enum symbol {index} at offset {at} does not exist (the enum has {symbols})")]
    Symbol {
        at: usize,
        index: i32,
        symbols: usize,
    },
    #[error("not a UUID at offset {at}: {reason}")]
    Uuid { at: usize, reason: String },
}

/// Append `v` as a zigzag varint (an Avro `long`, or an `int` within its range).
#[inline]
pub(crate) fn put_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut buf = [0u8; 10];
    let mut n = 0;
    while z >= 0x80 {
        buf[n] = (z as u8) | 0x80;
        z >>= 7;
        n += 1;
    }
    buf[n] = z as u8;
    out.extend_from_slice(&buf[..=n]);
}

#[inline]
pub(crate) fn put_bool(out: &mut Vec<u8>, b: bool) {
    out.push(u8::from(b));
}

#[inline]
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    // A string longer than i64::MAX bytes cannot exist in memory.
    put_long(out, s.len() as i64);
    out.extend_from_slice(s.as_bytes());
}

/// The branch index of a `["null", T]` union: 0 for null, 1 for a value.
#[inline]
pub(crate) fn put_branch(out: &mut Vec<u8>, present: bool) {
    out.push(if present { 2 } else { 0 });
}

/// A `["null", "string"]`.
#[inline]
pub(crate) fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    put_branch(out, s.is_some());
    if let Some(s) = s {
        put_str(out, s);
    }
}

/// A `["null", "long"]` (or a logical type on long).
#[inline]
pub(crate) fn put_opt_long(out: &mut Vec<u8>, v: Option<i64>) {
    put_branch(out, v.is_some());
    if let Some(v) = v {
        put_long(out, v);
    }
}

/// A `["null", "boolean"]`.
#[inline]
pub(crate) fn put_opt_bool(out: &mut Vec<u8>, v: Option<bool>) {
    put_branch(out, v.is_some());
    if let Some(v) = v {
        put_bool(out, v);
    }
}

/// A cursor over one Avro datum.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    #[inline]
    pub(crate) fn long(&mut self) -> Result<i64, ReadError> {
        // Most longs on our records are one byte (union branches, lengths below 64).
        if let Some(&b) = self.bytes.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(i64::from(b >> 1) ^ -i64::from(b & 1));
            }
        }
        self.long_slow()
    }

    fn long_slow(&mut self) -> Result<i64, ReadError> {
        let start = self.pos;
        let mut z: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(ReadError::Eof {
                    at: self.pos,
                    wanted: 1,
                });
            };
            self.pos += 1;
            z |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok((z >> 1) as i64 ^ -((z & 1) as i64));
            }
        }
        Err(ReadError::VarintOverflow { at: start })
    }

    #[inline]
    pub(crate) fn int(&mut self) -> Result<i32, ReadError> {
        let at = self.pos;
        let value = self.long()?;
        i32::try_from(value).map_err(|_| ReadError::IntOverflow { at, value })
    }

    #[inline]
    pub(crate) fn bool(&mut self) -> Result<bool, ReadError> {
        let at = self.pos;
        match self.bytes.get(at) {
            Some(0) => {
                self.pos += 1;
                Ok(false)
            }
            Some(1) => {
                self.pos += 1;
                Ok(true)
            }
            Some(&byte) => Err(ReadError::Bool { at, byte }),
            None => Err(ReadError::Eof { at, wanted: 1 }),
        }
    }

    #[inline]
    pub(crate) fn str(&mut self) -> Result<&'a str, ReadError> {
        let at = self.pos;
        let len = self.long()?;
        let len = usize::try_from(len).map_err(|_| ReadError::NegativeLength { at, len })?;
        let start = self.pos;
        let end = start
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(ReadError::Eof {
                at: start,
                wanted: len,
            })?;
        self.pos = end;
        std::str::from_utf8(&self.bytes[start..end]).map_err(|_| ReadError::Utf8 { at })
    }

    #[inline]
    pub(crate) fn string(&mut self) -> Result<String, ReadError> {
        self.str().map(str::to_owned)
    }

    /// The branch of a `["null", T]` union: false for null, true for T.
    #[inline]
    pub(crate) fn branch(&mut self) -> Result<bool, ReadError> {
        let at = self.pos;
        match self.long()? {
            0 => Ok(false),
            1 => Ok(true),
            index => Err(ReadError::Branch {
                at,
                index,
                branches: 2,
            }),
        }
    }

    /// An optional string, borrowed from the bytes.
    #[inline]
    pub(crate) fn opt_str(&mut self) -> Result<Option<&'a str>, ReadError> {
        Ok(if self.branch()? {
            Some(self.str()?)
        } else {
            None
        })
    }

    pub(crate) fn opt_string(&mut self) -> Result<Option<String>, ReadError> {
        Ok(if self.branch()? {
            Some(self.string()?)
        } else {
            None
        })
    }

    pub(crate) fn opt_long(&mut self) -> Result<Option<i64>, ReadError> {
        Ok(if self.branch()? {
            Some(self.long()?)
        } else {
            None
        })
    }

    pub(crate) fn opt_bool(&mut self) -> Result<Option<bool>, ReadError> {
        Ok(if self.branch()? {
            Some(self.bool()?)
        } else {
            None
        })
    }

    /// An enum symbol index below `symbols`.
    pub(crate) fn symbol(&mut self, symbols: usize) -> Result<usize, ReadError> {
        let at = self.pos;
        let index = self.int()?;
        usize::try_from(index)
            .ok()
            .filter(|&i| i < symbols)
            .ok_or(ReadError::Symbol { at, index, symbols })
    }

    /// A `{"type": "string", "logicalType": "uuid"}`.
    pub(crate) fn uuid(&mut self) -> Result<uuid::Uuid, ReadError> {
        let at = self.pos;
        let s = self.str()?;
        uuid::Uuid::parse_str(s).map_err(|e| ReadError::Uuid {
            at,
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long_bytes(v: i64) -> Vec<u8> {
        let mut out = Vec::new();
        put_long(&mut out, v);
        out
    }

    #[test]
    fn longs_are_zigzag_varints_as_the_specification_shows() {
        // The specification's table, plus the extremes.
        for (v, bytes) in [
            (0, vec![0x00]),
            (-1, vec![0x01]),
            (1, vec![0x02]),
            (-2, vec![0x03]),
            (2, vec![0x04]),
            (-64, vec![0x7f]),
            (64, vec![0x80, 0x01]),
            (8192, vec![0x80, 0x80, 0x01]),
        ] {
            assert_eq!(long_bytes(v), bytes, "{v}");
        }
        for v in [i64::MIN, i64::MAX, 0, -1, 1_700_000_000_000] {
            let bytes = long_bytes(v);
            let mut r = Reader::new(&bytes);
            assert_eq!(r.long(), Ok(v));
            assert_eq!(r.remaining(), 0);
        }
        assert_eq!(long_bytes(i64::MIN).len(), 10);
    }

    #[test]
    fn reads_refuse_what_is_not_there() {
        assert!(matches!(
            Reader::new(&[0x80]).long(),
            Err(ReadError::Eof { at: 1, .. })
        ));
        assert!(matches!(
            Reader::new(&[0xff; 11]).long(),
            Err(ReadError::VarintOverflow { at: 0 })
        ));
        assert!(matches!(
            Reader::new(&long_bytes(1 << 40)).int(),
            Err(ReadError::IntOverflow { .. })
        ));
        assert!(matches!(
            Reader::new(&[2]).bool(),
            Err(ReadError::Bool { byte: 2, .. })
        ));
        // A string of 3 bytes with 2 present, a negative length, bad UTF-8.
        assert!(matches!(
            Reader::new(&[6, b'a', b'b']).str(),
            Err(ReadError::Eof { .. })
        ));
        assert!(matches!(
            Reader::new(&[1]).str(),
            Err(ReadError::NegativeLength { len: -1, .. })
        ));
        assert!(matches!(
            Reader::new(&[2, 0xff]).str(),
            Err(ReadError::Utf8 { .. })
        ));
        assert!(matches!(
            Reader::new(&[4]).branch(),
            Err(ReadError::Branch { index: 2, .. })
        ));
        assert!(matches!(
            Reader::new(&[16]).symbol(8),
            Err(ReadError::Symbol { index: 8, .. })
        ));
        assert!(matches!(
            Reader::new(&[6, b'a', b'b', b'c']).uuid(),
            Err(ReadError::Uuid { .. })
        ));
    }

    #[test]
    fn optional_values_carry_their_branch() {
        let mut out = Vec::new();
        put_opt_str(&mut out, Some("ab"));
        put_opt_str(&mut out, None);
        put_opt_long(&mut out, Some(-3));
        put_opt_bool(&mut out, Some(true));
        assert_eq!(out, [2, 4, b'a', b'b', 0, 2, 5, 2, 1]);
        let mut r = Reader::new(&out);
        assert_eq!(r.opt_string(), Ok(Some("ab".to_owned())));
        assert_eq!(r.opt_string(), Ok(None));
        assert_eq!(r.opt_long(), Ok(Some(-3)));
        assert_eq!(r.opt_bool(), Ok(Some(true)));
        assert_eq!(r.remaining(), 0);
    }
}
