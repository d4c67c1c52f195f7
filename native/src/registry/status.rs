//! What a registry's reply means: the error of a non-success status, the detail a registry
//! puts in its error body, and the errors of bad bytes.

use purser::digest::{Digest, DigestError};
use reqwest::StatusCode;

use super::RegistryError;
use super::exchange::{Reply, Sent, Target};

pub(super) const FROM_REFERENCE: &str = "pinned by the reference";
pub(super) const FROM_REGISTRY: &str = "the registry's Docker-Content-Digest";
pub(super) const FROM_MANIFEST: &str = "named by the image manifest";

pub(super) fn mismatch(
    t: &Target,
    expected: &Digest,
    actual: &Digest,
    from: &'static str,
) -> RegistryError {
    RegistryError::DigestMismatch {
        reference: t.shown.clone(),
        registry: t.registry.to_owned(),
        expected: expected.to_string(),
        actual: actual.to_string(),
        expected_from: from,
    }
}

/// Where a registry's digest was, for [`malformed`].
pub(super) const IN_HEADER: &str = "its Docker-Content-Digest header";
pub(super) const IN_INDEX: &str = "an index entry";
pub(super) const IN_CONFIG: &str = "the image manifest's config descriptor";

/// A digest the registry sent, found in `found_in`, that does not parse.
pub(super) fn malformed(t: &Target, found_in: &'static str, error: DigestError) -> RegistryError {
    RegistryError::MalformedDigest {
        reference: t.shown.clone(),
        registry: t.registry.to_owned(),
        found_in,
        error: Box::new(error),
    }
}

pub(super) fn bad(t: &Target, detail: String) -> RegistryError {
    RegistryError::BadResponse {
        reference: t.shown.clone(),
        registry: t.registry.to_owned(),
        detail,
    }
}

pub(super) fn unauthorized(t: &Target, sent: &Sent, detail: String) -> RegistryError {
    let detail = match &sent.withheld {
        Some(why) => format!("{detail}; credentials exist but {why}"),
        None => detail,
    };
    RegistryError::Unauthorized {
        reference: t.shown.clone(),
        registry: t.registry.to_owned(),
        credentials: sent.source.clone(),
        detail,
        token: sent.token,
    }
}

pub(super) fn status_error(t: &Target, reply: &Reply) -> RegistryError {
    RegistryError::Status {
        reference: t.shown.clone(),
        registry: t.registry.to_owned(),
        status: reply.status.as_u16(),
        detail: error_detail(&reply.body).unwrap_or_default(),
    }
}

/// The error of a non-200 manifest reply, by status.
pub(super) fn check_status(t: &Target, reply: &Reply, sent: Sent) -> Result<(), RegistryError> {
    match reply.status {
        StatusCode::OK => Ok(()),
        StatusCode::NOT_FOUND => Err(RegistryError::NotFound {
            reference: t.shown.clone(),
            registry: t.registry.to_owned(),
        }),
        StatusCode::UNAUTHORIZED => {
            let detail =
                error_detail(&reply.body).unwrap_or_else(|| "HTTP 401 Unauthorized".to_owned());
            Err(unauthorized(t, &sent, detail))
        }
        StatusCode::FORBIDDEN => Err(RegistryError::Denied {
            reference: t.shown.clone(),
            registry: t.registry.to_owned(),
            credentials: sent.source,
        }),
        StatusCode::BAD_REQUEST
            if String::from_utf8_lossy(&reply.body).contains("HTTP request to an HTTPS server") =>
        {
            Err(RegistryError::Tls {
                reference: t.shown.clone(),
                registry: t.registry.to_owned(),
                detail: "it speaks HTTPS, but was asked in plain HTTP; drop --plain-http for it"
                    .to_owned(),
            })
        }
        _ => Err(status_error(t, reply)),
    }
}

/// `CODE: message` of an OCI error body, else its first line of text (registry-supplied).
pub(super) fn error_detail(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(body) {
        let text: Vec<String> = envelope
            .errors
            .iter()
            .map(|e| match (e.code.is_empty(), e.message.is_empty()) {
                (false, false) => format!("{}: {}", e.code, e.message),
                (false, true) => e.code.clone(),
                _ => e.message.clone(),
            })
            .filter(|s| !s.is_empty())
            .collect();
        if !text.is_empty() {
            return Some(text.join("; "));
        }
    }
    let text = String::from_utf8_lossy(body);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line: String = line.chars().filter(|c| !c.is_control()).take(200).collect();
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_details() {
        assert_eq!(
            error_detail(
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#
            )
            .as_deref(),
            Some("MANIFEST_UNKNOWN: manifest unknown")
        );
        assert_eq!(error_detail(b"\n  oops\nmore").as_deref(), Some("oops"));
        assert_eq!(error_detail(b""), None);
    }
}
