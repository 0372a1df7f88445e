//! One line of `check`'s report: an item, whether it is fine, and why.

/// One checked item.
#[derive(Debug)]
pub(super) struct Verdict {
    pub(super) ok: bool,
    pub(super) item: String,
    pub(super) detail: String,
}
