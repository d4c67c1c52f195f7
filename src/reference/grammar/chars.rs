//! The byte classes of the reference grammar ([`is_lower_alnum`], [`is_word`], [`is_lower_hex`],
//! [`is_space`]), shared by the scanners of its parts.

#[inline]
pub(super) fn is_lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

#[inline]
pub(super) fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

#[inline]
pub(super) fn is_lower_hex(c: u8) -> bool {
    c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
}

#[inline]
pub(super) fn is_space(c: u8) -> bool {
    c.is_ascii_whitespace() || c == 0x0b
}
