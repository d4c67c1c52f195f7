//! Trust: cosign signatures checked on the way in and made on the way out. The pieces: the
//! keys ([`keys`]: `cosign.key` and `cosign.pub` read, ECDSA P-256 signing and verification),
//! cosign's legacy `.sig` format ([`simple_signing`]) and the Sigstore bundle v0.3 it writes
//! by default ([`sigstore_bundle`]), each read, verified and made; the signature policy file
//! ([`policy`]); the signatures a store holds for a digest ([`found`]); the verdict of a
//! policy on them ([`verify`]: `--verify`) and the mirror's own signatures ([`sign`]:
//! `--sign-key`). Helm's own chart signatures, `.prov` files, are checked against an OpenPGP
//! keyring by [`provenance`], on [`openpgp`] (which checks APT's signed Release files too).
//! Keyless (Sigstore public-good) signatures are checked against a `trusted_root.json` by
//! [`keyless`], on [`trusted_root`], [`certificate`] (Fulcio's X.509) and [`rekor`] (the
//! transparency log's promises and proofs).

pub mod certificate;
pub mod found;
pub mod keyless;
pub mod keys;
pub mod openpgp;
pub mod policy;
pub mod provenance;
pub mod rekor;
pub mod sign;
pub mod sigstore_bundle;
pub mod simple_signing;
pub mod trusted_root;
pub mod verify;

/// A file of native/tests/fixtures/cosign (real cosign output; its README.md says how each
/// was made).
#[cfg(test)]
fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cosign")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A public key of the fixtures.
#[cfg(test)]
fn fixture_key(name: &str) -> keys::VerifyingKey {
    keys::VerifyingKey::from_pem(&String::from_utf8_lossy(&fixture(name))).unwrap()
}
