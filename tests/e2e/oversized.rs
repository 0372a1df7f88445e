//! One member's oversized data never blocks an organization (issue 11, point 8),
//! through the binary on a broker: a 1.5 MB `data:` URI as `image` is dropped when
//! parsed (logged once, not at every poll) and everyone is published; a member whose
//! records are still larger than the producer's `message.max.bytes` is left out with
//! an error naming it, while the rest commits.

use std::time::Duration;

use testkit::e2e::{api_key, broker_for, member_toml, start_simulator, Running, Setup};
use testkit::metrics::scrape;
use testkit::topic::{read_events, read_state};

const ONCE_TIMEOUT: Duration = Duration::from_secs(180);

/// An organization whose `u-big` carries `fields` (TOML lines) besides u-a and u-b.
fn scenario(org: &str, key: &str, fields: &str) -> String {
    format!(
        "[[organizations]]\nkey = \"{org}\"\napi_keys = [\"{key}\"]\n{}{}\
         [[organizations.members]]\nkey = \"u-big\"\nemail = \"big@e2e.example.com\"\n{fields}\n",
        member_toml("u-a", true),
        member_toml("u-b", false),
    )
}

fn snapshot_users(events: &[streak_connector::avro::DecodedEvent]) -> Vec<String> {
    let mut users: Vec<String> = events
        .iter()
        .filter(|e| e.event.event_type.as_str() == "SNAPSHOT")
        .map(|e| e.event.user_key.clone())
        .collect();
    users.sort();
    users
}

/// The first poll of an organization with a member whose `image` is a 1.5 MB data:
/// URI publishes everyone (the image dropped to null), and `run` logs the oversized
/// field once over several polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_image_is_dropped_and_the_organization_is_published() {
    let Some(broker) =
        broker_for("a_huge_image_is_dropped_and_the_organization_is_published").await
    else {
        return;
    };
    let key = api_key("huge-image");
    let image = format!("data:image/png;base64,{}", "A".repeat(1_500_000));
    let sim = start_simulator(&scenario(
        "org-huge",
        &key,
        &format!("image = \"{image}\"\ndisplayName = \"Big\""),
    ))
    .await;
    let setup = Setup::with_topics("huge-image", &sim.base_url(), &broker, &[&key], "");

    let Running { mut proc, addr } = setup.spawn_run(&[]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let m = scrape(&addr).await;
        let polls = m
            .value(
                "streak_connector_polls_total",
                &[("org", "org-huge"), ("result", "success")],
            )
            .unwrap_or(0.0);
        if polls >= 3.0 {
            // Counted at every response: one drift per poll.
            let drift = m
                .value("streak_connector_api_drift_total", &[("field", "image")])
                .unwrap_or(0.0);
            assert!(drift >= 3.0, "image drift counted per poll: {drift}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "org-huge not polled 3 times within 120 s\n{}",
            proc.report()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    proc.sigterm();
    let status = proc.wait_exit(Duration::from_secs(60)).await;
    let run = proc.finished(status).await;
    run.assert_success();
    let logged = run
        .stderr
        .lines()
        .filter(|l| l.contains("over its size bound"))
        .collect::<Vec<_>>();
    assert_eq!(
        logged.len(),
        1,
        "logged once over 3+ polls\n{}",
        run.report()
    );
    assert!(
        logged[0].contains("u-big") && logged[0].contains("image"),
        "{}",
        logged[0]
    );

    let events = read_events(broker.bootstrap(), &setup.events_topic).await;
    assert_eq!(snapshot_users(&events), ["u-a", "u-b", "u-big"]);
    let big = events
        .iter()
        .find(|e| e.event.user_key == "u-big")
        .and_then(|e| e.event.after.as_ref())
        .expect("u-big's SNAPSHOT has an after");
    assert_eq!(big.member.image, None);
    assert_eq!(big.member.display_name.as_deref(), Some("Big"));
}

/// With `message.max.bytes` below what one member's records need, that member is
/// left out (an error naming it and its organization, a count), the others commit,
/// and its state does not move on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_too_large_for_the_producer_is_left_out_and_the_rest_commits() {
    let Some(broker) =
        broker_for("a_member_too_large_for_the_producer_is_left_out_and_the_rest_commits").await
    else {
        return;
    };
    let key = api_key("left-out");
    // Every field at its bound: about 5 KB of strings, over a 4000-byte limit.
    let long = "n".repeat(1024);
    let fields = format!(
        "displayName = \"{long}\"\nfirstName = \"{long}\"\nlastName = \"{long}\"\nimage = \"https://i.example/{}\"",
        "p".repeat(2000)
    );
    let sim = start_simulator(&scenario("org-left", &key, &fields)).await;
    let mut setup = Setup::with_topics("left-out", &sim.base_url(), &broker, &[&key], "");
    setup.env.push((
        "STREAK_CONNECTOR_KAFKA__MESSAGE_MAX_BYTES".into(),
        "4000".into(),
    ));

    let run = setup.command(&["once"]).run(ONCE_TIMEOUT).await;
    run.assert_success();
    let err = run
        .stderr
        .lines()
        .find(|l| l.contains("Member left out"))
        .unwrap_or_else(|| panic!("an error names the member\n{}", run.report()));
    assert!(err.contains("ERROR"), "{err}");
    assert!(err.contains("u-big") && err.contains("org-left"), "{err}");

    let events = read_events(broker.bootstrap(), &setup.events_topic).await;
    assert_eq!(snapshot_users(&events), ["u-a", "u-b"]);
    let state = read_state(broker.bootstrap(), &setup.state_topic).await;
    let members = testkit::topic::members_in_state(&state);
    assert_eq!(
        members.get("org-left").cloned().unwrap_or_default(),
        ["u-a", "u-b"],
        "u-big's state did not move on"
    );
}
