//! Version ordering, as the package managers themselves order versions: [`compare_dpkg`] is
//! dpkg's (`lib/dpkg/version.c`), [`compare_apk`] and [`fuzzy_apk`] are apk-tools'
//! (`src/version.c`, whose tokens [`ApkTokens`] walks). Both are total over any string: a version
//! neither tool would accept still gets an order, never a panic.

use std::cmp::Ordering;

/// Orders two Debian versions `[epoch:]upstream[-revision]` as dpkg does.
///
/// The epoch is everything before the first `:`, the revision everything after the last `-`
/// (none: empty, which equals `0`). Each part is compared by dpkg's `verrevcmp`: alternating
/// non-digit runs, character by character (`~` before everything, even the end of the string;
/// letters before other characters), and digit runs, by numeric value.
pub fn compare_dpkg(a: &str, b: &str) -> Ordering {
    let (a, b) = (dpkg_parts(a), dpkg_parts(b));
    a.iter()
        .zip(&b)
        .map(|(a, b)| verrevcmp(a, b))
        .find(|order| order.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// Epoch, upstream version and revision, as dpkg's `parseversion` splits them.
fn dpkg_parts(version: &str) -> [&[u8]; 3] {
    let version = version.trim();
    let (epoch, rest) = version.split_once(':').unwrap_or(("", version));
    let (upstream, revision) = rest.rsplit_once('-').unwrap_or((rest, ""));
    [epoch.as_bytes(), upstream.as_bytes(), revision.as_bytes()]
}

/// dpkg's `verrevcmp`. Applied to an all-digit epoch it is a numeric comparison.
fn verrevcmp(mut a: &[u8], mut b: &[u8]) -> Ordering {
    while !a.is_empty() || !b.is_empty() {
        loop {
            let (x, y) = (a.first().copied(), b.first().copied());
            if !is_non_digit(x) && !is_non_digit(y) {
                break;
            }
            // Equal orders mean both sides hold the same non-digit: the end of the string
            // orders 0, like a digit, and every non-digit orders otherwise.
            let order = dpkg_order(x).cmp(&dpkg_order(y));
            if order.is_ne() {
                return order;
            }
            a = a.get(1..).unwrap_or_default();
            b = b.get(1..).unwrap_or_default();
        }
        let ((x, rest_a), (y, rest_b)) = (split_digits(a), split_digits(b));
        let order = cmp_digits(x, y);
        if order.is_ne() {
            return order;
        }
        (a, b) = (rest_a, rest_b);
    }
    Ordering::Equal
}

fn is_non_digit(c: Option<u8>) -> bool {
    c.is_some_and(|c| !c.is_ascii_digit())
}

/// dpkg's `order`: `~` first, then the end of the string (and digits, which never meet a
/// non-digit here), then letters, then everything else.
fn dpkg_order(c: Option<u8>) -> i32 {
    match c {
        Some(b'~') => -1,
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// The leading digit run of `s`, and what follows it.
fn split_digits(s: &[u8]) -> (&[u8], &[u8]) {
    s.split_at(s.iter().take_while(|c| c.is_ascii_digit()).count())
}

/// Two digit runs by numeric value, however long (an empty run is zero).
fn cmp_digits(a: &[u8], b: &[u8]) -> Ordering {
    let (a, b) = (without_leading_zeros(a), without_leading_zeros(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn without_leading_zeros(digits: &[u8]) -> &[u8] {
    &digits[digits.iter().take_while(|&&c| c == b'0').count()..]
}

/// Orders two Alpine versions `number{.number}[letter]{_suffix[number]}[~hash][-rN]` as apk does.
///
/// Numbers compare by value, except one after a `.` with a leading zero, which compares as a
/// string (a decimal fraction: `1.05 < 1.5`, `1.0.05 < 1.0.4`). Suffixes order
/// `_alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git < _hg < _p`; `-rN` is the package
/// revision, and a version without one sorts below `-r0`. Where the versions diverge past a
/// token both have, the one that continues is greater, unless it continues with a pre-release
/// suffix.
pub fn compare_apk(a: &str, b: &str) -> Ordering {
    apk_order(a, b, false)
}

/// Whether `version` matches apk's fuzzy dependency `~prefix`: equal to `prefix` token by token
/// for as many tokens as `prefix` has (`1.2.3-r1` and `1.2_rc1` match `~1.2`; `1.20` does not).
pub fn fuzzy_apk(version: &str, prefix: &str) -> bool {
    apk_order(version, prefix, true).is_eq()
}

/// apk-tools' `apk_version_compare_fuzzy`.
fn apk_order(a: &str, b: &str, fuzzy: bool) -> Ordering {
    let (mut a, mut b) = (ApkTokens::new(a), ApkTokens::new(b));
    while a.kind == b.kind && a.kind < ApkKind::End {
        let order = a.cmp_token(&b);
        if order.is_ne() {
            return order;
        }
        a.advance();
        b.advance();
    }
    if a.kind == b.kind || (fuzzy && b.kind == ApkKind::End) {
        Ordering::Equal
    } else if a.is_pre_release() {
        Ordering::Less
    } else if b.is_pre_release() {
        Ordering::Greater
    } else {
        // The side that ran out of tokens (or into an invalid one) first is the lesser.
        b.kind.cmp(&a.kind)
    }
}

/// apk's token kinds, in the order that decides which may follow which and, at the end of a
/// comparison, which side is greater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ApkKind {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    CommitHash,
    RevisionNo,
    End,
    Invalid,
}

/// apk's suffix words by rank; the empty slot is the rank of no suffix at all.
const APK_SUFFIXES: [&str; 10] = [
    "alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p",
];
const APK_NO_SUFFIX: usize = 4;

/// A cursor over an apk version's tokens, holding the current one (apk's `token_state`).
struct ApkTokens<'a> {
    rest: &'a [u8],
    kind: ApkKind,
    /// The token's text: its digits, letter, suffix word or hash.
    text: &'a [u8],
    /// For a suffix, its rank in [`APK_SUFFIXES`].
    suffix: usize,
}

impl<'a> ApkTokens<'a> {
    /// At the first token, the leading number.
    fn new(version: &'a str) -> Self {
        let mut tokens = ApkTokens {
            rest: version.as_bytes(),
            kind: ApkKind::InitialDigit,
            text: &[],
            suffix: APK_NO_SUFFIX,
        };
        tokens.digits(ApkKind::InitialDigit);
        tokens
    }

    fn digits(&mut self, kind: ApkKind) {
        (self.text, self.rest) = split_digits(self.rest);
        self.kind = if self.text.is_empty() {
            ApkKind::Invalid
        } else {
            kind
        };
    }

    fn take(&mut self, wanted: fn(&u8) -> bool) -> &'a [u8] {
        let taken;
        (taken, self.rest) = self
            .rest
            .split_at(self.rest.iter().take_while(|c| wanted(c)).count());
        taken
    }

    /// apk's `token_next`: the next token, if the current one allows it after itself.
    fn advance(&mut self) {
        let Some((&c, after)) = self.rest.split_first() else {
            self.kind = ApkKind::End;
            return;
        };
        let previous = self.kind;
        self.kind = ApkKind::Invalid;
        match c {
            b'a'..=b'z' if previous <= ApkKind::Digit => {
                (self.text, self.rest) = self.rest.split_at(1);
                self.kind = ApkKind::Letter;
            }
            b'.' if previous <= ApkKind::Digit => {
                self.rest = after;
                self.digits(ApkKind::Digit);
            }
            b'0'..=b'9' if previous == ApkKind::Suffix => self.digits(ApkKind::SuffixNo),
            b'_' if previous <= ApkKind::SuffixNo => {
                self.rest = after;
                self.text = self.take(u8::is_ascii_lowercase);
                let word = self.text;
                if let Some(rank) = APK_SUFFIXES
                    .iter()
                    .position(|s| !s.is_empty() && s.as_bytes() == word)
                {
                    self.suffix = rank;
                    self.kind = ApkKind::Suffix;
                }
            }
            b'~' if previous < ApkKind::CommitHash => {
                self.rest = after;
                self.text = self.take(u8::is_ascii_hexdigit);
                if !self.text.is_empty() {
                    self.kind = ApkKind::CommitHash;
                }
            }
            b'-' if previous < ApkKind::RevisionNo => {
                if let Some(digits) = after.strip_prefix(b"r") {
                    self.rest = digits;
                    self.digits(ApkKind::RevisionNo);
                }
            }
            _ => {}
        }
    }

    /// apk's `token_cmp`, for two tokens of the same kind.
    fn cmp_token(&self, other: &Self) -> Ordering {
        let leading_zero = |t: &Self| t.text.first() == Some(&b'0');
        match self.kind {
            ApkKind::Suffix => self.suffix.cmp(&other.suffix),
            ApkKind::Digit if leading_zero(self) || leading_zero(other) => {
                self.text.cmp(other.text)
            }
            ApkKind::InitialDigit | ApkKind::Digit | ApkKind::SuffixNo | ApkKind::RevisionNo => {
                cmp_digits(self.text, other.text)
            }
            _ => self.text.cmp(other.text),
        }
    }

    fn is_pre_release(&self) -> bool {
        self.kind == ApkKind::Suffix && self.suffix < APK_NO_SUFFIX
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::{Equal, Greater, Less};

    /// Each version strictly below the next, in both argument orders.
    fn ascending(compare: fn(&str, &str) -> Ordering, versions: &[&str]) {
        for pair in versions.windows(2) {
            assert_eq!(compare(pair[0], pair[1]), Less, "{} < {}", pair[0], pair[1]);
            assert_eq!(
                compare(pair[1], pair[0]),
                Greater,
                "{} > {}",
                pair[1],
                pair[0]
            );
        }
    }

    #[test]
    fn dpkg_epoch_outranks_the_upstream_version() {
        assert_eq!(compare_dpkg("1:1.0", "2.0"), Greater);
        assert_eq!(compare_dpkg("01:1.0", "1:1.0"), Equal);
        assert_eq!(compare_dpkg("0:1.0", "1.0"), Equal);
        assert_eq!(compare_dpkg("10:1.0", "9:2.0"), Greater);
    }

    #[test]
    fn dpkg_tilde_sorts_before_everything_even_the_end() {
        ascending(
            compare_dpkg,
            &[
                "1.0~~", "1.0~~a", "1.0~", "1.0~rc1", "1.0", "1.0a", "1.0+b1",
            ],
        );
        ascending(compare_dpkg, &["1.0~rc1", "1.0~rc2", "1.0~rc10"]);
    }

    #[test]
    fn dpkg_debian_security_revisions() {
        ascending(
            compare_dpkg,
            &["3.0.17-1~deb12u2", "3.0.17-1~deb12u3", "3.0.20-1~deb12u2"],
        );
        assert_eq!(compare_dpkg("2.36-9+deb12u10", "2.36-9+deb12u9"), Greater);
    }

    #[test]
    fn dpkg_revision_is_after_the_last_hyphen() {
        ascending(compare_dpkg, &["1.0-1", "1.0-1.1", "1.0-2"]);
        // The upstream part may hold hyphens itself.
        assert_eq!(compare_dpkg("1.0-beta-2", "1.0-beta-10"), Less);
        // No revision is the empty one, which equals `0`.
        assert_eq!(compare_dpkg("1.0", "1.0-0"), Equal);
        assert_eq!(compare_dpkg("1.0", "1.0-1"), Less);
    }

    #[test]
    fn dpkg_letters_before_other_characters_digits_numeric() {
        assert_eq!(compare_dpkg("1.0a", "1.0"), Greater);
        assert_eq!(compare_dpkg("1.0+b1", "1.0"), Greater);
        assert_eq!(compare_dpkg("1.0a", "1.0+"), Less);
        assert_eq!(compare_dpkg("1.10", "1.9"), Greater);
        assert_eq!(compare_dpkg("1.010", "1.10"), Equal);
        assert_eq!(
            compare_dpkg("1.123456789012345678901234567890", "1.99"),
            Greater
        );
        assert_eq!(compare_dpkg(" 1.0 ", "1.0"), Equal);
    }

    #[test]
    fn apk_revisions_numbers_and_letters() {
        ascending(
            compare_apk,
            &["3.1.4-r5", "3.1.4-r6", "3.1.4-r10", "3.1.5-r0"],
        );
        assert_eq!(compare_apk("1.10", "1.9"), Greater);
        assert_eq!(compare_apk("1.2a", "1.2"), Greater);
        assert_eq!(compare_apk("1.2b", "1.2a"), Greater);
        assert_eq!(compare_apk("1.2a", "1.2.1"), Less);
        // No revision sorts below `-r0`; a missing component below a present zero.
        ascending(compare_apk, &["1.0", "1.0-r0", "1.0.0"]);
        assert_eq!(compare_apk("05.1", "5.1"), Equal);
    }

    #[test]
    fn apk_suffixes_pre_releases_below_post_releases_above() {
        ascending(
            compare_apk,
            &[
                "1.2_alpha",
                "1.2_alpha1",
                "1.2_beta",
                "1.2_pre2",
                "1.2_rc1",
                "1.2_rc2",
                "1.2",
                "1.2_cvs",
                "1.2_svn",
                "1.2_git20240101",
                "1.2_hg",
                "1.2_p1",
                "1.2_p2",
                "1.2.1",
            ],
        );
        assert_eq!(compare_apk("1.2_rc1", "1.2"), Less);
        assert_eq!(compare_apk("1.2", "1.2_p1"), Less);
        assert_eq!(compare_apk("1.2_p1-r1", "1.2_p1-r0"), Greater);
    }

    #[test]
    fn apk_leading_zero_compares_as_a_fraction() {
        ascending(compare_apk, &["1.0.05", "1.0.4"]);
        ascending(compare_apk, &["2.15.05", "2.16.01"]);
        ascending(compare_apk, &["1.005", "1.05", "1.5"]);
    }

    #[test]
    fn apk_invalid_versions_order_deterministically() {
        // A token apk rejects sorts below the end of a valid version, in either order.
        assert_eq!(compare_apk("1.0-x", "1.0"), Less);
        assert_eq!(compare_apk("1.0", "1.0-x"), Greater);
        assert_eq!(compare_apk("", "0"), Less);
        assert_eq!(compare_apk("abc", "abc"), Equal);
        assert_eq!(compare_apk("1.0~abc", "1.0~abd"), Less);
    }

    #[test]
    fn apk_fuzzy_is_a_token_prefix() {
        assert!(fuzzy_apk("1.2.3-r1", "1.2"));
        assert!(fuzzy_apk("1.2_rc1", "1.2"));
        assert!(fuzzy_apk("1.2", "1.2"));
        assert!(!fuzzy_apk("1.20", "1.2"));
        assert!(!fuzzy_apk("1.2", "1.2.3"));
        assert!(!fuzzy_apk("1.3", "1.2"));
    }
}
