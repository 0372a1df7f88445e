//! Email normalisation: the one rule by which a Streak member and a directory
//! entry are the same person. Case and surrounding whitespace never matter;
//! plus-addressing (`ann+crm@corp.com`) is kept unless asked otherwise, because
//! many directories hold such addresses as distinct identities.

/// How emails are compared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmailNormalisation {
    /// Drop a `+tag` from the local part (`ann+crm@corp.com` is `ann@corp.com`).
    pub strip_plus_tag: bool,
}

impl EmailNormalisation {
    /// The normalised form of `raw`: trimmed, lower-cased (Unicode lower case, the
    /// closest std has to case folding), with the `+tag` dropped when asked. `None`
    /// when `raw` is not an email: no `@`, or an empty local part or domain.
    pub fn normalise(&self, raw: &str) -> Option<String> {
        let lower = raw.trim().to_lowercase();
        let (local, domain) = lower.rsplit_once('@')?;
        let local = if self.strip_plus_tag {
            local.split_once('+').map_or(local, |(base, _)| base)
        } else {
            local
        };
        if local.is_empty() || domain.is_empty() || local.chars().any(char::is_whitespace) {
            return None;
        }
        Some(format!("{local}@{domain}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_whitespace_never_matter() {
        let n = EmailNormalisation::default();
        assert_eq!(
            n.normalise("  Ann.Lee@Corp.COM \t").as_deref(),
            Some("ann.lee@corp.com")
        );
        assert_eq!(
            n.normalise("ÉLODIE@corp.fr").as_deref(),
            Some("élodie@corp.fr")
        );
    }

    #[test]
    fn plus_tags_are_kept_unless_asked() {
        let keep = EmailNormalisation::default();
        let strip = EmailNormalisation {
            strip_plus_tag: true,
        };
        assert_eq!(
            keep.normalise("Ann+CRM@corp.com").as_deref(),
            Some("ann+crm@corp.com")
        );
        assert_eq!(
            strip.normalise("Ann+CRM@corp.com").as_deref(),
            Some("ann@corp.com")
        );
        // Only the local part's tag: a plus in the domain is left alone.
        assert_eq!(strip.normalise("a@b+c.com").as_deref(), Some("a@b+c.com"));
        // A local part that is only a tag is not an email.
        assert_eq!(strip.normalise("+x@corp.com"), None);
    }

    #[test]
    fn non_emails_are_refused() {
        let n = EmailNormalisation::default();
        for bad in ["", "   ", "ann", "@corp.com", "ann@", "ann lee@corp.com"] {
            assert_eq!(n.normalise(bad), None, "{bad:?}");
        }
    }
}
