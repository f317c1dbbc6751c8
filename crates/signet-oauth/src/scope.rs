//! The scopes a token can carry, as one closed type: registration,
//! authorization, both metadata documents, the consent page and the
//! resource's scope check all read this list, so a scope cannot be known to
//! one and unknown to another.

use std::fmt;

/// A scope this authorization server knows (DESIGN §3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// See envelopes, their events, test emails and deliverables.
    EnvelopesRead,
    /// Create, send, cancel, delete envelopes and change their recipients.
    EnvelopesWrite,
    /// Accepted and advertised by the authorization server only: refresh
    /// tokens go to every client registered for them whether or not it asks.
    OfflineAccess,
}

impl Scope {
    /// The MCP resource's scopes: what the protected-resource metadata and
    /// every challenge name, and what a request without `scope` is granted.
    pub const RESOURCE: [Scope; 2] = [Scope::EnvelopesRead, Scope::EnvelopesWrite];

    /// Every scope accepted, in the order the authorization-server metadata
    /// lists them.
    pub const ALL: [Scope; 3] = [
        Scope::EnvelopesRead,
        Scope::EnvelopesWrite,
        Scope::OfflineAccess,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::EnvelopesRead => "envelopes:read",
            Scope::EnvelopesWrite => "envelopes:write",
            Scope::OfflineAccess => "offline_access",
        }
    }

    /// The scope a token or request names, compared exactly (scopes are
    /// case-sensitive, RFC 6749 §3.3); `None` for one we do not know.
    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == text)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Scope;

    #[test]
    fn every_scope_reads_back_as_itself() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Scope::parse("envelopes:READ"), None);
        assert_eq!(Scope::parse(""), None);
        assert!(Scope::RESOURCE.iter().all(|s| Scope::ALL.contains(s)));
    }
}
