//! Dropping a value off the caller's path, for Kafka clients that are done.
//!
//! librdkafka's destroy of a client waits for its threads to time out their calls:
//! about 100 ms a client measured here (the admin client of the topic checks, each
//! restore consumer, the producer at the end of `once`), on the path of every start.
//! A client that is done (no transaction open, nothing in flight, no group joined,
//! nothing to commit) loses nothing by being destroyed later, or not at all when
//! the process exits first.

/// Drops `value` on a thread of its own that nobody waits for.
pub(crate) fn drop_in_background<T: Send + 'static>(value: T) {
    // Without a thread to spare, the closure (and `value`) is dropped here.
    let _ = std::thread::Builder::new()
        .name("release".into())
        .spawn(move || drop(value));
}
