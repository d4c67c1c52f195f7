//! [`plain_safe`]: whether a string reads back as itself when written plain, unquoted, by a
//! YAML 1.1 or 1.2 reader: not null, a boolean, a number or a timestamp ([`looks_typed`]), no
//! indicator or comment, nothing to escape ([`needs_escape`]).

pub(super) fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{FEFF}' | '\u{2028}' | '\u{2029}' | '\u{FFFE}' | '\u{FFFF}'
        )
}

/// A string that reads back as itself when written plain, as a block mapping value.
pub(super) fn plain_safe(s: &str) -> bool {
    let bytes = s.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if looks_typed(s)
        || first.is_ascii_whitespace()
        || last.is_ascii_whitespace()
        || starts_with_document_marker(s)
        || s.contains(": ")
        || s.trim().ends_with(':')
        || s.chars().any(needs_escape)
    {
        return false;
    }
    match bytes {
        [b'-' | b'?'] => return false,
        [b'-' | b'?', second, ..] if second.is_ascii_whitespace() => return false,
        [
            b',' | b':' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>'
            | b'\'' | b'"' | b'%' | b'@' | b'`',
            ..,
        ] => return false,
        _ => {}
    }
    let mut prev = None::<char>;
    !s.chars().any(|c| {
        let comment = c == '#' && prev.is_some_and(char::is_whitespace);
        prev = Some(c);
        comment
    })
}

fn starts_with_document_marker(s: &str) -> bool {
    match s.strip_prefix("---").or_else(|| s.strip_prefix("...")) {
        Some(rest) => rest.as_bytes().first().is_none_or(u8::is_ascii_whitespace),
        None => false,
    }
}

/// A plain scalar a YAML 1.1 or 1.2 reader takes for something other than a string: null,
/// booleans (`yes`, `off` too), numbers, timestamps, `<<` and `=`.
fn looks_typed(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let word = lower.trim_matches([' ', '\t', '\r', '\n']);
    matches!(
        lower.as_str(),
        "" | "~" | "null" | "nan" | "inf" | "+inf" | "-inf" | "<<" | "="
    ) || matches!(
        word,
        "true" | "false" | "yes" | "no" | "y" | "n" | "on" | "off"
    ) || numeric(s)
        || timestamp(s)
}

/// YAML 1.1 and 1.2 numbers: integers in any base, floats, sexagesimals, `.inf`, `.nan`.
fn numeric(s: &str) -> bool {
    if !matches!(
        s.as_bytes().first(),
        Some(b'0'..=b'9' | b'+' | b'-' | b'.' | b'_')
    ) {
        return false;
    }
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    if unsigned.eq_ignore_ascii_case(".inf") || unsigned.eq_ignore_ascii_case(".nan") {
        return true;
    }
    if sexagesimal(s) {
        return true;
    }
    if let Some((radix, digits)) = radix_digits(unsigned) {
        if digit_run(digits, radix, false) {
            return true;
        }
    }
    let normalized = s.replace('_', "");
    let s = normalized.as_str();
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    if let Some((radix, digits)) = radix_digits(unsigned) {
        let digits = if s.starts_with("0b") || s.starts_with("0o") {
            digits.strip_prefix(['+', '-']).unwrap_or(digits)
        } else {
            digits
        };
        return digit_run(digits, radix, true);
    }
    let mantissa = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => {
            let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if !digit_run(exponent, 10, true) {
                return false;
            }
            mantissa
        }
        None => unsigned,
    };
    match mantissa.split_once('.') {
        Some((whole, fraction)) => {
            (whole.is_empty() || digit_run(whole, 10, true))
                && fraction.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        }
        None => digit_run(mantissa, 10, true),
    }
}

fn radix_digits(s: &str) -> Option<(u32, &str)> {
    match s.as_bytes() {
        [b'0', b'b' | b'B', ..] => Some((2, &s[2..])),
        [b'0', b'o' | b'O', ..] => Some((8, &s[2..])),
        [b'0', b'x' | b'X', ..] => Some((16, &s[2..])),
        _ => None,
    }
}

/// Digits of `radix`, with `_` between digits (`strict`) or anywhere.
fn digit_run(s: &str, radix: u32, strict: bool) -> bool {
    let digit = |b: u8| char::from(b).is_digit(radix);
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.iter().enumerate().all(|(i, &b)| {
            digit(b)
                || (b == b'_'
                    && (!strict
                        || (i > 0
                            && digit(bytes[i - 1])
                            && bytes.get(i + 1).is_some_and(|&n| digit(n)))))
        })
}

/// YAML 1.1 base-60 numbers: `1:20`, `-1:20:30.5`.
fn sexagesimal(s: &str) -> bool {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (integer, fraction) = match unsigned.split_once('.') {
        Some((integer, fraction)) => (integer, Some(fraction)),
        None => (unsigned, None),
    };
    let Some((first, rest)) = integer.split_once(':') else {
        return false;
    };
    let Some(first_digit) = first.as_bytes().first() else {
        return false;
    };
    if !first_digit.is_ascii_digit()
        || (fraction.is_none() && *first_digit == b'0')
        || !first.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return false;
    }
    rest.split(':').all(|part| match part.as_bytes() {
        [digit] => digit.is_ascii_digit(),
        [tens, units] => matches!(tens, b'0'..=b'5') && units.is_ascii_digit(),
        _ => false,
    }) && fraction.is_none_or(|f| f.bytes().all(|b| b.is_ascii_digit() || b == b'_'))
}

/// YAML 1.1 timestamps: `2001-12-14`, `2001-12-14t21:59:43.10-05:00`.
fn timestamp(mut s: &str) -> bool {
    fn digits(s: &mut &str, min: usize, max: usize) -> bool {
        let len = s.bytes().take_while(u8::is_ascii_digit).count();
        if !(min..=max).contains(&len) {
            return false;
        }
        *s = &s[len..];
        true
    }
    fn prefix(s: &mut &str, ch: char) -> bool {
        match s.strip_prefix(ch) {
            Some(rest) => {
                *s = rest;
                true
            }
            None => false,
        }
    }
    if !digits(&mut s, 4, 4)
        || !prefix(&mut s, '-')
        || !digits(&mut s, 1, 2)
        || !prefix(&mut s, '-')
        || !digits(&mut s, 1, 2)
    {
        return false;
    }
    if s.is_empty() {
        return true;
    }
    if let Some(rest) = s.strip_prefix(['T', 't']) {
        s = rest;
    } else {
        let rest = s.trim_start_matches([' ', '\t']);
        if rest.len() == s.len() {
            return false;
        }
        s = rest;
    }
    if !digits(&mut s, 1, 2)
        || !prefix(&mut s, ':')
        || !digits(&mut s, 1, 2)
        || !prefix(&mut s, ':')
        || !digits(&mut s, 1, 2)
    {
        return false;
    }
    if prefix(&mut s, '.') || prefix(&mut s, ',') {
        digits(&mut s, 0, usize::MAX);
    }
    s = s.trim_start_matches([' ', '\t']);
    if s.is_empty() || s == "Z" {
        return true;
    }
    if !(prefix(&mut s, '+') || prefix(&mut s, '-')) || !digits(&mut s, 1, 2) {
        return false;
    }
    if prefix(&mut s, ':') && !digits(&mut s, 2, 2) {
        return false;
    }
    s.is_empty()
}
