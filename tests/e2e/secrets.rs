//! Issue 13.4 through the binary: every kind of secret (API key, base-URL
//! credentials, registry URL password, registry password, SASL password, admin
//! token) fed through the error paths of every command that reads configuration
//! (run, once, check, tail, guard); nothing they print may show one.
//!
//! Three set-ups per command: two the configuration refuses (credentials in the
//! base URL; in the registry URL), one that passes validation and then fails to
//! reach anything (Streak, the
//! registry and Kafka on dead ports, SASL on), at `RUST_LOG=debug` so librdkafka's
//! lines are in the output too.

use std::time::Duration;

use testkit::process::{clean_command, sigterm};

const API_KEY: &str = "secret-apikey-7f3a9c2e1b";
const URL_PASSWORD: &str = "secret-urlpass-4d8e2a";
const REGISTRY_URL_PASSWORD: &str = "secret-regurl-9b1c7e";
const REGISTRY_PASSWORD: &str = "secret-regpass-2e6f0d";
const SASL_PASSWORD: &str = "secret-saslpass-5a9d3c";
const ADMIN_TOKEN: &str = "secret-admintoken-8c4b1f6e";
const SECRETS: [&str; 6] = [
    API_KEY,
    URL_PASSWORD,
    REGISTRY_URL_PASSWORD,
    REGISTRY_PASSWORD,
    SASL_PASSWORD,
    ADMIN_TOKEN,
];

fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address").port()
}

/// Runs the binary with `args` and every secret set, for at most `for_at_most`
/// (then SIGTERM, then kill); everything it printed.
async fn output(
    args: &[&str],
    base_url: &str,
    registry_with_password: bool,
    for_at_most: Duration,
) -> String {
    let dead = dead_port();
    let registry = if registry_with_password {
        format!("http://reg:{REGISTRY_URL_PASSWORD}@127.0.0.1:{dead}")
    } else {
        format!("http://127.0.0.1:{dead}")
    };
    let bootstrap = format!("127.0.0.1:{dead}");
    let mut all: Vec<&str> = args.to_vec();
    all.extend([
        "--streak-base-url",
        base_url,
        "--kafka-bootstrap-servers",
        &bootstrap,
        "--schema-registry-url",
        &registry,
        "--metrics-listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
    ]);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (out_path, err_path) = (dir.path().join("out"), dir.path().join("err"));
    let mut cmd = clean_command(&all);
    cmd.envs([
        ("RUST_LOG", "debug"),
        ("STREAK_CONNECTOR_API_KEYS", API_KEY),
        ("STREAK_CONNECTOR_SCHEMA_REGISTRY_USERNAME", "reg"),
        (
            "STREAK_CONNECTOR_SCHEMA_REGISTRY_PASSWORD",
            REGISTRY_PASSWORD,
        ),
        (
            "STREAK_CONNECTOR_KAFKA__SECURITY_PROTOCOL",
            "SASL_PLAINTEXT",
        ),
        ("STREAK_CONNECTOR_KAFKA__SASL_MECHANISM", "PLAIN"),
        ("STREAK_CONNECTOR_KAFKA__SASL_USERNAME", "connector"),
        ("STREAK_CONNECTOR_KAFKA__SASL_PASSWORD", SASL_PASSWORD),
        ("STREAK_CONNECTOR_ADMIN_TOKEN", ADMIN_TOKEN),
    ])
    .stdout(std::fs::File::create(&out_path).expect("stdout file"))
    .stderr(std::fs::File::create(&err_path).expect("stderr file"));
    let mut child = cmd.spawn().expect("the binary starts");
    if tokio::time::timeout(for_at_most, child.wait())
        .await
        .is_err()
    {
        if let Some(pid) = child.id() {
            sigterm(pid);
        }
        if tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    format!("{}{}", read(&out_path), read(&err_path))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_shows_in_any_commands_errors() {
    let refused = format!(
        "https://user:{URL_PASSWORD}@127.0.0.1:{}/api/v1",
        dead_port()
    );
    let unreachable = format!("http://127.0.0.1:{}/api/v1", dead_port());
    let commands: [&[&str]; 6] = [
        &["run"],
        &["once"],
        &["once", "--dry-run"],
        &["check"],
        &["tail"],
        &["guard", "status"],
    ];
    let mut leaks = Vec::new();
    for args in commands {
        // Refused by the configuration (base URL, then registry URL credentials),
        // then valid and failing to reach anything.
        for (base, registry_pw) in [
            (&refused, false),
            (&unreachable, true),
            (&unreachable, false),
        ] {
            let out = output(args, base, registry_pw, Duration::from_secs(8)).await;
            assert!(!out.trim().is_empty(), "{args:?} printed nothing");
            for secret in SECRETS {
                if out.contains(secret) {
                    leaks.push(format!("{args:?} with {base}: shows {secret}\n{out}"));
                }
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "secrets shown:\n{}",
        leaks.join("\n---\n")
    );
}
