//! Tests of the whole grammar through [`Reference::parse`]: invalid references fail at the
//! right character with the right reason, the name length limit, the wording of errors, and no
//! panic on truncated or random input.

use super::super::test_vectors::{H64, err, ok, valid_vectors};
use super::*;

/// input, byte position, a piece of the reason
fn invalid_vectors() -> Vec<(String, usize, &'static str)> {
    let s = |x: &str| x.to_owned();
    let h63 = &H64[..63];
    vec![
        (s(""), 0, "empty reference"),
        (s(" nginx"), 0, "starts with whitespace"),
        (s("nginx "), 5, "ends with whitespace"),
        (s("nginx\n"), 5, "ends with whitespace"),
        (s("\tnginx"), 0, "starts with whitespace"),
        (s("Nginx"), 0, "must be lowercase"),
        (s("nginx/Web"), 6, "must be lowercase"),
        (s("ghcr.io/Org/App:V1"), 8, "must be lowercase"),
        (s("My_Org/app"), 0, "must be lowercase"),
        (s("LOCALHOST/Foo"), 10, "must be lowercase"),
        (s("nginx:"), 5, "empty tag"),
        (s("nginx:@sha256:x"), 5, "empty tag"),
        (s("nginx@sha256:abc"), 13, "64 hex digits, this one has 3"),
        (format!("nginx@sha256:{h63}"), 13, "this one has 63"),
        (format!("nginx@sha256:{H64}0"), 13 + 64, "this one has 65"),
        (
            format!("nginx@sha256:{}", H64.to_uppercase()),
            13 + 10,
            "lowercase hex",
        ),
        (format!("nginx@sha256:{h63}g"), 13 + 63, "must be hex"),
        (format!("nginx@sha512:{H64}"), 13, "128 hex digits"),
        (s("nginx@sha256"), 6, "no ':'"),
        (s("nginx@"), 5, "empty digest"),
        (s("nginx@sha256:"), 12, "empty digest value"),
        (s("nginx@:abc"), 6, "missing digest algorithm"),
        (s("nginx@SHA256:abc"), 6, "algorithm must be lowercase"),
        (s("nginx@sha..x:abc"), 10, "cannot follow"),
        (s("nginx@sha-:abc"), 9, "cannot end with '-'"),
        (s("nginx@-sha:abc"), 6, "must start with"),
        (
            format!("nginx@sha256:{H64}@sha256:{H64}"),
            13 + 64,
            "invalid character '@' in the digest",
        ),
        (
            format!("nginx@sha256:{H64}:1"),
            13 + 64,
            "invalid character ':' in the digest",
        ),
        (
            format!("nginx@sha256:{H64} "),
            13 + 64,
            "ends with whitespace",
        ),
        (
            s("nginx@foo:a/b"),
            5,
            "invalid character '@' in the registry host",
        ),
        (
            s("nginx:tag with space"),
            9,
            "whitespace is not allowed in the tag",
        ),
        (s("nginx:1:2"), 7, "invalid character ':' in the tag"),
        (s("nginx:.1"), 6, "must start with a letter"),
        (s("nginx:-1"), 6, "must start with a letter"),
        (s("nginx:a+b"), 7, "invalid character '+' in the tag"),
        (
            format!("nginx:{}", "t".repeat(129)),
            6 + 128,
            "tag is 129 characters",
        ),
        (s("https://nginx"), 0, "URL scheme"),
        (s("oci://ghcr.io/x/y"), 0, "URL scheme"),
        (s("http://localhost:5000/foo"), 0, "URL scheme"),
        (s("a//b"), 2, "empty path component"),
        (s("ghcr.io//b"), 8, "empty path component"),
        (s("foo/"), 3, "cannot end with '/'"),
        (s("foo/:tag"), 3, "cannot end with '/'"),
        (s("/foo"), 0, "cannot start with '/'"),
        (s("docker.io/"), 9, "missing repository path"),
        (s("docker.io/:1"), 9, "missing repository path"),
        (s(":tag"), 0, "missing repository name before ':'"),
        (
            format!("@sha256:{H64}"),
            0,
            "missing repository name before '@'",
        ),
        (s("[::1"), 0, "unclosed '['"),
        (s("[::1/foo"), 0, "unclosed '['"),
        (s("[::1]:5000"), 0, "followed by '/'"),
        (s("[]:5000/x"), 0, "empty IPv6"),
        (s("[::g]:1/x"), 3, "IPv6 address"),
        (
            s("[::1]x:1/y"),
            5,
            "invalid character 'x' in the registry host",
        ),
        (s("[::1]:/y"), 5, "empty port"),
        (
            s("host:port/x"),
            5,
            "invalid character 'p' in the registry port",
        ),
        (s("localhost:/x"), 9, "empty port"),
        (s("localhost:50a0/x"), 12, "registry port"),
        (s("a:1:2/x"), 3, "registry port"),
        (s("foo..com/bar"), 4, "empty label"),
        (s("-foo.com/bar"), 0, "cannot start with '-'"),
        (s("foo-.com/bar"), 3, "cannot end with '-'"),
        (s("foo.com./bar"), 7, "cannot end with '.'"),
        (s("foo.com.:5/bar"), 7, "cannot end with '.'"),
        (s(".foo/bar"), 0, "cannot start with '.'"),
        (s(":5000/bar"), 0, "registry host is empty"),
        // A '.' in the first of several components makes it a registry, as in Docker.
        (
            s("a_b.c/d"),
            1,
            "invalid character '_' in the registry host",
        ),
        (
            s("foo_bar.com/x"),
            3,
            "invalid character '_' in the registry host",
        ),
        (s("a..b"), 2, "'.' cannot follow '.'"),
        (s("a___b"), 3, "'_' cannot follow '__'"),
        (s("a.-b"), 2, "'-' cannot follow '.'"),
        (s("a-_b"), 2, "'_' cannot follow '-'"),
        (s("-a"), 0, "must start with a lowercase letter or digit"),
        (s("x/_a"), 2, "must start with a lowercase letter or digit"),
        (s("a-"), 1, "cannot end with '-'"),
        (s("a--/b"), 1, "cannot end with '--'"),
        (s("a./b"), 1, "cannot end with '.'"),
        (s("a_:1"), 1, "cannot end with '_'"),
        (s("a!b"), 1, "invalid character '!' in the repository path"),
        (s("ñginx"), 0, "non-ASCII character 'ñ'"),
        (
            s("nginx:é"),
            6,
            "non-ASCII character 'é' (U+00E9) in the tag",
        ),
        (s("ghcr.io/é"), 8, "non-ASCII"),
        (s("ngi\u{0}nx"), 3, "control character U+0000"),
        (s("nginx\u{a0}"), 5, "non-ASCII"),
        (s(H64), 0, "image ID"),
    ]
}

#[test]
fn invalid_vectors_fail_precisely() {
    for (input, position, reason) in invalid_vectors() {
        let e = err(&input);
        assert_eq!(e.input(), input);
        assert!(
            e.reason().contains(reason),
            "{input:?}: reason {:?} should contain {reason:?}",
            e.reason()
        );
        assert_eq!(e.position(), position, "{input:?}: {e}");
        assert!(e.position() <= input.len());
        assert!(e.to_string().contains(e.reason()));
    }
}

#[test]
fn name_length_limit() {
    // Explicit registry: 12 + 243 = 255 is fine, 256 is not.
    let at_limit = format!("example.com/{}", "a".repeat(243));
    assert_eq!(ok(&at_limit).name().len(), 255);
    let over = format!("example.com/{}", "a".repeat(244));
    let e = err(&over);
    assert!(e.reason().contains("256 characters"), "{e}");
    assert_eq!(e.position(), over.len() - 1);
    // Docker Hub: the normalised "docker.io/library/" (18) counts.
    assert_eq!(ok(&"a".repeat(237)).name().len(), 255);
    let e = err(&"a".repeat(238));
    assert!(
        e.reason()
            .contains("256 characters long once written as \"docker.io/library/"),
        "{e}"
    );
    assert_eq!(e.position(), 237);
    let e = err(&"a".repeat(256));
    assert!(e.reason().contains("274 characters"), "{e}");
    // A tag does not count towards the name.
    ok(&format!(
        "example.com/{}:{}",
        "a".repeat(243),
        "t".repeat(128)
    ));
    // index.docker.io counts as docker.io.
    ok(&format!("index.docker.io/a/{}", "b".repeat(243)));
    err(&format!("docker.io/a/{}", "b".repeat(244)));
}

#[test]
fn error_messages_read_well() {
    assert_eq!(
        err("Nginx/Web:1.2").to_string(),
        "\"Nginx/Web:1.2\" is not an image reference: repository path must be lowercase (character 1); \
         write it as \"nginx/web:1.2\""
    );
    assert_eq!(
        err("ghcr.io/Org/App:V1").to_string(),
        "\"ghcr.io/Org/App:V1\" is not an image reference: repository path must be lowercase (character 9); \
         write it as \"ghcr.io/org/app:V1\""
    );
    assert_eq!(
        err("https://ghcr.io/x/y:1").to_string(),
        "\"https://ghcr.io/x/y:1\" is not an image reference: \"https://\" is a URL scheme, not part of an image \
         reference (character 1); drop the scheme and write it as \"ghcr.io/x/y:1\""
    );
    assert_eq!(err("https://a b").hint(), Some("drop the scheme"));
    assert_eq!(
        err(" nginx").to_string(),
        "\" nginx\" is not an image reference: starts with whitespace (character 1); trim the input first"
    );
    assert_eq!(
        err("nginx:tag with space").to_string(),
        "\"nginx:tag with space\" is not an image reference: whitespace is not allowed in the tag (character 10)"
    );
    assert_eq!(
        err("nginx@sha256:abc").to_string(),
        "\"nginx@sha256:abc\" is not an image reference: a sha256 digest has 64 hex digits, this one has 3 \
         (character 14)"
    );
    assert_eq!(
        err("host:port/x").to_string(),
        "\"host:port/x\" is not an image reference: invalid character 'p' in the registry port (digits only) \
         (character 6)"
    );
    // Character positions count characters, not bytes.
    assert!(err("ñé:x y").to_string().contains("(character 1)"));
    let e = err("ab:é");
    assert_eq!(e.position(), 3);
    assert!(e.to_string().contains("(character 4)"), "{e}");
    let e = err("a:éé");
    assert_eq!(e.position(), 2);
    // Control characters are escaped in the message.
    assert!(err("a\u{1}b").to_string().starts_with("\"a\\u{1}b\""));
    // Uppercase that is not the only problem: the other problem is reported.
    let e = err("Nginx:a b");
    assert!(e.reason().contains("whitespace"), "{e}");
    assert_eq!(e.input(), "Nginx:a b");
    let e = err("Nginx");
    assert_eq!(e.hint(), Some("write it as \"nginx\""));
    let e = err("a/B@sha256:abc");
    assert!(e.reason().contains("64 hex digits"), "{e}");
}
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Parse must never panic; when it succeeds the result must be self-consistent, and when it
/// fails the error must point inside (or just past) the input.
fn check_any(input: &str) {
    match Reference::parse(input) {
        Ok(r) => {
            let c = r.canonical();
            let again = Reference::parse(&c)
                .unwrap_or_else(|e| panic!("canonical of {input:?} = {c:?}: {e}"));
            assert_eq!(again.canonical(), c, "{input:?}");
            let f = r.familiar();
            let fam = Reference::parse(&f)
                .unwrap_or_else(|e| panic!("familiar of {input:?} = {f:?}: {e}"));
            assert_eq!(fam.canonical(), c, "{input:?}");
            assert!(r.name().len() <= NAME_MAX);
        }
        Err(e) => {
            assert!(e.position() <= input.len(), "{input:?}: {e:?}");
            assert!(!e.reason().is_empty());
            let _ = e.to_string();
        }
    }
}

#[test]
fn no_panic_on_truncations() {
    let mut inputs: Vec<String> = valid_vectors().into_iter().map(|v| v.0).collect();
    inputs.extend(invalid_vectors().into_iter().map(|v| v.0));
    for input in &inputs {
        for (i, _) in input
            .char_indices()
            .chain(std::iter::once((input.len(), ' ')))
        {
            check_any(&input[..i]);
            check_any(&input[i..]);
        }
    }
}

#[test]
fn no_panic_on_random_input() {
    const ALPHABET: &[&str] = &[
        "a",
        "b",
        "z",
        "0",
        "9",
        "A",
        "Z",
        ".",
        "..",
        "_",
        "__",
        "-",
        "--",
        ":",
        "/",
        "//",
        "@",
        "[",
        "]",
        "::",
        "sha256:",
        "sha512:",
        "docker.io",
        "index.docker.io",
        "localhost",
        "library",
        "https://",
        " ",
        "\t",
        "é",
        "\u{0}",
        "\u{7f}",
        "=",
        "+",
        "%",
        "5000",
        H64,
    ];
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let seeds: Vec<String> = valid_vectors().into_iter().map(|v| v.0).collect();
    for round in 0..20_000 {
        let input = match round % 3 {
            // Tokens from a hostile alphabet.
            0 => {
                let n = rng.below(12);
                (0..n)
                    .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                    .collect::<String>()
            }
            // Arbitrary bytes, made into text.
            1 => {
                let n = rng.below(40);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            }
            // A valid reference with one token spliced in.
            _ => {
                let seed = &seeds[rng.below(seeds.len())];
                let at = rng.below(seed.len() + 1);
                let cut = (at + rng.below(3)).min(seed.len());
                format!(
                    "{}{}{}",
                    &seed[..at],
                    ALPHABET[rng.below(ALPHABET.len())],
                    &seed[cut..]
                )
            }
        };
        check_any(&input);
    }
    // Long inputs must not recurse or misbehave.
    check_any(&"https://".repeat(10_000));
    check_any(&"a/".repeat(100_000));
    check_any(&"A".repeat(100_000));
    check_any(&format!("{}:{}", "a".repeat(100), "t".repeat(100_000)));
}
