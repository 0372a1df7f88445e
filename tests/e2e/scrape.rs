//! The test kit's reading of `/metrics` checked on its own (`testkit::metrics`): the
//! end-to-end tests rely on it to read samples and the declared metric names.

use testkit::metrics::{declared_metric_names, Scrape};

#[test]
fn parses_samples_with_and_without_labels() {
    let s = Scrape::parse(
        "# TYPE a_total counter\na_total{org=\"x\",result=\"fail\\\"ure\"} 3\nb 1.5\nc_bucket{le=\"+Inf\"} 2\n",
    );
    assert_eq!(s.families(), vec!["a_total"]);
    assert_eq!(s.value("a_total", &[("org", "x")]), Some(3.0));
    assert_eq!(
        s.find("a_total", &[])[0]
            .labels
            .get("result")
            .map(String::as_str),
        Some("fail\"ure")
    );
    assert_eq!(s.value("b", &[]), Some(1.5));
    assert_eq!(s.value("c_bucket", &[("le", "+Inf")]), Some(2.0));
    assert_eq!(s.value("a_total", &[("org", "y")]), None);
}

#[test]
fn reads_the_declared_names() {
    let names = declared_metric_names();
    for n in [
        "polls_total",
        "api_key_rejected",
        "build_info",
        "state_restore_records",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
}
