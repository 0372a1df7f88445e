//! The Dockerfile keeps its promises, and the image's health probe works.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use super::{probe, read, repo};

#[test]
fn dockerfile_is_multi_stage_non_root_with_a_working_health_check() {
    let dockerfile = read("Dockerfile");
    let froms = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .count();
    assert!(froms >= 2, "multi-stage build expected");
    assert!(
        dockerfile.contains("distroless"),
        "small runtime image expected"
    );
    let user = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .expect("a USER");
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap_or_default()
        .trim()
        .parse()
        .expect("a numeric USER (runAsNonRoot verifies it)");
    assert_ne!(uid, 0);
    assert!(dockerfile.contains(r#"ENTRYPOINT ["/usr/local/bin/streak-connector"]"#));
    assert!(dockerfile.contains(r#"CMD ["/usr/local/bin/healthcheck"]"#));
    assert!(
        dockerfile.contains("deploy/healthcheck/main.rs")
            && repo().join("deploy/healthcheck/main.rs").exists()
    );
    let ignore = read(".dockerignore");
    for needed in [
        "src",
        "Cargo.toml",
        "Cargo.lock",
        "deploy/healthcheck",
        "schemas",
    ] {
        assert!(
            !ignore
                .lines()
                .any(|l| l.trim() == needed || l.trim() == format!("{needed}/")),
            ".dockerignore drops {needed}"
        );
    }
}

/// Serves one canned HTTP answer on a port-0 listener; returns the port.
fn one_answer(answer: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(answer.as_bytes());
        }
    });
    port
}

#[test]
fn probe_is_healthy_on_200_only() {
    let timeout = Duration::from_secs(5);
    let port = one_answer("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n");
    let t =
        probe::target_from(&[format!("http://127.0.0.1:{port}/healthz")], None).expect("target");
    assert!(probe::check(&t, timeout).is_ok());

    let port = one_answer("HTTP/1.1 503 Service Unavailable\r\n\r\nnot ready\n");
    let t = probe::target_from(&[format!("http://127.0.0.1:{port}/readyz")], None).expect("target");
    let err = probe::check(&t, timeout).expect_err("503 is unhealthy");
    assert!(err.contains("503"), "{err}");

    let port = one_answer("HTTP/1.0 401 Unauthorized\r\n\r\n");
    let t = probe::target_from(
        &[
            "--any-status".into(),
            format!("http://localhost:{port}/api/v1/users/me"),
        ],
        None,
    )
    .expect("target");
    assert!(
        probe::check(&t, timeout).is_ok(),
        "--any-status accepts any HTTP answer"
    );

    let port = one_answer("SSH-2.0-OpenSSH\r\n");
    let t = probe::target_from(
        &["--any-status".into(), format!("http://127.0.0.1:{port}/")],
        None,
    )
    .expect("target");
    assert!(
        probe::check(&t, timeout).is_err(),
        "not HTTP is not healthy"
    );

    // A closed port: bind, learn the port, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let t =
        probe::target_from(&[format!("http://127.0.0.1:{port}/healthz")], None).expect("target");
    assert!(probe::check(&t, timeout).is_err());
}

#[test]
fn probe_defaults_to_healthz_on_the_metrics_port() {
    let t = probe::target_from(&[], None).expect("target");
    assert_eq!(
        (t.authority.as_str(), t.path.as_str()),
        ("127.0.0.1:9464", "/healthz")
    );
    let t = probe::target_from(&[], Some("[::]:9500")).expect("target");
    assert_eq!(t.authority, "[::1]:9500");
    let t = probe::target_from(&[], Some("10.1.2.3:9000")).expect("target");
    assert_eq!(t.authority, "10.1.2.3:9000");
    assert!(probe::target_from(&[], Some("nonsense")).is_err());
    assert!(probe::target_from(&["https://x/".into()], None).is_err());
    assert!(probe::target_from(&["--bogus".into()], None).is_err());
    assert_eq!(
        probe::parse_url("http://[::1]/x").expect("url"),
        ("[::1]:80".to_string(), "/x".to_string())
    );
    assert_eq!(
        probe::parse_url("http://h:1").expect("url"),
        ("h:1".to_string(), "/".to_string())
    );
    assert_eq!(
        probe::parse_status_line(b"HTTP/1.1 204 No Content\r\n"),
        Ok(204)
    );
    assert!(probe::parse_status_line(b"").is_err());
}
