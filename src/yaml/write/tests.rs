//! Tests of [`to_string`](super::to_string): every quoting, block and layout rule, written
//! byte for byte as serde-saphyr writes it.

use super::to_string;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    name: String,
    count: u32,
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    missing: Option<String>,
    none: Option<String>,
    empty_list: Vec<String>,
    empty_map: BTreeMap<String, String>,
    strings: Vec<String>,
    items: Vec<Item>,
    nested: Item,
    #[serde(flatten)]
    extra: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Item {
    text: String,
    list: Vec<String>,
    inner: Vec<Item>,
}

/// Strings that probe every quoting and block rule.
fn samples() -> Vec<String> {
    let mut s: Vec<String> = [
        "",
        " ",
        "plain",
        "docker.io/library/nginx:1.25",
        "a: b",
        "a:b",
        "ends:",
        "#x",
        "a #b",
        "a#b",
        "- x",
        "-x",
        "-",
        ".",
        "#",
        "?",
        "? x",
        "~",
        "null",
        "Null",
        "true",
        "False",
        "yes",
        "No",
        "on",
        "OFF",
        "y",
        "n",
        "1",
        "-1",
        "+1",
        "1.5",
        "1e3",
        ".5",
        "0x1F",
        "0o17",
        "0b101",
        "1_000",
        "1:20",
        "0:20",
        "12:30:45.5",
        ".inf",
        "-.INF",
        ".nan",
        "nan",
        "inf",
        "2001-12-14",
        "2001-12-14t21:59:43.10-05:00",
        "2023-11-08T09:39:01Z",
        "2023-11-08 09:39",
        "<<",
        "=",
        "---",
        "--- x",
        "...",
        "---x",
        "[a]",
        "{a}",
        "a,b",
        "a[0]",
        "*x",
        "&x",
        "!x",
        "|x",
        ">x",
        "'x'",
        "\"x\"",
        "%x",
        "@x",
        "`x",
        "a\tb",
        "tab\t",
        "quote\"d",
        "back\\slash",
        "nul\0",
        "bell\u{7}",
        "esc\u{1b}",
        "del\u{7f}",
        "nel\u{85}",
        "ls\u{2028}",
        "bom\u{feff}",
        "é",
        "日本",
        "a\nb",
        "a\nb\n",
        "a\nb\n\n",
        "\n",
        "\n\n",
        "  lead\nx",
        "\n  lead",
        "x\n\ny",
        "cr\r\nlf",
        "trailing \nx",
        "1.10",
        "v1.2.3",
        "sha256:abc",
        "a: b\nc",
        "x ",
    ]
    .map(str::to_owned)
    .to_vec();
    let long = "docker.io/bitnami/wordpress@sha256:0123456789012345678901234567890123456789012345678901234567890123";
    s.push(long.to_owned());
    s.push(format!(
        "{long} with words after it that go on and on past the wrap column"
    ));
    s.push("word ".repeat(40));
    s.push(format!("{} \tx", "a".repeat(79)));
    s.push(format!("{}  {}", "a".repeat(70), "b".repeat(70)));
    s.push("ü".repeat(81));
    s.push(format!("{long}\n{long} {long}"));
    s
}

#[test]
fn writes_what_serde_saphyr_writes() {
    let samples = samples();
    let mut wrong = Vec::new();
    let mut check = |text: &str, ours: String, theirs: String| {
        if ours != theirs {
            wrong.push(format!(
                "{text:?}:\n--- ours\n{ours}--- serde-saphyr\n{theirs}"
            ));
        }
    };
    let item = |text: &str, depth: usize| -> Item {
        let mut item = Item {
            text: text.to_owned(),
            list: vec![text.to_owned(), "x".to_owned()],
            inner: Vec::new(),
        };
        if depth > 0 {
            item.inner.push(Item {
                text: text.to_owned(),
                list: vec![text.to_owned()],
                inner: Vec::new(),
            });
        }
        item
    };
    for text in &samples {
        let doc = Doc {
            name: text.clone(),
            count: 3,
            enabled: false,
            missing: None,
            none: None,
            empty_list: Vec::new(),
            empty_map: BTreeMap::new(),
            strings: vec![text.clone(), "b".to_owned()],
            items: vec![item(text, 1), item("second", 0)],
            nested: item(text, 1),
            extra: [("flat".to_owned(), text.clone())].into(),
        };
        check(
            text,
            to_string(&doc).unwrap(),
            serde_saphyr::to_string(&doc).unwrap(),
        );
        let list = vec![text.clone()];
        check(
            text,
            to_string(&list).unwrap(),
            serde_saphyr::to_string(&list).unwrap(),
        );
        check(
            text,
            to_string(text).unwrap(),
            serde_saphyr::to_string(text).unwrap(),
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let empty: Vec<String> = Vec::new();
    assert_eq!(
        to_string(&empty).unwrap(),
        serde_saphyr::to_string(&empty).unwrap()
    );
}
