//! Trust: cosign signatures checked on the way in and made on the way out (issue 10). So far
//! the keys ([`keys`]: `cosign.key` and `cosign.pub` read, ECDSA P-256 signing and
//! verification) and cosign's legacy `.sig` format ([`simple_signing`]); the Sigstore bundle
//! format, the policy and the wiring into copy and export build on them.

pub mod keys;
pub mod simple_signing;
