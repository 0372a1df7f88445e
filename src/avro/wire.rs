//! The two framings of an Avro datum on a Kafka record: the Confluent wire format
//! (magic byte 0, 4-byte big-endian schema id) and Avro single-object encoding
//! (0xC3 0x01, 8-byte little-endian CRC-64-AVRO fingerprint). Bytes only: no
//! schema, no registry.

use super::errors::DecodeError;

/// Confluent wire format magic byte.
pub(crate) const CONFLUENT_MAGIC: u8 = 0x00;
/// Avro single-object encoding marker.
pub(crate) const SINGLE_OBJECT_MAGIC: [u8; 2] = [0xC3, 0x01];

const CONFLUENT_HEADER_LEN: usize = 5;
const SINGLE_OBJECT_HEADER_LEN: usize = 10;

/// How records are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireFormat {
    /// Magic byte 0, 4-byte big-endian Schema Registry id, Avro binary.
    Confluent,
    /// 0xC3 0x01, 8-byte little-endian CRC-64-AVRO fingerprint, Avro binary.
    SingleObject,
}

impl WireFormat {
    /// Which framing `bytes` start with, if any.
    pub(crate) fn detect(bytes: &[u8]) -> Option<WireFormat> {
        match bytes {
            [0xC3, 0x01, ..] => Some(WireFormat::SingleObject),
            [CONFLUENT_MAGIC, ..] => Some(WireFormat::Confluent),
            _ => None,
        }
    }
}

/// A framed datum split into its writer-schema reference and its Avro body.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Frame<'a> {
    Confluent { id: u32, body: &'a [u8] },
    SingleObject { fingerprint: u64, body: &'a [u8] },
}

impl<'a> Frame<'a> {
    /// The Avro binary datum after the header.
    pub(crate) fn body(&self) -> &'a [u8] {
        match *self {
            Frame::Confluent { body, .. } | Frame::SingleObject { body, .. } => body,
        }
    }
}

pub(crate) fn confluent_header(id: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(CONFLUENT_HEADER_LEN);
    h.push(CONFLUENT_MAGIC);
    h.extend_from_slice(&id.to_be_bytes());
    h
}

pub(crate) fn single_object_header(fingerprint: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(SINGLE_OBJECT_HEADER_LEN);
    h.extend_from_slice(&SINGLE_OBJECT_MAGIC);
    h.extend_from_slice(&fingerprint.to_le_bytes());
    h
}

/// Split `bytes` into header and body.
pub(crate) fn parse_frame(bytes: &[u8]) -> Result<Frame<'_>, DecodeError> {
    match WireFormat::detect(bytes) {
        Some(WireFormat::SingleObject) => {
            let (header, body) = bytes
                .split_at_checked(SINGLE_OBJECT_HEADER_LEN)
                .ok_or(DecodeError::Truncated { len: bytes.len() })?;
            let mut fp = [0u8; 8];
            fp.copy_from_slice(&header[2..]);
            Ok(Frame::SingleObject {
                fingerprint: u64::from_le_bytes(fp),
                body,
            })
        }
        Some(WireFormat::Confluent) => {
            let (header, body) = bytes
                .split_at_checked(CONFLUENT_HEADER_LEN)
                .ok_or(DecodeError::Truncated { len: bytes.len() })?;
            let mut id = [0u8; 4];
            id.copy_from_slice(&header[1..]);
            Ok(Frame::Confluent {
                id: u32::from_be_bytes(id),
                body,
            })
        }
        None => match bytes.first() {
            None => Err(DecodeError::Empty),
            Some(&b) => Err(DecodeError::UnknownFraming { first_byte: b }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_through_parse() {
        let mut so = single_object_header(0x0102_0304_0506_0708);
        assert_eq!(so, [0xC3, 0x01, 8, 7, 6, 5, 4, 3, 2, 1]);
        so.push(0x2a);
        assert!(matches!(
            parse_frame(&so),
            Ok(Frame::SingleObject {
                fingerprint: 0x0102_0304_0506_0708,
                body: [0x2a]
            })
        ));
        let mut cf = confluent_header(0x0a0b_0c0d);
        assert_eq!(cf, [0, 0x0a, 0x0b, 0x0c, 0x0d]);
        cf.push(0x2a);
        assert!(matches!(
            parse_frame(&cf),
            Ok(Frame::Confluent {
                id: 0x0a0b_0c0d,
                body: [0x2a]
            })
        ));
    }

    #[test]
    fn rejects_short_empty_and_foreign_bytes() {
        assert!(matches!(parse_frame(&[]), Err(DecodeError::Empty)));
        assert!(matches!(
            parse_frame(&[0xC3, 0x01, 1]),
            Err(DecodeError::Truncated { len: 3 })
        ));
        assert!(matches!(
            parse_frame(&[0, 0, 1]),
            Err(DecodeError::Truncated { len: 3 })
        ));
        assert!(matches!(
            parse_frame(b"{\"json\":1}"),
            Err(DecodeError::UnknownFraming { first_byte: b'{' })
        ));
        // 0xC3 followed by anything but 0x01 is not single-object.
        assert!(matches!(
            parse_frame(&[0xC3, 0x02, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(DecodeError::UnknownFraming { first_byte: 0xC3 })
        ));
    }
}
