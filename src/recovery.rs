//! The one vocabulary for "what now?" after an error.
//!
//! Every error type of the connector says how to recover from it, decided where the
//! error is made (the module that knows what went wrong), and the poll cycle maps
//! that classification to a poll result in one place. Nobody downstream re-decides.

/// What the caller does after an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Transient: the same step may succeed if tried again now, after a short backoff
    /// (a 429, a 5xx, a timeout).
    RetryNow,
    /// Nothing of the cycle is visible: back off, then redo the whole cycle from the
    /// last committed state (fetch again, diff again, publish again).
    RedoCycle,
    /// This organization cannot go on until an operator acts (a rejected key, a
    /// retired API); polling again changes nothing. The other organizations go on.
    StopOrganization,
    /// The process must stop with a non-zero status (fenced by another instance, a
    /// commit whose outcome is unknown); a restart resolves it.
    StopProcess,
}

/// An error that knows how to recover from itself.
pub trait Classified: std::error::Error {
    /// How to recover.
    fn recovery(&self) -> Recovery;
    /// A fixed code for metrics labels, logs and `/readyz`; never raw text.
    fn error_code(&self) -> &'static str;
}
