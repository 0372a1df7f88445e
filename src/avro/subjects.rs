//! Schema Registry subjects: the two topics the connector writes, their subject
//! names (TopicNameStrategy) and what to do with the subjects at start-up. Names
//! only: no HTTP.

/// The two topics whose subjects the encoder registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicNames {
    pub events: String,
    pub state: String,
}

/// The Schema Registry subject of a topic's keys (TopicNameStrategy).
pub fn key_subject(topic: &str) -> String {
    format!("{topic}-key")
}

/// The Schema Registry subject of a topic's values (TopicNameStrategy).
pub fn value_subject(topic: &str) -> String {
    format!("{topic}-value")
}

/// What to do with the subjects at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Registration {
    /// Register the schemas (`POST /subjects/{s}/versions`): idempotent, needs
    /// write access; the registry checks compatibility.
    #[default]
    Register,
    /// Only look the schemas up (`POST /subjects/{s}`), for registries managed by
    /// someone else: fails if a schema was not registered beforehand.
    LookupOnly,
}
