//! YAML as Helm reads it against YAML as purser reads it (tests/yaml_differential.rs).
//!
//! - [`Oracle`]: `.purser/bin/yaml-oracle` (scripts/setup.sh builds it from tests/yaml-oracle),
//!   Helm's own YAML library (go.yaml.in/yaml/v3) printing what each text means as JSON;
//! - [`purser_json`]: the same texts through purser's reader (src/yaml.rs), its tree turned
//!   into JSON with plain scalars resolved as go-yaml v3 resolves them;
//! - [`first_difference`]: where two such values part;
//! - [`capture_post_renderer`]: a post-renderer plugin that keeps what Helm 4 hands it.

use std::fs;
use std::path::{Path, PathBuf};

use purser::yaml::{self, Budget, Node, Value as YamlValue};
use serde_json::{Map, Number, Value};

use super::{Helm, repo_path, run_with_stdin};

/// The oracle binary; fails the test with what to do when it is missing.
pub fn oracle_bin() -> PathBuf {
    let bin = repo_path(".purser/bin/yaml-oracle");
    assert!(
        bin.is_file(),
        "no YAML oracle at {}: run scripts/setup.sh (it go-builds tests/yaml-oracle there; it needs Go)",
        bin.display()
    );
    bin
}

/// What one text means: its documents' values, or why it cannot be read.
pub type Reading = Result<Vec<Value>, String>;

/// Reads many texts in one oracle process (`yaml-oracle -0`).
pub fn oracle_read(texts: &[String]) -> Vec<Reading> {
    let mut input = Vec::with_capacity(texts.iter().map(|t| t.len() + 1).sum());
    for text in texts {
        assert!(
            !text.contains('\0'),
            "a text for the oracle holds a NUL byte"
        );
        input.extend_from_slice(text.as_bytes());
        input.push(0);
    }
    let run = run_with_stdin(&oracle_bin(), &["-0"], &input);
    run.assert_success();
    let readings: Vec<Reading> = run
        .stdout
        .lines()
        .map(|line| {
            let mut v: Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("the oracle printed a line that is not JSON ({e}): {line}")
            });
            if let Some(err) = v.get("err") {
                return Err(err.as_str().unwrap_or_default().to_owned());
            }
            match v.get_mut("ok").map(Value::take) {
                Some(Value::Array(docs)) => Ok(docs),
                _ => panic!("the oracle printed neither ok:[...] nor err: {line}"),
            }
        })
        .collect();
    assert_eq!(
        readings.len(),
        texts.len(),
        "the oracle answered {} texts of {}",
        readings.len(),
        texts.len()
    );
    readings
}

/// `text` through purser's reader, as JSON.
pub fn purser_json(text: &str) -> Reading {
    let docs = yaml::parse_documents(text, 1, Budget::for_text(text)).map_err(|e| e.to_string())?;
    Ok(docs.iter().map(to_json).collect())
}

/// A purser YAML tree as JSON: mappings (the last of repeated keys wins), sequences, and
/// scalars resolved as go-yaml v3 resolves them (quoted and block scalars are strings).
pub fn to_json(node: &Node<'_>) -> Value {
    match &node.value {
        YamlValue::Scalar(text, plain) => {
            if *plain {
                resolve_plain(text)
            } else {
                Value::String(text.to_string())
            }
        }
        YamlValue::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        YamlValue::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                map.insert(key_text(&to_json(k)), to_json(v));
            }
            Value::Object(map)
        }
    }
}

/// A key as the oracle prints it (encoding/json needs string keys).
fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// go-yaml v3's resolve() for an untagged plain scalar (go.yaml.in/yaml/v3 resolve.go):
/// null, bool and the float specials by table, then int (Go's ParseInt base 0, `_` removed),
/// uint, YAML-style float, `0b`/`0o` forms; anything else (timestamps too: the oracle keeps
/// their text) is a string.
pub fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Value::String(".nan".into()),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::String(".inf".into());
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::String("-.inf".into()),
        _ => {}
    }
    let string = || Value::String(text.to_owned());
    match text.as_bytes()[0] {
        b'.' => {
            if text
                .bytes()
                .all(|b| b.is_ascii_digit() || b"eE+-.".contains(&b))
            {
                if let Ok(f) = text.parse::<f64>() {
                    return float(f);
                }
            }
            string()
        }
        b'+' | b'-' | b'0'..=b'9' => {
            let plain: String = text.chars().filter(|&c| c != '_').collect();
            if let Some(v) = go_parse_int(&plain) {
                return v;
            }
            if yaml_style_float(&plain) {
                if let Ok(f) = plain.parse::<f64>() {
                    return float(f);
                }
            }
            string()
        }
        _ => string(),
    }
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or_else(|| Value::String(f.to_string()), Value::Number)
}

/// Go's strconv.ParseInt(s, 0, 64), falling back to ParseUint(s, 0, 64): sign, then `0x`,
/// `0o`, `0b` or a leading `0` (octal) prefix.
fn go_parse_int(s: &str) -> Option<Value> {
    let (negative, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (8, d)
    } else if let Some(d) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (2, d)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u128::from_str_radix(digits, radix).ok()?;
    if negative {
        let v = i128::try_from(magnitude).ok().map(|m| -m)?;
        i64::try_from(v).ok().map(Value::from)
    } else if let Ok(v) = i64::try_from(magnitude) {
        Some(Value::from(v))
    } else if s.starts_with('+') {
        None // ParseUint takes no sign
    } else {
        u64::try_from(magnitude).ok().map(Value::from)
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let from = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - from
    };
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// The path of the first place `a` and `b` differ (`$`, `.key`, `[i]`) and the two values
/// there; numbers are equal when they are the same number (JSON does not say int or float).
pub fn first_difference(a: &Value, b: &Value) -> Option<(String, Value, Value)> {
    fn walk(a: &Value, b: &Value, path: &mut String) -> Option<(String, Value, Value)> {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for (k, va) in x {
                    let len = path.len();
                    path.push('.');
                    path.push_str(k);
                    let found = match y.get(k) {
                        Some(vb) => walk(va, vb, path),
                        None => Some((path.clone(), va.clone(), Value::String("(absent)".into()))),
                    };
                    path.truncate(len);
                    if found.is_some() {
                        return found;
                    }
                }
                y.iter().find(|(k, _)| !x.contains_key(*k)).map(|(k, vb)| {
                    (
                        format!("{path}.{k}"),
                        Value::String("(absent)".into()),
                        vb.clone(),
                    )
                })
            }
            (Value::Array(x), Value::Array(y)) => {
                for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    let found = walk(va, vb, path);
                    path.truncate(len);
                    if found.is_some() {
                        return found;
                    }
                }
                (x.len() != y.len()).then(|| {
                    (
                        format!("{path} (length {} against {})", x.len(), y.len()),
                        a.clone(),
                        b.clone(),
                    )
                })
            }
            (Value::Number(x), Value::Number(y)) => {
                let same = match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                    (Some(p), Some(q), _, _) => p == q,
                    (_, _, Some(p), Some(q)) => p == q,
                    _ => x.as_f64() == y.as_f64(),
                };
                (!same).then(|| (path.clone(), a.clone(), b.clone()))
            }
            _ => (a != b).then(|| (path.clone(), a.clone(), b.clone())),
        }
    }
    walk(a, b, &mut String::from("$"))
}

/// Installs, into `helm`'s homes, a postrenderer/v1 plugin named `capture` that writes what
/// Helm hands it to the returned file and hands it back unchanged.
pub fn capture_post_renderer(helm: &Helm) -> PathBuf {
    let dir = helm.scratch("capture-plugin");
    let file = helm.scratch("captured").join("post-render-input.yaml");
    let quoted = shell_quote(&file);
    fs::write(
        dir.join("plugin.yaml"),
        format!(
            "apiVersion: v1\nname: capture\ntype: postrenderer/v1\nruntime: subprocess\nversion: 0.1.0\nconfig: {{}}\nruntimeConfig:\n  platformCommand:\n    - command: sh\n      args: [\"-c\", {}]\n",
            serde_json::to_string(&format!("tee {quoted}")).unwrap()
        ),
    )
    .expect("write the capture plugin");
    helm.install_plugin_dir(&dir);
    file
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

/// A manifest stream cut into documents at `---` lines (and `--- ` with something after),
/// as Helm splits it; each document keeps its lines and line ends. Documents that hold
/// nothing but blank and comment lines are left out.
pub fn split_documents(stream: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in stream.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare == "---" || bare.starts_with("--- ") {
            docs.push(String::new());
        }
        docs.last_mut().unwrap().push_str(line);
    }
    docs.retain(|d| {
        d.lines().any(|l| {
            let l = l.trim();
            !l.is_empty() && !l.starts_with('#') && l != "---"
        })
    });
    docs
}
