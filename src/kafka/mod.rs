//! Kafka I/O: topic checks, state restore from the compacted state topic, and the transactional publisher.
