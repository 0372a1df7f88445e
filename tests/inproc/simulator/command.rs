//! The `simulate` command: prints its bound address, serves, stops on SIGTERM.

use std::time::Duration;

use serde_json::Value;

#[cfg(unix)]
#[tokio::test]
async fn simulate_command_prints_its_address_serves_and_stops_on_sigterm() {
    use tokio::io::AsyncBufReadExt;

    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/scenario.toml");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_streak-connector"))
        .args([
            "simulate",
            "--scenario",
            scenario,
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let base = line
        .strip_prefix("simulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"));
    assert!(
        base.starts_with("http://127.0.0.1:") && base.ends_with("/api/v1"),
        "{base}"
    );
    assert!(
        !base.ends_with(":0/api/v1"),
        "the bound port is printed: {base}"
    );

    let r = reqwest::Client::new()
        .get(format!("{base}/users/me"))
        .basic_auth("sim-acme-admin", Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["key"], "u-alice");

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}
