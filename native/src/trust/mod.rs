//! Trust: cosign signatures checked on the way in and made on the way out (issue 10). So far
//! the keys ([`keys`]: `cosign.key` and `cosign.pub` read, ECDSA P-256 signing and
//! verification), cosign's legacy `.sig` format ([`simple_signing`]) and the Sigstore bundle
//! v0.3 it writes by default ([`sigstore_bundle`]), each read, verified with a key and made;
//! the policy, keyless verification and the wiring into copy and export build on them.

pub mod keys;
pub mod sigstore_bundle;
pub mod simple_signing;
