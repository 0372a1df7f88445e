//! Where in a transaction an error happened: named by the publisher and the chunked
//! writer, shown in [`super::PublishError`]'s messages.

/// Where in a transaction an error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Init,
    /// Finishing the abort of an earlier failed transaction.
    PendingAbort,
    Begin,
    /// Handing a record to the producer's queue.
    Send,
    /// A record's delivery report.
    Delivery,
    Commit,
    Abort,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Init => "init_transactions",
            Stage::PendingAbort => "finishing an earlier abort",
            Stage::Begin => "begin_transaction",
            Stage::Send => "send",
            Stage::Delivery => "delivery",
            Stage::Commit => "commit_transaction",
            Stage::Abort => "abort_transaction",
        })
    }
}
