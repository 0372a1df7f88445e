//! The logic of the container health probe: one plain HTTP GET to a local port,
//! healthy on a `200` status (or on any HTTP answer with `--any-status`).
//!
//! The runtime image is distroless: no shell, no curl, no wget. Docker's `HEALTHCHECK`
//! and compose's `healthcheck` run a program inside the container, so the image ships
//! this one, built with nothing but the standard library next to the connector. It
//! only speaks plain HTTP/1.0 to the loopback address of the container (what the
//! connector's metrics port serves); it must not grow into a general HTTP client.
//!
//! Shared by `main.rs` (the binary) and `tests/deploy_assets.rs` (its tests).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The connector's default `--metrics-listen`.
pub(crate) const DEFAULT_LISTEN: &str = "0.0.0.0:9464";

/// What to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// `host:port` as given (a name such as `localhost` is resolved when probing).
    pub(crate) authority: String,
    /// Path and query, starting with `/`.
    pub(crate) path: String,
    /// Healthy on any HTTP status, not only 200 (for a server with no health path).
    pub(crate) any_status: bool,
}

/// Reads the command line (without the program name) and the connector's
/// `STREAK_CONNECTOR_METRICS_LISTEN`. With no URL, probes `/healthz` on the metrics
/// port, an unspecified listen address (`0.0.0.0`, `[::]`) becoming loopback.
pub(crate) fn target_from(args: &[String], metrics_listen: Option<&str>) -> Result<Target, String> {
    let mut any_status = false;
    let mut url = None;
    for arg in args {
        match arg.as_str() {
            "--any-status" => any_status = true,
            "-h" | "--help" => return Err(usage()),
            a if a.starts_with('-') => return Err(format!("unknown option {a:?}\n{}", usage())),
            a if url.is_none() => url = Some(a.to_string()),
            a => return Err(format!("unexpected argument {a:?}\n{}", usage())),
        }
    }
    let (authority, path) = match url {
        Some(u) => parse_url(&u)?,
        None => (
            loopback_authority(metrics_listen.unwrap_or(DEFAULT_LISTEN))?,
            "/healthz".to_string(),
        ),
    };
    Ok(Target {
        authority,
        path,
        any_status,
    })
}

fn usage() -> String {
    "usage: healthcheck [--any-status] [http://HOST:PORT/PATH]\n\
     Without a URL: GET /healthz on STREAK_CONNECTOR_METRICS_LISTEN (default 0.0.0.0:9464).\n\
     Exit 0 when healthy (HTTP 200, or any HTTP answer with --any-status), 1 otherwise."
        .to_string()
}

/// Splits `http://host:port/path` into `host:port` and `/path`.
pub(crate) fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?}: only plain http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("{url:?}: expected http://HOST:PORT/PATH"));
    }
    let authority = if has_port(authority) {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.to_string()))
}

fn has_port(authority: &str) -> bool {
    match authority.rfind(':') {
        // `[::1]` has colons but no port; `[::1]:9464` has one after the bracket.
        Some(i) => !authority[i..].contains(']'),
        None => false,
    }
}

/// `0.0.0.0:9464` becomes `127.0.0.1:9464`, `[::]:9464` becomes `[::1]:9464`; a
/// concrete address is kept.
pub(crate) fn loopback_authority(listen: &str) -> Result<String, String> {
    let addr: SocketAddr = listen
        .trim()
        .parse()
        .map_err(|_| format!("metrics listen address {listen:?} is not IP:PORT"))?;
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => {
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        }
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => {
            std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        }
        other => other,
    };
    Ok(SocketAddr::new(ip, addr.port()).to_string())
}

/// Sends the request and returns the HTTP status code of the answer.
pub(crate) fn status_of(target: &Target, timeout: Duration) -> Result<u16, String> {
    let addrs: Vec<SocketAddr> = target
        .authority
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", target.authority))?
        .collect();
    let mut last_err = format!("{} resolves to no address", target.authority);
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return exchange(stream, target, timeout),
            Err(e) => last_err = format!("cannot connect to {addr}: {e}"),
        }
    }
    Err(last_err)
}

fn exchange(mut stream: TcpStream, target: &Target, timeout: Duration) -> Result<u16, String> {
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("cannot set timeouts: {e}"))?;
    let request = format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: streak-connector-healthcheck\r\nConnection: close\r\n\r\n",
        target.path, target.authority
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("cannot send the request: {e}"))?;
    // The status line is all we need; read until it is complete or 512 bytes.
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 512 {
        let n = stream
            .read(&mut buf)
            .map_err(|e| format!("no answer: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_status_line(&head)
}

/// `HTTP/1.1 200 OK` gives 200.
pub(crate) fn parse_status_line(head: &[u8]) -> Result<u16, String> {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[..line_end]);
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/") => code
            .parse::<u16>()
            .map_err(|_| format!("not an HTTP status line: {:?}", line.trim())),
        _ => Err(format!("not an HTTP answer: {:?}", line.trim())),
    }
}

/// The verdict: `Ok` with a message when healthy, `Err` with the reason otherwise.
pub(crate) fn check(target: &Target, timeout: Duration) -> Result<String, String> {
    let status = status_of(target, timeout)?;
    if status == 200 || target.any_status {
        Ok(format!(
            "http://{}{} answered {status}",
            target.authority, target.path
        ))
    } else {
        Err(format!(
            "http://{}{} answered {status}, not 200",
            target.authority, target.path
        ))
    }
}
