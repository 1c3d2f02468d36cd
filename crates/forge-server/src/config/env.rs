//! `FORGE_*` environment variables as a figment provider. Each key's variable is derived
//! from its place in [`super::Config`], so a new field needs no entry here.

use std::collections::BTreeMap;

use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};

/// Names in use before the configuration file existed that do not follow the rule; they
/// keep working beside the derived names (the derived name wins when both are set).
pub const ALIASES: &[(&str, &str)] = &[
    ("FORGE_DB_POOL_SIZE", "database.pool_size"),
    (
        "FORGE_DOWNLOAD_COUNT_FLUSH_MS",
        "database.download_count_flush_ms",
    ),
    ("FORGE_READ_CACHE_TTL_MS", "cache.read_ttl_ms"),
    ("FORGE_BLOB_GRACE_PERIOD", "cleanup.blob_grace_period"),
];

/// Variables that are read elsewhere and are not configuration keys.
const NOT_KEYS: &[&str] = &["FORGE_CONFIG"];

/// The prefix of a section's variables: `[server]` and `[auth]` keys are plain `FORGE_KEY`
/// (`FORGE_LISTEN`, `FORGE_REQUIRE_SIGNIN_VIEW`), `[limits]` keys `FORGE_LIMIT_KEY`
/// (Forgejo's `LIMIT_SIZE_*` names), any other section `FORGE_SECTION_KEY`.
pub fn section_prefix(section: &str) -> String {
    match section {
        "server" | "auth" => "FORGE_".to_owned(),
        "limits" => "FORGE_LIMIT_".to_owned(),
        other => format!("FORGE_{}_", other.to_ascii_uppercase()),
    }
}

/// The derived variable of a dotted key path (`storage.s3.bucket` → `FORGE_STORAGE_S3_BUCKET`).
pub fn variable_of(path: &str) -> String {
    let (section, rest) = path.split_once('.').unwrap_or(("", path));
    format!(
        "{}{}",
        section_prefix(section),
        rest.replace('.', "_").to_ascii_uppercase()
    )
}

/// Every variable name (derived and alias) of every key, mapped to its key path.
pub fn variables(keys: &[String]) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for (alias, key) in ALIASES {
        names.insert((*alias).to_owned(), (*key).to_owned());
    }
    for key in keys {
        names.insert(variable_of(key), key.clone());
    }
    names
}

/// The `FORGE_*` variables that are set, as configuration values.
pub struct EnvVars {
    /// Key path → (variable, value).
    values: BTreeMap<String, (String, String)>,
    /// `FORGE_*` variables that name no key (likely typing mistakes).
    pub unknown: Vec<String>,
}

impl EnvVars {
    /// Picks the known variables out of `vars`; empty values count as unset, as before the
    /// configuration file existed.
    pub fn collect(keys: &[String], vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let names = variables(keys);
        let mut values: BTreeMap<String, (String, String)> = BTreeMap::new();
        let mut unknown = Vec::new();
        for (var, value) in vars {
            if !var.starts_with("FORGE_") || value.trim().is_empty() {
                continue;
            }
            match names.get(&var) {
                Some(key) => {
                    let derived = variable_of(key) == var;
                    // The derived name wins over an alias, whatever the order of the environment.
                    let keep_old = values
                        .get(key)
                        .is_some_and(|(old, _)| variable_of(key) == *old);
                    if derived || !keep_old {
                        values.insert(key.clone(), (var, value));
                    }
                }
                None if NOT_KEYS.contains(&var.as_str()) || var.starts_with("FORGE_TEST_") => {}
                None => unknown.push(var),
            }
        }
        EnvVars { values, unknown }
    }

    /// The variable that set `key`, if one did.
    pub fn variable_for(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(|(var, _)| var.as_str())
    }
}

impl Provider for EnvVars {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (key, (_, raw)) in &self.values {
            // Strings that read as numbers or booleans become those, like figment's `Env`.
            let value: Value = match raw.parse() {
                Ok(v) => v,
                Err(never) => match never {},
            };
            insert_path(&mut dict, key, value);
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// Inserts `value` at the dotted `path`, creating the dictionaries on the way.
fn insert_path(dict: &mut Dict, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            dict.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if entry.as_dict().is_none() {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<String> {
        [
            "server.listen",
            "database.pool_size",
            "limits.size_generic",
            "storage.s3.bucket",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn derived_names() {
        assert_eq!(variable_of("server.listen"), "FORGE_LISTEN");
        assert_eq!(
            variable_of("auth.require_signin_view"),
            "FORGE_REQUIRE_SIGNIN_VIEW"
        );
        assert_eq!(
            variable_of("limits.size_generic"),
            "FORGE_LIMIT_SIZE_GENERIC"
        );
        assert_eq!(variable_of("database.url"), "FORGE_DATABASE_URL");
        assert_eq!(variable_of("storage.s3.bucket"), "FORGE_STORAGE_S3_BUCKET");
        assert_eq!(variable_of("tls.cert"), "FORGE_TLS_CERT");
    }

    #[test]
    fn derived_name_beats_alias_in_any_order() {
        let pairs = [
            ("FORGE_DB_POOL_SIZE".to_owned(), "3".to_owned()),
            ("FORGE_DATABASE_POOL_SIZE".to_owned(), "5".to_owned()),
        ];
        for vars in [pairs.to_vec(), pairs.iter().rev().cloned().collect()] {
            let env = EnvVars::collect(&keys(), vars);
            assert_eq!(
                env.variable_for("database.pool_size"),
                Some("FORGE_DATABASE_POOL_SIZE")
            );
        }
        let env = EnvVars::collect(&keys(), [pairs[0].clone()]);
        assert_eq!(
            env.variable_for("database.pool_size"),
            Some("FORGE_DB_POOL_SIZE")
        );
    }

    #[test]
    fn empty_and_foreign_variables_are_skipped_and_typos_reported() {
        let env = EnvVars::collect(
            &keys(),
            [
                ("FORGE_LISTEN".to_owned(), " ".to_owned()),
                ("HOME".to_owned(), "/root".to_owned()),
                ("FORGE_LISTN".to_owned(), "x".to_owned()),
                ("FORGE_CONFIG".to_owned(), "/etc/forge.toml".to_owned()),
                ("FORGE_TEST_DATABASE_URL".to_owned(), "x".to_owned()),
            ],
        );
        assert_eq!(env.variable_for("server.listen"), None);
        assert_eq!(env.unknown, vec!["FORGE_LISTN".to_owned()]);
    }
}
