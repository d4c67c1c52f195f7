//! APT repository signatures: [`verify_release`] checks a repository's [`SignedRelease`] (a
//! clear-signed `InRelease`, or `Release` with its detached `Release.gpg`) against the image's
//! [`Keyring`]s as APT does, and answers the [`VerifiedRelease`]; every refusal is a
//! [`ReleaseSignatureError`].
//!
//! The OpenPGP work is [`crate::trust::openpgp`]'s (shared with Helm's provenance files) under
//! [`Accept::Apt`]: one good signature by a key of the keyrings suffices and one that fails to
//! verify refuses (a Release is often signed by several keys, not all of them in every
//! keyring); signatures by revoked or expired keys, expired ones and those over MD5, SHA-1 or
//! RIPEMD-160 do not count. An `InRelease` must be only the clear-signed message, nothing
//! around it (APT refuses unsigned lines too). Keyrings are binary (`gpg --export`, `.gpg`) or
//! ASCII-armored (`.asc`); one that cannot be read is skipped (and named if the check fails).

use std::fmt;

use crate::trust::openpgp::{self, Accept, OpenPgpError, Signer};

/// An OpenPGP keyring a Release may be signed by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyring {
    /// Where it came from, for messages: `/etc/apt/trusted.gpg.d/debian.gpg`.
    pub name: String,
    /// The keyring, binary or ASCII-armored.
    pub bytes: Vec<u8>,
}

/// A repository's signed Release, as fetched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignedRelease<'a> {
    /// `InRelease`: the Release clear-signed.
    InRelease(&'a [u8]),
    /// `Release` and its detached signature `Release.gpg` (binary or armored).
    Detached {
        release: &'a [u8],
        signature: &'a [u8],
    },
}

/// A Release whose signature verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedRelease {
    /// The signed Release text, lines ending in `\n` (an `InRelease`'s signed text is made so;
    /// a detached Release is as fetched).
    pub text: String,
    /// Who signed it: the key's fingerprint and user ID (and the subkey that signed, if one
    /// did).
    pub signer: String,
}

/// Why a Release is not trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReleaseSignatureError {
    /// No keyring to check against.
    NoKeyrings { origin: String },
    /// None of the keyrings can be read (each with why).
    KeyringsUnreadable {
        origin: String,
        skipped: Vec<(String, String)>,
    },
    /// A detached Release is not UTF-8 text.
    NotText { origin: String },
    /// The signature does not vouch for the Release: `error` says why, `tried` names the
    /// keyrings read, `skipped` those that could not be (with why).
    Refused {
        origin: String,
        tried: Vec<String>,
        skipped: Vec<(String, String)>,
        error: Box<OpenPgpError>,
    },
}

const ADD_KEY: &str = "add the repository's key to the image's /etc/apt/trusted.gpg.d (or \
                       point the source's signed-by at it), or give it with --package-keyring FILE";

impl fmt::Display for ReleaseSignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let skipped_list = |skipped: &[(String, String)]| {
            skipped
                .iter()
                .map(|(name, why)| format!("{name} ({why})"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Self::NoKeyrings { origin } => write!(
                f,
                "{origin}: there is no keyring to check its signature against (no \
                 /etc/apt/trusted.gpg, /etc/apt/trusted.gpg.d or signed-by keyring in the \
                 image); {ADD_KEY}"
            ),
            Self::KeyringsUnreadable { origin, skipped } => write!(
                f,
                "{origin}: none of the keyrings can be read: {}; {ADD_KEY}",
                skipped_list(skipped)
            ),
            Self::NotText { origin } => write!(
                f,
                "{origin}: the Release file is not UTF-8 text; the repository is broken or \
                 this is not its Release"
            ),
            Self::Refused {
                origin,
                tried,
                skipped,
                error,
            } => {
                write!(f, "{origin}: {error}; keyrings tried: {}", tried.join(", "))?;
                if !skipped.is_empty() {
                    write!(f, " (unreadable, skipped: {})", skipped_list(skipped))?;
                }
                let advice = match **error {
                    OpenPgpError::UnknownIssuer { .. } => ADD_KEY,
                    OpenPgpError::BadSignature { .. } => {
                        "the Release was changed after it was signed, or damaged on the way: \
                         fetch it again, and check the mirror"
                    }
                    OpenPgpError::WeakDigest { .. } => {
                        "the repository must sign with SHA-256 or stronger (APT refuses this \
                         signature too)"
                    }
                    OpenPgpError::KeyRevoked { .. } | OpenPgpError::KeyExpired { .. } => {
                        "update the image's keyring package (debian-archive-keyring, \
                         ubuntu-keyring, …) or the key signed-by names"
                    }
                    OpenPgpError::SignatureExpired { .. } => {
                        "the repository must sign its Release anew (a mirror serving a stale \
                         one?)"
                    }
                    OpenPgpError::NotClearSigned(_)
                    | OpenPgpError::SignatureUnreadable(_)
                    | OpenPgpError::KeyringUnreadable(_) => {
                        "this is not what the repository signs (a proxy's or captive portal's \
                         page?): fetch it again"
                    }
                };
                write!(f, "; {advice}")
            }
        }
    }
}

impl std::error::Error for ReleaseSignatureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Refused { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }
}

/// Checks `release` against `keyrings` as APT does; `origin` (its URL) names it in errors.
pub fn verify_release(
    release: SignedRelease<'_>,
    keyrings: &[Keyring],
    origin: &str,
) -> Result<VerifiedRelease, ReleaseSignatureError> {
    if keyrings.is_empty() {
        return Err(ReleaseSignatureError::NoKeyrings {
            origin: origin.to_string(),
        });
    }
    let mut keys = Vec::new();
    let mut tried = Vec::new();
    let mut skipped = Vec::new();
    for keyring in keyrings {
        match openpgp::read_keyring(&keyring.bytes) {
            Ok(read) => {
                keys.extend(read);
                tried.push(keyring.name.clone());
            }
            Err(e) => skipped.push((keyring.name.clone(), e.to_string())),
        }
    }
    if keys.is_empty() {
        return Err(ReleaseSignatureError::KeyringsUnreadable {
            origin: origin.to_string(),
            skipped,
        });
    }
    let verified = match release {
        SignedRelease::InRelease(bytes) => openpgp::verify_cleartext(bytes, &keys, Accept::Apt)
            .map(|(signed, signer)| {
                let mut text = signed.replace("\r\n", "\n");
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                (text, signer)
            }),
        SignedRelease::Detached { release, signature } => {
            let text =
                std::str::from_utf8(release).map_err(|_| ReleaseSignatureError::NotText {
                    origin: origin.to_string(),
                })?;
            openpgp::verify_detached(release, signature, &keys, Accept::Apt)
                .map(|signer| (text.to_string(), signer))
        }
    };
    match verified {
        Ok((text, signer)) => Ok(VerifiedRelease {
            text,
            signer: describe(&signer),
        }),
        Err(error) => Err(ReleaseSignatureError::Refused {
            origin: origin.to_string(),
            tried,
            skipped,
            error: Box::new(error),
        }),
    }
}

/// `FINGERPRINT (user ID)`, and the subkey when one signed.
fn describe(signer: &Signer) -> String {
    let mut out = format!("{} ({})", signer.fingerprint, signer.user_id);
    if !signer.fingerprint.ends_with(&signer.key_id) {
        out.push_str(&format!(", subkey {}", signer.key_id));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Output};

    /// A throw-away GnuPG home with keys; its agent is stopped on Drop.
    struct Gpg {
        home: tempfile::TempDir,
    }

    impl Gpg {
        fn new() -> Gpg {
            let home = tempfile::Builder::new().prefix("gpg-").tempdir().unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
            Gpg { home }
        }

        fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
            use std::io::Write;
            let mut child = Command::new("/usr/bin/gpg")
                .env("GNUPGHOME", self.home.path())
                .args([
                    "--batch",
                    "--yes",
                    "--pinentry-mode",
                    "loopback",
                    "--passphrase",
                    "",
                ])
                .args(args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run gpg");
            let mut input = child.stdin.take().unwrap();
            input.write_all(stdin.unwrap_or_default()).unwrap();
            drop(input);
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "gpg {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            out
        }

        /// Makes a signing-only key of `algo` for `uid`.
        fn generate(&self, uid: &str, algo: &str) {
            self.run(&["--quick-gen-key", uid, algo, "sign", "never"], None);
        }

        /// The fingerprint of `uid`'s key.
        fn fingerprint(&self, uid: &str) -> String {
            let out = self.run(&["--with-colons", "--list-keys", uid], None);
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("fpr:"))
                .map(|l| l.trim_matches(':').to_string())
                .unwrap()
        }

        fn keyring(&self, uid: &str, armor: bool, name: &str) -> Keyring {
            let mut args = vec!["--export"];
            if armor {
                args.push("--armor");
            }
            args.push(uid);
            Keyring {
                name: name.to_string(),
                bytes: self.run(&args, None).stdout,
            }
        }

        /// `text` signed by `signers` (uids) with `how` (`--clearsign`, `--detach-sign`, …).
        fn sign(&self, text: &str, signers: &[&str], how: &[&str]) -> Vec<u8> {
            let mut args: Vec<&str> = how.to_vec();
            for signer in signers {
                args.extend(["--local-user", signer]);
            }
            self.run(&args, Some(text.as_bytes())).stdout
        }
    }

    impl Drop for Gpg {
        fn drop(&mut self) {
            let _ = Command::new("gpgconf")
                .env("GNUPGHOME", self.home.path())
                .args(["--kill", "gpg-agent"])
                .output();
        }
    }

    const RELEASE: &str = "Origin: Test\nLabel: Test\nSuite: stable\nCodename: test\n\
        Date: Sat, 01 Jun 2024 00:00:00 UTC\nArchitectures: amd64\nComponents: main\n\
        SHA256:\n 0000000000000000000000000000000000000000000000000000000000000000 0 \
        main/binary-amd64/Packages\n";
    const ORIGIN: &str = "http://deb.example/dists/stable/InRelease";
    const UID: &str = "Test <t@example.invalid>";

    fn refused(result: Result<VerifiedRelease, ReleaseSignatureError>) -> OpenPgpError {
        match result {
            Err(ReleaseSignatureError::Refused { error, .. }) => *error,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rsa_and_ed25519_releases_verify_clear_signed_and_detached() {
        for algo in ["rsa3072", "ed25519"] {
            let gpg = Gpg::new();
            gpg.generate(UID, algo);
            let fingerprint = gpg.fingerprint(UID);
            let expected = VerifiedRelease {
                text: RELEASE.to_string(),
                signer: format!("{fingerprint} ({UID})"),
            };
            let in_release = gpg.sign(RELEASE, &[UID], &["--clearsign"]);
            let binary = gpg.sign(RELEASE, &[UID], &["--detach-sign"]);
            let armored = gpg.sign(RELEASE, &[UID], &["--detach-sign", "--armor"]);
            for armor in [false, true] {
                let keyrings = [gpg.keyring(UID, armor, "/etc/apt/trusted.gpg.d/test.gpg")];
                let check = |release| verify_release(release, &keyrings, ORIGIN);
                assert_eq!(
                    check(SignedRelease::InRelease(&in_release)).as_ref(),
                    Ok(&expected),
                    "{algo}"
                );
                for signature in [&binary, &armored] {
                    let detached = SignedRelease::Detached {
                        release: RELEASE.as_bytes(),
                        signature,
                    };
                    assert_eq!(check(detached).as_ref(), Ok(&expected), "{algo}");
                }
            }
        }
    }

    #[test]
    fn a_modified_release_is_a_bad_signature() {
        let gpg = Gpg::new();
        gpg.generate(UID, "ed25519");
        let keyrings = [gpg.keyring(UID, false, "test.gpg")];
        let in_release = String::from_utf8(gpg.sign(RELEASE, &[UID], &["--clearsign"])).unwrap();
        let edited = in_release.replace("Suite: stable", "Suite: stablf");
        assert_ne!(edited, in_release);
        let error = refused(verify_release(
            SignedRelease::InRelease(edited.as_bytes()),
            &keyrings,
            ORIGIN,
        ));
        assert!(
            matches!(error, OpenPgpError::BadSignature { .. }),
            "{error:?}"
        );

        let signature = gpg.sign(RELEASE, &[UID], &["--detach-sign"]);
        let edited = RELEASE.replace("amd64\n", "arm64\n");
        let result = verify_release(
            SignedRelease::Detached {
                release: edited.as_bytes(),
                signature: &signature,
            },
            &keyrings,
            ORIGIN,
        );
        let message = result.as_ref().unwrap_err().to_string();
        assert!(matches!(refused(result), OpenPgpError::BadSignature { .. }));
        assert!(
            message.starts_with(ORIGIN) && message.contains("changed after it was signed"),
            "{message}"
        );
    }

    #[test]
    fn a_release_by_an_unknown_key_names_the_keyrings_and_what_to_do() {
        let (signer, other) = (Gpg::new(), Gpg::new());
        signer.generate(UID, "ed25519");
        other.generate("Other <o@example.invalid>", "ed25519");
        let keyrings = [
            other.keyring("Other", false, "/etc/apt/trusted.gpg.d/other.gpg"),
            Keyring {
                name: "/etc/apt/trusted.gpg.d/broken.asc".into(),
                bytes: b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\ngarbage\n".to_vec(),
            },
        ];
        let in_release = signer.sign(RELEASE, &[UID], &["--clearsign"]);
        let result = verify_release(SignedRelease::InRelease(&in_release), &keyrings, ORIGIN);
        let message = result.as_ref().unwrap_err().to_string();
        let Err(ReleaseSignatureError::Refused {
            tried,
            skipped,
            error,
            ..
        }) = result
        else {
            panic!("{result:?}")
        };
        let key_id = signer.fingerprint(UID)[24..].to_string();
        assert_eq!(
            *error,
            OpenPgpError::UnknownIssuer {
                key_ids: vec![key_id.clone()]
            }
        );
        assert_eq!(tried, ["/etc/apt/trusted.gpg.d/other.gpg"]);
        assert_eq!(skipped[0].0, "/etc/apt/trusted.gpg.d/broken.asc");
        for part in [
            ORIGIN,
            key_id.as_str(),
            "/etc/apt/trusted.gpg.d/other.gpg",
            "broken.asc",
            "/etc/apt/trusted.gpg.d (or point the source's signed-by at it)",
        ] {
            assert!(message.contains(part), "{part}: {message}");
        }
    }

    #[test]
    fn one_good_signature_among_unknown_ones_suffices_and_sha1_does_not_count() {
        let gpg = Gpg::new();
        gpg.generate(UID, "rsa3072");
        gpg.generate("Second <s@example.invalid>", "ed25519");
        let keyrings = [gpg.keyring(UID, true, "test.asc")];
        let both = gpg.sign(RELEASE, &["Second", UID], &["--detach-sign"]);
        let detached = |signature| SignedRelease::Detached {
            release: RELEASE.as_bytes(),
            signature,
        };
        let verified = verify_release(detached(&both), &keyrings, ORIGIN).unwrap();
        assert!(verified.signer.contains(UID), "{verified:?}");

        let sha1 = gpg.sign(RELEASE, &[UID], &["--detach-sign", "--digest-algo", "SHA1"]);
        let error = refused(verify_release(detached(&sha1), &keyrings, ORIGIN));
        assert!(
            matches!(&error, OpenPgpError::WeakDigest { digest, .. } if digest == "SHA1"),
            "{error:?}"
        );
    }

    #[test]
    fn unsigned_lines_around_an_in_release_and_unreadable_keyrings_are_refused() {
        let gpg = Gpg::new();
        gpg.generate(UID, "ed25519");
        let keyrings = [gpg.keyring(UID, false, "test.gpg")];
        let in_release = String::from_utf8(gpg.sign(RELEASE, &[UID], &["--clearsign"])).unwrap();
        for tampered in [
            format!("Suite: evil\n{in_release}"),
            format!("{in_release}Suite: evil\n"),
            RELEASE.to_string(),
        ] {
            let error = refused(verify_release(
                SignedRelease::InRelease(tampered.as_bytes()),
                &keyrings,
                ORIGIN,
            ));
            assert!(
                matches!(error, OpenPgpError::NotClearSigned(_)),
                "{error:?}"
            );
        }
        let garbage = Keyring {
            name: "junk.gpg".into(),
            bytes: b"\xff\x00junk".to_vec(),
        };
        let result = verify_release(
            SignedRelease::InRelease(in_release.as_bytes()),
            &[garbage],
            ORIGIN,
        );
        assert!(
            matches!(&result, Err(ReleaseSignatureError::KeyringsUnreadable { skipped, .. })
                if skipped[0].0 == "junk.gpg"),
            "{result:?}"
        );
        assert_eq!(
            verify_release(SignedRelease::InRelease(in_release.as_bytes()), &[], ORIGIN),
            Err(ReleaseSignatureError::NoKeyrings {
                origin: ORIGIN.into()
            })
        );
    }
}
