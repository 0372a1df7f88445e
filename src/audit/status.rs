//! A person's status in the directory, and the words that name it. A leaf: the
//! directory parser and its errors both speak of it.

/// A person's status in the directory.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum DirectoryStatus {
    Active,
    Suspended,
    Deleted,
}

impl DirectoryStatus {
    /// The built-in names, compared after trimming, lower-casing and turning `-`
    /// and spaces into `_`. They cover Okta's user statuses and the usual words.
    pub const SYNONYMS: [(&'static str, DirectoryStatus); 16] = [
        ("active", DirectoryStatus::Active),
        ("enabled", DirectoryStatus::Active),
        ("provisioned", DirectoryStatus::Active),
        ("staged", DirectoryStatus::Active),
        ("recovery", DirectoryStatus::Active),
        ("password_expired", DirectoryStatus::Active),
        ("locked_out", DirectoryStatus::Active),
        ("suspended", DirectoryStatus::Suspended),
        ("disabled", DirectoryStatus::Suspended),
        ("inactive", DirectoryStatus::Suspended),
        ("deactivated", DirectoryStatus::Suspended),
        ("deprovisioned", DirectoryStatus::Suspended),
        ("archived", DirectoryStatus::Suspended),
        ("deleted", DirectoryStatus::Deleted),
        ("removed", DirectoryStatus::Deleted),
        ("terminated", DirectoryStatus::Deleted),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DirectoryStatus::Active => "active",
            DirectoryStatus::Suspended => "suspended",
            DirectoryStatus::Deleted => "deleted",
        }
    }
}
