//! Handing an image over to another program (Trivy) that must pull it as this client would:
//! [`Client::handover`] gives the [`Handover`] — the reference to pull (through a pull-through
//! cache where one covers the repository), whether the host is spoken to over plain HTTP or
//! without TLS verification, and the user name and password this client would send there.

use std::fmt;

use purser::digest::Digest;
use purser::reference::Reference;

use super::credentials::Secret;
use super::{Client, RegistryError};

/// How another program reaches one image manifest as this client would.
#[derive(Clone)]
pub struct Handover {
    /// `REGISTRY/REPOSITORY@DIGEST`, at the host this client would ask.
    pub reference: String,
    /// The host named by `--plain-http`.
    pub plain_http: bool,
    /// The host named by `--insecure-skip-tls-verify`.
    pub insecure: bool,
    /// The user name and password this client would send (from the environment, Helm's or
    /// Docker's config or a credential helper); `None` when it would go anonymous or holds an
    /// identity token, which the other program reads from Docker's config itself.
    pub basic: Option<(String, String)>,
}

impl fmt::Debug for Handover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handover")
            .field("reference", &self.reference)
            .field("plain_http", &self.plain_http)
            .field("insecure", &self.insecure)
            .field(
                "basic",
                &self.basic.as_ref().map(|(user, _)| (user, "<hidden>")),
            )
            .finish()
    }
}

impl Client {
    /// What another program needs to pull `image`'s manifest `digest` as this client would;
    /// the error names the credential source that failed.
    pub async fn handover(
        &self,
        image: &Reference,
        digest: &Digest,
    ) -> Result<Handover, RegistryError> {
        let t = self.target_of(image);
        let basic = match self.credential(&t).await? {
            Some(credential) => match credential.secret {
                Secret::Basic { username, password } => Some((username, password)),
                Secret::IdentityToken { .. } => None,
            },
            None => None,
        };
        Ok(Handover {
            reference: format!("{}/{}@{digest}", t.api_host, t.repository),
            plain_http: t.base.starts_with("http://"),
            insecure: t.insecure,
            basic,
        })
    }
}
