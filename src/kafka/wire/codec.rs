//! The Kafka protocol's primitive types (big-endian integers, strings, arrays and the
//! record format's zig-zag varints): a writer into a request buffer and a reader
//! over a response that refuses, rather than panics on, anything short or odd.

/// What a response did not hold as the protocol says it must.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what} at byte {at}")]
pub(crate) struct Malformed {
    pub(crate) what: &'static str,
    pub(crate) at: usize,
}

/// Writes a request body.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn i8(&mut self, v: i8) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(crate) fn i16(&mut self, v: i16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(crate) fn i32(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(crate) fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(crate) fn bool(&mut self, v: bool) -> &mut Self {
        self.buf.push(u8::from(v));
        self
    }
    /// A `STRING` (int16 length): the names this client sends are topic names and
    /// its client id, far below the limit; a longer one is cut at it.
    pub(crate) fn string(&mut self, s: &str) -> &mut Self {
        let bytes = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
        self.i16(bytes.len() as i16);
        self.buf.extend_from_slice(bytes);
        self
    }
    /// An `ARRAY` length (int32).
    pub(crate) fn len(&mut self, n: usize) -> &mut Self {
        self.i32(i32::try_from(n).unwrap_or(i32::MAX))
    }
}

/// Reads a response body, or one record batch of it.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn bad(&self, what: &'static str) -> Malformed {
        Malformed { what, at: self.pos }
    }

    pub(crate) fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Malformed> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.bad(what))?;
        let out = self.buf.get(self.pos..end).ok_or_else(|| self.bad(what))?;
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], Malformed> {
        let b = self.bytes(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    pub(crate) fn i8(&mut self, what: &'static str) -> Result<i8, Malformed> {
        Ok(i8::from_be_bytes(self.array(what)?))
    }
    pub(crate) fn i16(&mut self, what: &'static str) -> Result<i16, Malformed> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }
    pub(crate) fn i32(&mut self, what: &'static str) -> Result<i32, Malformed> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }
    pub(crate) fn i64(&mut self, what: &'static str) -> Result<i64, Malformed> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }
    pub(crate) fn bool(&mut self, what: &'static str) -> Result<bool, Malformed> {
        Ok(self.i8(what)? != 0)
    }

    /// A `STRING` or `NULLABLE_STRING` (int16 length, -1 null), as bytes.
    pub(crate) fn string(&mut self, what: &'static str) -> Result<Option<&'a [u8]>, Malformed> {
        let n = self.i16(what)?;
        if n < 0 {
            return Ok(None);
        }
        self.bytes(n as usize, what).map(Some)
    }

    /// An `ARRAY` length (int32, -1 null read as empty); refused if it claims more
    /// elements than the bytes left could hold at `min_size` bytes each.
    pub(crate) fn len(&mut self, min_size: usize, what: &'static str) -> Result<usize, Malformed> {
        let n = self.i32(what)?;
        if n < 0 {
            return Ok(0);
        }
        let n = n as usize;
        if n.saturating_mul(min_size.max(1)) > self.remaining() {
            return Err(self.bad(what));
        }
        Ok(n)
    }

    /// `NULLABLE_BYTES` (int32 length, -1 null read as empty).
    pub(crate) fn int32_bytes(&mut self, what: &'static str) -> Result<&'a [u8], Malformed> {
        let n = self.i32(what)?;
        if n < 0 {
            return Ok(&[]);
        }
        self.bytes(n as usize, what)
    }

    /// An unsigned varint of the record format, at most 64 bits.
    fn uvarint(&mut self, what: &'static str) -> Result<u64, Malformed> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let &b = self.buf.get(self.pos).ok_or_else(|| self.bad(what))?;
            self.pos += 1;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err(self.bad(what))
    }

    /// A zig-zag `VARLONG`.
    pub(crate) fn varlong(&mut self, what: &'static str) -> Result<i64, Malformed> {
        let u = self.uvarint(what)?;
        Ok((u >> 1) as i64 ^ -((u & 1) as i64))
    }

    /// A zig-zag `VARINT` (32 bits).
    pub(crate) fn varint(&mut self, what: &'static str) -> Result<i32, Malformed> {
        let at = self.pos;
        i32::try_from(self.varlong(what)?).map_err(|_| Malformed { what, at })
    }

    /// A record field: a varint length (-1 null) and that many bytes.
    pub(crate) fn varint_bytes(
        &mut self,
        what: &'static str,
    ) -> Result<Option<&'a [u8]>, Malformed> {
        let n = self.varint(what)?;
        if n < 0 {
            return Ok(None);
        }
        self.bytes(n as usize, what).map(Some)
    }
}

#[cfg(test)]
pub(crate) fn put_varlong(buf: &mut Vec<u8>, v: i64) {
    let mut u = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        let b = (u & 0x7f) as u8;
        u >>= 7;
        if u == 0 {
            buf.push(b);
            return;
        }
        buf.push(b | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn varints_round_trip_and_match_the_protocol_examples() {
        // The zig-zag examples of the protocol guide: 0, -1, 1, -2, 2.
        for (v, enc) in [(0i64, 0u8), (-1, 1), (1, 2), (-2, 3), (2, 4)] {
            let mut b = Vec::new();
            put_varlong(&mut b, v);
            assert_eq!(b, vec![enc]);
        }
        let mut b = Vec::new();
        put_varlong(&mut b, 300);
        assert_eq!(b, vec![0xd8, 0x04]);
        assert_eq!(Reader::new(&b).varint("v"), Ok(300));
    }

    #[test]
    fn a_short_or_overlong_field_is_refused_with_its_place() {
        let mut r = Reader::new(&[0, 0, 0]);
        assert_eq!(
            r.i32("count"),
            Err(Malformed {
                what: "count",
                at: 0
            })
        );
        // Eleven continuation bytes: no varint of 64 bits is that long.
        let mut r = Reader::new(&[0xff; 11]);
        assert!(r.varlong("length").is_err());
        // A varint beyond 32 bits is not a VARINT.
        let mut b = Vec::new();
        put_varlong(&mut b, i64::from(i32::MAX) + 1);
        assert!(Reader::new(&b).varint("length").is_err());
        // An array claiming more elements than the bytes left.
        let mut r = Reader::new(&[0x7f, 0xff, 0xff, 0xff, 0, 0]);
        assert!(r.len(4, "partitions").is_err());
        // A string longer than the buffer.
        let mut r = Reader::new(&[0, 9, b'a']);
        assert!(r.string("topic").is_err());
    }

    proptest! {
        #[test]
        fn every_varlong_round_trips(v in any::<i64>()) {
            let mut b = Vec::new();
            put_varlong(&mut b, v);
            let mut r = Reader::new(&b);
            prop_assert_eq!(r.varlong("v"), Ok(v));
            prop_assert_eq!(r.remaining(), 0);
        }

        #[test]
        fn no_input_panics_the_reader(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&bytes);
            let _ = r.varint_bytes("key");
            let _ = r.string("name");
            let _ = r.len(1, "array");
            let _ = r.int32_bytes("records");
        }
    }
}
