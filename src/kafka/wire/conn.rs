//! One blocking connection to one broker: size-delimited requests with the
//! request header v1 (non-flexible versions only), answered in order.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::codec::{Reader, Writer};
use super::WireError;

/// The largest response taken (a fetch asks for far less): a larger size prefix is
/// not a Kafka broker speaking.
const MAX_RESPONSE: usize = 256 << 20;

#[derive(Debug)]
pub(crate) struct Connection {
    stream: TcpStream,
    /// `host:port`, for errors.
    pub(crate) broker: String,
    client_id: String,
    correlation: i32,
    out: Vec<u8>,
}

impl Connection {
    /// Connects to `broker` (`host:port`), trying each address it resolves to.
    pub(crate) fn open(
        broker: &str,
        client_id: &str,
        timeout: Duration,
    ) -> Result<Self, WireError> {
        let io = |source| WireError::Io {
            broker: broker.to_owned(),
            source,
        };
        let addrs = broker.to_socket_addrs().map_err(io)?;
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(stream) => {
                    stream.set_nodelay(true).map_err(io)?;
                    stream.set_read_timeout(Some(timeout)).map_err(io)?;
                    stream.set_write_timeout(Some(timeout)).map_err(io)?;
                    return Ok(Connection {
                        stream,
                        broker: broker.to_owned(),
                        client_id: client_id.to_owned(),
                        correlation: 0,
                        out: Vec::new(),
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(io(last))
    }

    /// Sends one request; returns its correlation id, for [`Connection::receive`].
    pub(crate) fn send(
        &mut self,
        api_key: i16,
        version: i16,
        body: &[u8],
    ) -> Result<i32, WireError> {
        self.correlation = self.correlation.wrapping_add(1);
        let mut head = Writer::default();
        head.i32(0) // size, set below
            .i16(api_key)
            .i16(version)
            .i32(self.correlation)
            .string(&self.client_id);
        self.out.clear();
        self.out.extend_from_slice(&head.buf);
        self.out.extend_from_slice(body);
        let size = i32::try_from(self.out.len() - 4)
            .map_err(|_| WireError::Unsupported("a request above 2 GiB".into()))?;
        self.out[..4].copy_from_slice(&size.to_be_bytes());
        let broker = &self.broker;
        self.stream
            .write_all(&self.out)
            .map_err(|source| WireError::Io {
                broker: broker.clone(),
                source,
            })?;
        Ok(self.correlation)
    }

    /// Reads the response to request `correlation` into `buf` (replacing what it
    /// held) and returns where its body starts.
    pub(crate) fn receive(
        &mut self,
        correlation: i32,
        buf: &mut Vec<u8>,
    ) -> Result<usize, WireError> {
        let io = |source| WireError::Io {
            broker: self.broker.clone(),
            source,
        };
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).map_err(io)?;
        let size = i32::from_be_bytes(size);
        let size = usize::try_from(size)
            .ok()
            .filter(|&s| (4..=MAX_RESPONSE).contains(&s))
            .ok_or_else(|| {
                WireError::Malformed(format!("a response of {size} bytes from {}", self.broker))
            })?;
        // Read into the buffer's spare room: no zeroing of megabytes per fetch.
        buf.clear();
        buf.reserve(size);
        let got = (&mut self.stream)
            .take(size as u64)
            .read_to_end(buf)
            .map_err(io)?;
        if got < size {
            return Err(io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        let got = Reader::new(buf)
            .i32("correlation id")
            .map_err(|e| WireError::Malformed(e.to_string()))?;
        if got != correlation {
            return Err(WireError::Malformed(format!(
                "response {got} from {} where {correlation} was due",
                self.broker
            )));
        }
        Ok(4)
    }

    /// One request and its response's body, in `buf`.
    pub(crate) fn call(
        &mut self,
        api_key: i16,
        version: i16,
        body: &[u8],
        buf: &mut Vec<u8>,
    ) -> Result<usize, WireError> {
        let c = self.send(api_key, version, body)?;
        self.receive(c, buf)
    }
}
