//! The `.Values.a.b` references of Helm templates, and their lookup in `values.yaml`.
//!
//! Helm renders a missing value as nothing (or `<nil>`), silently: a typo in a
//! template or a value renamed in `values.yaml` but not in a template would ship. This
//! finds every reference without running helm.

use serde_json::Value;

/// Every `.Values.x.y` path in a template (`$.Values.x` included), in order.
pub(crate) fn value_refs(template: &str) -> Vec<String> {
    const NEEDLE: &str = ".Values.";
    let bytes = template.as_bytes();
    let mut refs = Vec::new();
    let mut i = 0;
    while let Some(pos) = template[i..].find(NEEDLE) {
        let start = i + pos;
        // `.Values` must not be the tail of another name (`$x.Values` is fine: `$`).
        let ok_before = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        let mut end = start + NEEDLE.len();
        while end < bytes.len()
            && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_' || bytes[end] == b'.')
        {
            end += 1;
        }
        let path = template[start + NEEDLE.len()..end].trim_end_matches('.');
        if ok_before && !path.is_empty() {
            refs.push(path.to_string());
        }
        i = end.max(start + 1);
    }
    refs
}

/// Whether `path` (`a.b.c`) names a key present in `values` (a null value counts).
pub(crate) fn resolves(values: &Value, path: &str) -> bool {
    let mut node = values;
    for segment in path.split('.') {
        match node.as_object().and_then(|o| o.get(segment)) {
            Some(next) => node = next,
            None => return false,
        }
    }
    true
}
