//! The certificate side of a keyless check: whether a leaf [`Cert`] chains to a Fulcio
//! certificate authority of the [`TrustedRoot`] valid at the signing time
//! ([`chains_to_fulcio`]), and was valid itself then ([`check_validity`]).

use super::KeylessError;
use crate::trust::certificate::Cert;
use crate::trust::trusted_root::TrustedRoot;

/// The signing time lies within the leaf's notBefore..=notAfter.
pub fn check_validity(leaf: &Cert, time: i64) -> Result<(), KeylessError> {
    if leaf.valid_at(time) {
        Ok(())
    } else {
        let (not_before, not_after) = leaf.validity();
        Err(KeylessError::OutsideValidity {
            time,
            not_before,
            not_after,
        })
    }
}

/// Whether some Fulcio CA of `root`, valid at `time`, issued `leaf`: the leaf signed by the
/// chain's first certificate, each by the next, every one of them a CA valid at `time`.
pub(super) fn chains_to_fulcio(leaf: &Cert, root: &TrustedRoot, time: i64) -> bool {
    root.certificate_authorities
        .iter()
        .filter(|ca| ca.valid_for.contains(time))
        .any(|ca| {
            let mut child = leaf;
            for parent in &ca.chain {
                if !parent.valid_at(time)
                    || !parent.is_ca().unwrap_or(false)
                    || !child.is_signed_by(parent)
                {
                    return false;
                }
                child = parent;
            }
            true
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::keyless::fixture;
    use crate::trust::sigstore_bundle::parse;

    #[test]
    fn the_signing_time_must_lie_within_the_certificate() {
        let leaf = parse(&fixture("dsse/bundle.sigstore.json"))
            .unwrap()
            .verification_material
            .leaf_certificate()
            .unwrap()
            .unwrap();
        let leaf = Cert::from_der(&leaf).unwrap();
        assert_eq!(check_validity(&leaf, 1_734_374_576), Ok(()));
        assert_eq!(check_validity(&leaf, 1_734_375_176), Ok(()));
        let err = check_validity(&leaf, 1_734_375_177).unwrap_err();
        assert_eq!(
            err,
            KeylessError::OutsideValidity {
                time: 1_734_375_177,
                not_before: 1_734_374_576,
                not_after: 1_734_375_176,
            }
        );
        assert_eq!(
            err.to_string(),
            "the signing time 2024-12-16T18:52:57Z is outside the certificate's validity \
             2024-12-16T18:42:56Z to 2024-12-16T18:52:56Z"
        );
        assert!(check_validity(&leaf, 1_734_374_575).is_err());
    }
}
