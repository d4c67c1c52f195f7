//! What one exchange with a registry is about, shared by the wire ([`transport`](super::transport))
//! and the reading of replies ([`status`](super::status)): the [`Target`] a request goes to
//! (and errors name), the [`Reply`] it got, and the credentials it [`Sent`].

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use super::credentials::CredentialSource;

/// One request target: what errors name, the repository, and where its registry is served.
pub(super) struct Target {
    /// What messages name: the canonical reference, or `registry/repository@digest`.
    pub(super) shown: String,
    /// The registry as the reference names it (`docker.io`, `localhost:5000`).
    pub(super) registry: String,
    pub(super) repository: String,
    /// `scheme://host[:port]` the API is at.
    pub(super) base: String,
    /// `host[:port]` the API is at (auth state key).
    pub(super) api_host: String,
    pub(super) insecure: bool,
}

impl Target {
    /// `BASE/v2/REPOSITORY/PATH`.
    pub(super) fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{path}", self.base, self.repository)
    }

    /// An upload `Location` (absolute, or a path on the registry) as a URL.
    pub(super) fn location(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            format!("{}/{location}", self.base)
        }
    }
}

/// A response: status, headers and the body read whole, or left unread as a stream.
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
    pub(super) stream: Option<reqwest::Response>,
}

impl Reply {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The credentials an attempt carried, for the message if they are refused.
pub(super) struct Sent {
    pub(super) source: CredentialSource,
    /// Why credentials that exist were not sent (plain-HTTP token realm).
    pub(super) withheld: Option<String>,
    /// A bearer token the registry's token service granted was sent: a refusal is then about
    /// the repository, not about who is asking.
    pub(super) token: bool,
}
