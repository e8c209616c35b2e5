//! How `LlmManager` authenticates to Bedrock.
//!
//! Every variant ends in a real `aws-config` credential or token provider; nothing here is a stand-in.
//! Secrets are held in [`Secret`], whose `Debug` and `Display` never show the value, so a logged
//! configuration or error cannot leak a key.

use std::fmt;

/// A secret string (secret access key, session token, bearer token).
///
/// `Debug` and `Display` print `***`; the value is reachable only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Returns the secret value. Call this only where the value is handed to the SDK.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// Where credentials come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// The AWS default credential chain: environment, shared profile, SSO, web identity, container
    /// and instance metadata. `AWS_BEARER_TOKEN_BEDROCK`, when set, is honoured by the SDK.
    #[default]
    DefaultChain,
    /// A named profile from the shared AWS config and credentials files.
    Profile {
        /// The profile name, as in `~/.aws/config`.
        name: String,
    },
    /// Explicit access keys.
    StaticKeys {
        /// The access key id (not secret, but identifying).
        access_key_id: String,
        /// The secret access key.
        secret_access_key: Secret,
        /// An optional session token for temporary credentials.
        session_token: Option<Secret>,
    },
    /// A Bedrock API key, sent as `Authorization: Bearer <token>`.
    BearerToken(Secret),
}

impl Auth {
    /// Explicit access keys without a session token.
    pub fn static_keys(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<Secret>,
    ) -> Self {
        Self::StaticKeys {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
        }
    }

    /// A named shared-config profile.
    pub fn profile(name: impl Into<String>) -> Self {
        Self::Profile { name: name.into() }
    }

    /// A Bedrock API key.
    pub fn bearer_token(token: impl Into<Secret>) -> Self {
        Self::BearerToken(token.into())
    }

    /// A short name for logs: never contains a secret.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::DefaultChain => "default-chain",
            Self::Profile { .. } => "profile",
            Self::StaticKeys { .. } => "static-keys",
            Self::BearerToken(_) => "bearer-token",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_secrets() {
        let auth = Auth::StaticKeys {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG"),
            session_token: Some(Secret::new("FwoGZXIvYXdzEJr")),
        };
        let debug = format!("{auth:?} {:?}", Auth::bearer_token("bedrock-api-key-XYZ"));
        assert!(!debug.contains("wJalrXUtnFEMI"), "{debug}");
        assert!(!debug.contains("FwoGZXIvYXdzEJr"), "{debug}");
        assert!(!debug.contains("bedrock-api-key-XYZ"), "{debug}");
        assert!(debug.contains("AKIDEXAMPLE"));
        assert_eq!(Secret::new("x").to_string(), "***");
    }
}
