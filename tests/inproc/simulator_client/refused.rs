//! A key rejected and a wrong organization: typed, and not retried.

use streak_connector::simulator::Change;
use streak_connector::streak::ApiError;

use super::{rig, rig_with, ORG_USERS};

#[tokio::test(start_paused = true)]
async fn unauthorized_from_the_nth_request_on() {
    let r = rig(r#"[[faults]]
        kind = "http_error"
        org = "o"
        from_request = 3
        status = 401"#)
    .await;
    r.client.me().await.unwrap();
    r.client.org_users("o").await.unwrap();
    assert_eq!(r.key_rejected(), 0);
    let err = r.client.org_users("o").await.unwrap_err();
    assert!(matches!(err, ApiError::Unauthorized { .. }), "{err:?}");
    assert!(err.is_key_rejected());
    assert!(err.to_string().contains("Invalid API key"), "{err}");
    assert_eq!(r.key_rejected(), 1);
    assert_eq!(r.errors(ORG_USERS, "unauthorized"), 1);
    assert_eq!(r.retries("rate_limited") + r.retries("server_error"), 0);
    // Not retried: one request for the failing call.
    assert_eq!(r.listing_requests(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_personal_key_trap_and_revocation() {
    let r = rig_with("", "key-o2", |_| {}).await;
    r.client.org_users("o").await.unwrap();
    r.sim
        .apply("o", Change::Leave { key: "m2".into() })
        .unwrap();
    let err = r.client.org_users("o").await.unwrap_err();
    match &err {
        ApiError::Unauthorized { detail, .. } => {
            assert!(detail.as_deref().unwrap().contains("no longer a member"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.key_rejected(), 1);

    let r = rig("").await;
    r.sim
        .apply(
            "o",
            Change::RevokeKey {
                api_key: "key-o".into(),
            },
        )
        .unwrap();
    assert!(matches!(
        r.client.me().await,
        Err(ApiError::Unauthorized { .. })
    ));
    assert_eq!(r.key_rejected(), 1);
    r.sim
        .apply(
            "o",
            Change::RestoreKey {
                api_key: "key-o".into(),
            },
        )
        .unwrap();
    r.client.me().await.unwrap();
    assert_eq!(r.key_rejected(), 0, "accepted again");
}

#[tokio::test(start_paused = true)]
async fn forbidden_gone_not_found_and_bad_request_are_typed_and_not_retried() {
    let r = rig(r#"
        [[faults]]
        kind = "http_error"
        endpoint = "organization_users"
        requests = [1]
        status = 403
        [[faults]]
        kind = "http_error"
        endpoint = "organization_users"
        requests = [2]
        status = 410
        [[faults]]
        kind = "http_error"
        endpoint = "organization_users"
        requests = [3]
        status = 404
        [[faults]]
        kind = "http_error"
        endpoint = "organization_users"
        requests = [4]
        status = 400"#)
    .await;
    assert!(matches!(
        r.client.org_users("o").await,
        Err(ApiError::Forbidden { .. })
    ));
    assert!(matches!(
        r.client.org_users("o").await,
        Err(ApiError::Gone { .. })
    ));
    assert!(matches!(
        r.client.org_users("o").await,
        Err(ApiError::NotFound { .. })
    ));
    assert!(matches!(
        r.client.org_users("o").await,
        Err(ApiError::BadRequest { .. })
    ));
    for code in ["forbidden", "gone", "not_found", "bad_request"] {
        assert_eq!(r.errors(ORG_USERS, code), 1, "{code}");
    }
    assert_eq!(r.listing_requests(), 4);
    assert_eq!(r.key_rejected(), 1, "403 and 410 reject the key");
}

#[tokio::test(start_paused = true)]
async fn another_organization_is_refused() {
    let r = rig("").await;
    let err = r.client.org_users("p").await.unwrap_err();
    assert!(matches!(err, ApiError::Unauthorized { .. }), "{err:?}");
    let err = r.client.org_users("nope").await.unwrap_err();
    assert!(matches!(err, ApiError::NotFound { .. }), "{err:?}");
    assert_eq!(r.errors(ORG_USERS, "not_found"), 1);
}
