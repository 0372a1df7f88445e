//! Bodies that are not the expected JSON: malformed, truncated, HTML with 200, an
//! object instead of a list. Each is an invalid response.

use streak_connector::recovery::{Classified as _, Recovery};
use streak_connector::streak::ApiError;

use super::{rig, Rig, ORG_USERS};

async fn invalid_response(faults: &str) -> (Rig, ApiError) {
    let r = rig(faults).await;
    let err = r.client.org_users("o").await.unwrap_err();
    assert!(matches!(err, ApiError::InvalidResponse { .. }), "{err:?}");
    assert_eq!(err.recovery(), Recovery::RetryNow);
    assert_eq!(r.errors(ORG_USERS, "invalid_response"), 1);
    assert_eq!(r.listing_requests(), 1, "not retried within the call");
    (r, err)
}

#[tokio::test(start_paused = true)]
async fn malformed_json_is_an_invalid_response() {
    let (_, err) = invalid_response(
        r#"[[faults]]
        kind = "malformed_json""#,
    )
    .await;
    let ApiError::InvalidResponse {
        status,
        content_type,
        snippet,
        ..
    } = err
    else {
        unreachable!()
    };
    assert_eq!(status, 200);
    assert!(content_type.unwrap().starts_with("application/json"));
    assert!(snippet.starts_with("[{\"key\""), "{snippet}");
}

#[tokio::test(start_paused = true)]
async fn truncated_json_is_an_invalid_response() {
    let (_, err) = invalid_response(
        r#"[[faults]]
        kind = "truncated_body""#,
    )
    .await;
    let ApiError::InvalidResponse { reason, .. } = err else {
        unreachable!()
    };
    assert!(reason.contains("truncated"), "{reason}");
}

#[tokio::test(start_paused = true)]
async fn an_html_page_with_200_is_an_invalid_response() {
    let (_, err) = invalid_response(
        r#"[[faults]]
        kind = "html_error"
        status = 200"#,
    )
    .await;
    let ApiError::InvalidResponse {
        content_type,
        snippet,
        ..
    } = err
    else {
        unreachable!()
    };
    assert!(content_type.unwrap().starts_with("text/html"));
    assert!(snippet.starts_with("<!DOCTYPE html>"));
    assert!(snippet.chars().count() <= 200);
}

#[tokio::test(start_paused = true)]
async fn an_object_instead_of_a_list_is_an_invalid_response() {
    invalid_response(
        r#"[[faults]]
        kind = "object_body""#,
    )
    .await;
}
