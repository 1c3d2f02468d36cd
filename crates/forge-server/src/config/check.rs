//! `forge-server config check`: the effective configuration, secrets redacted, each value
//! with the layer it came from.

use std::fmt::Write;
use std::path::PathBuf;

use super::env::{variable_of, ALIASES};
use super::Loaded;

/// Which layer set a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Default,
    File(PathBuf),
    Environment(String),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Default => f.write_str("default"),
            KeySource::File(p) => write!(f, "file {}", p.display()),
            KeySource::Environment(var) => write!(f, "environment {var}"),
        }
    }
}

/// TOML of the effective configuration; each line ends in a comment naming the key's
/// variable and where its value came from. Secrets print as `[redacted]`.
pub fn render_check(loaded: &Loaded) -> String {
    let value = serde_json::to_value(&loaded.config).unwrap_or_default();
    let mut out = String::new();
    let mut section = "";
    for (key, source) in &loaded.sources {
        let (this_section, name) = key.split_once('.').unwrap_or(("", key));
        if this_section != section {
            if !out.is_empty() {
                out.push('\n');
            }
            let _ = writeln!(out, "[{this_section}]");
            section = this_section;
        }
        let pointer = format!("/{}", key.replace('.', "/"));
        let shown = value.pointer(&pointer).map(toml_value).unwrap_or_default();
        let mut variables = vec![variable_of(key)];
        variables.extend(
            ALIASES
                .iter()
                .filter(|(_, k)| k == key)
                .map(|(var, _)| (*var).to_owned()),
        );
        let _ = writeln!(
            out,
            "{name} = {shown}  # {source}; {}",
            variables.join(" or ")
        );
    }
    out
}

/// A JSON scalar or array written as TOML (the forms coincide for what settings hold).
fn toml_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "\"\"".to_owned(),
        other => other.to_string(),
    }
}
