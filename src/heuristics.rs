//! What looks like an image reference where no schema says so: image-named keys and flags,
//! settings in free text, image-shaped maps. Shared by the manifest walker and the values walk.

use crate::reference::Reference;
use crate::yaml::{Node, Value};
use memchr::memmem;

/// `image`, `baseImage`, `config_reloader_image`, `FOO_IMAGE`, `sidecar-image`: a key whose
/// last word is "image".
pub fn is_image_key(key: &str) -> bool {
    let k = key.trim_start_matches('-');
    let Some(head_len) = k.len().checked_sub(5) else {
        return false;
    };
    let (head, tail) = k.split_at_checked(head_len).unwrap_or(("", ""));
    if !tail.eq_ignore_ascii_case("image") {
        return false;
    }
    match head.as_bytes().last() {
        None => true,
        Some(b'_' | b'-' | b'.') => true,
        Some(c) => tail.starts_with('I') && (c.is_ascii_lowercase() || c.is_ascii_digit()),
    }
}

/// Flags that hand an image to a program: `--x-image`, `--image`, and the Prometheus
/// operator's `--prometheus-config-reloader`.
pub fn image_flag(flag: &str) -> bool {
    let name = flag.trim_start_matches('-');
    is_image_key(name)
        || matches!(
            name,
            "prometheus-config-reloader" | "config-reloader-image" | "thanos-default-base-image"
        )
}

/// A reference found by a heuristic: it must parse and carry a tag, a digest or a path, so
/// that words like `default` or `Always` are not taken for images.
pub fn likely_reference(text: &str) -> Option<Reference> {
    let text = text.trim();
    if text.is_empty() || text.contains("{{") || !text.contains(['/', ':', '@']) {
        return None;
    }
    Reference::parse(text).ok()
}

/// A reference complete enough to be taken for an image wherever it is written, whatever
/// the key above it is called: it names a registry host (`quay.io/...`, `registry:5000/...`,
/// `localhost/...`) and a tag or a digest. `nginx:1.27`, `team/app` and bare words do not.
pub fn complete_reference(text: &str) -> Option<Reference> {
    let text = text.trim();
    if text.is_empty() || text.contains("{{") || text.contains(char::is_whitespace) {
        return None;
    }
    let reference = Reference::parse(text).ok()?;
    (reference.has_explicit_registry()
        && (reference.tag().is_some() || reference.digest().is_some()))
    .then_some(reference)
}

/// Lines of a multi-line text that each hand over one complete reference: an operator's
/// table of supported versions (`3.7.0=quay.io/strimzi/kafka:0.41.0-kafka-3.7.0`), or a list
/// of references one a line. Yields (byte offset, reference text).
pub fn references_in_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let base = text.as_ptr() as usize;
    text.lines().filter_map(move |line| {
        let value = match line.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() && !key.trim().contains(' ') => value,
            Some(_) => return None,
            None => line,
        };
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
        complete_reference(value)?;
        Some((value.as_ptr() as usize - base, value))
    })
}

/// Settings in free text (embedded YAML, JSON, TOML, env files, command lines) that hand over
/// an image: a key whose last word is "image" (or an image flag), then `:` or `=`, then the
/// value, quoted or not. Yields (byte offset, value).
pub fn references_in_text(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = text.as_bytes();
    let key_char = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.');
    let value_char = |c: u8| {
        c.is_ascii_alphanumeric()
            || matches!(c, b'.' | b'_' | b'-' | b':' | b'/' | b'@' | b'[' | b']')
    };
    memmem::find_iter(bytes, b"mage")
        .chain(memmem::find_iter(bytes, b"MAGE"))
        .filter_map(move |at| {
            // The key must end at this "image": find its start and end.
            let end = at + 4;
            if at == 0
                || !matches!(bytes[at - 1], b'i' | b'I')
                || bytes.get(end).is_some_and(|&c| key_char(c))
            {
                return None;
            }
            let mut start = at - 1;
            while start > 0 && key_char(bytes[start - 1]) {
                start -= 1;
            }
            let key = &text[start..end];
            if !(is_image_key(key) || image_flag(key)) {
                return None;
            }
            let mut i = end;
            let skip = |i: &mut usize, set: &[u8]| {
                while bytes.get(*i).is_some_and(|c| set.contains(c)) {
                    *i += 1;
                }
            };
            skip(&mut i, b"\"' \t");
            if !matches!(bytes.get(i), Some(b':' | b'=')) {
                return None;
            }
            i += 1;
            skip(&mut i, b"\"' \t");
            let value_start = i;
            while bytes.get(i).is_some_and(|&c| value_char(c)) {
                i += 1;
            }
            (i > value_start).then(|| (value_start, &text[value_start..i]))
        })
}

/// `{registry, repository, tag, digest}`, `{repository, tag}`, `{registry, image, tag}`,
/// `{name, tag}` -> `registry/repository:tag@digest`.
pub fn compose_image_map(node: &Node<'_>) -> Option<String> {
    image_map_parts(node).map(|parts| parts.compose())
}

/// The scalars an image-shaped map is composed of, each with its text.
pub struct ImageMapParts<'n, 'a> {
    pub registry: Option<(&'n Node<'a>, String)>,
    pub repository: (&'n Node<'a>, String),
    pub tag: Option<(&'n Node<'a>, String)>,
    pub digest: Option<(&'n Node<'a>, String)>,
}

pub fn image_map_parts<'n, 'a>(node: &'n Node<'a>) -> Option<ImageMapParts<'n, 'a>> {
    let part = |k: &str| {
        let n = node.get(k)?;
        let text = n
            .as_text()
            .map(str::to_owned)
            .or_else(|| scalar_number(n))?;
        Some((n, text))
    };
    let repository = part("repository")
        .or_else(|| part("image"))
        .or_else(|| part("name"))?;
    if repository.1.contains("{{") {
        return None;
    }
    Some(ImageMapParts {
        registry: part("registry"),
        repository,
        tag: part("tag"),
        digest: part("digest")
            .or_else(|| part("sha"))
            .filter(|(_, d)| d.contains(':')),
    })
}

impl ImageMapParts<'_, '_> {
    pub fn compose(&self) -> String {
        let mut s = String::new();
        if let Some((_, registry)) = &self.registry {
            s.push_str(registry.trim_end_matches('/'));
            s.push('/');
        }
        s.push_str(&self.repository.1);
        if let Some((_, tag)) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some((_, digest)) = &self.digest {
            s.push('@');
            s.push_str(digest);
        }
        s
    }
}

fn scalar_number(node: &Node<'_>) -> Option<String> {
    match &node.value {
        Value::Scalar(s, _) if !s.is_empty() => Some(s.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_keys() {
        for yes in [
            "image",
            "Image",
            "baseImage",
            "config_reloader_image",
            "FOO_IMAGE",
            "--sidecar-image",
            "helper.image",
            "v2Image",
        ] {
            assert!(is_image_key(yes), "{yes}");
        }
        for no in [
            "images",
            "imagePullPolicy",
            "myimage",
            "IMAGE_TAG",
            "damage",
            "Imag",
            "",
        ] {
            assert!(!is_image_key(no), "{no}");
        }
    }

    #[test]
    fn complete_references_name_a_registry_and_a_version() {
        for yes in [
            "registry.example.io/storage/csi-sidecar:v1.4.0",
            "localhost:5000/a:1",
            "quay.io/strimzi/kafka@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(complete_reference(yes).is_some(), "{yes}");
        }
        for no in [
            "nginx:1.27",
            "team/app:1",
            "quay.io/strimzi/kafka",
            "Always",
            "http://example.io/a:1",
            "quay.io/a:{{ .Values.tag }}",
            "quay.io/a:1 quay.io/b:2",
            "prometheus.io/scrape",
        ] {
            assert!(complete_reference(no).is_none(), "{no}");
        }
    }

    #[test]
    fn version_tables_give_one_reference_a_line() {
        let text = "3.7.0=quay.io/strimzi/kafka:0.41.0-kafka-3.7.0\n3.8.0=quay.io/strimzi/kafka:0.41.0-kafka-3.8.0\nnot a table=quay.io/x:1\nplain\n  registry.example.io/a/b:2  \n";
        let got: Vec<(usize, &str)> = references_in_lines(text).collect();
        assert_eq!(
            got,
            [
                (6, "quay.io/strimzi/kafka:0.41.0-kafka-3.7.0"),
                (53, "quay.io/strimzi/kafka:0.41.0-kafka-3.8.0"),
                (126, "registry.example.io/a/b:2"),
            ]
        );
        for (at, r) in got {
            assert_eq!(&text[at..at + r.len()], r);
        }
    }

    #[test]
    fn likely_needs_a_tag_digest_or_path() {
        assert!(likely_reference("default").is_none());
        assert!(likely_reference("Always").is_none());
        assert!(likely_reference("{{ .Values.image }}").is_none());
        assert!(likely_reference("nginx:1.27").is_some());
    }
}
