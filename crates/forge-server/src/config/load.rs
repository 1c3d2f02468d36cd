//! Reading the layers: defaults, the TOML file, the environment.
//!
//! figment rather than the `config` crate or hand parsing: it records for every value which
//! layer supplied it (what `config check` prints), its errors carry the key path and the
//! layer, and extraction is plain serde, so a section is an ordinary struct with
//! `deny_unknown_fields`.

use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::{Figment, Source};

use super::env::EnvVars;
use super::{Config, KeySource};

/// The configuration could not be used; the message names the key and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    /// Several keys at once, one per line.
    #[error("{0}")]
    Keys(String),
}

/// The effective configuration and where each of its values came from.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// Every key path (`server.listen`) in order, with the layer that set it.
    pub sources: Vec<(String, KeySource)>,
    /// `FORGE_*` variables that are set but name no key.
    pub unknown_variables: Vec<String>,
}

/// Loads defaults, then `file` (when given), then the process environment.
pub fn load(file: Option<&Path>) -> Result<Loaded, ConfigError> {
    load_from(file, std::env::vars())
}

/// [`load`] with the environment given, for tests.
pub fn load_from(
    file: Option<&Path>,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, ConfigError> {
    let keys = key_paths(&Config::default());
    let env = EnvVars::collect(&keys, vars);
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = file {
        // figment treats a missing file as empty; a named file that is not there is a mistake.
        std::fs::metadata(path).map_err(|e| ConfigError::File {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment.merge(&env);
    // Lossy: "yes"/"on"/"1" are booleans and "30" is a number, as the variables always were.
    let config: Config = figment
        .extract_lossy()
        .map_err(|e| describe(e, &env, file))?;
    config.validate()?;
    let sources = keys
        .into_iter()
        .map(|key| {
            let source = if let Some(var) = env.variable_for(&key) {
                KeySource::Environment(var.to_owned())
            } else {
                match figment.find_metadata(&key).and_then(|m| m.source.as_ref()) {
                    Some(Source::File(path)) => KeySource::File(path.clone()),
                    _ => KeySource::Default,
                }
            };
            (key, source)
        })
        .collect();
    Ok(Loaded {
        config,
        sources,
        unknown_variables: env.unknown,
    })
}

/// One line per failing key: `key (from SOURCE): reason`.
fn describe(error: figment::Error, env: &EnvVars, file: Option<&Path>) -> ConfigError {
    let mut lines = Vec::new();
    for e in error {
        let mut key = e.path.join(".");
        if let figment::error::Kind::UnknownField(field, _) = &e.kind {
            key = if key.is_empty() {
                field.clone()
            } else {
                format!("{key}.{field}")
            };
        }
        let from = match (env.variable_for(&key), file) {
            (Some(var), _) => format!(" (from {var})"),
            (None, Some(path)) => format!(" (in {})", path.display()),
            (None, None) => String::new(),
        };
        let key = if key.is_empty() {
            "configuration".to_owned()
        } else {
            key
        };
        lines.push(format!("{key}{from}: {}", e.kind));
    }
    ConfigError::Keys(lines.join("\n"))
}

/// The dotted paths of every leaf value of `config`, in declaration order.
pub fn key_paths(config: &Config) -> Vec<String> {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&path, v, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }
    let mut out = Vec::new();
    if let Ok(value) = serde_json::to_value(config) {
        walk("", &value, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use packages_core::Limit;
    use std::time::Duration;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn defaults_file_then_environment() {
        let f = file(
            "[server]\nlisten = \"0.0.0.0:8080\"\nworkers = 3\n[limits]\nsize_generic = \"1 KiB\"\n",
        );
        let loaded = load_from(
            Some(f.path()),
            vars(&[("FORGE_WORKERS", "5"), ("FORGE_REQUIRE_SIGNIN_VIEW", "yes")]),
        )
        .unwrap();
        let c = &loaded.config;
        assert_eq!(c.server.listen, "0.0.0.0:8080");
        assert_eq!(c.server.workers, 5);
        assert!(c.auth.require_signin_view);
        assert_eq!(
            c.limits.size_of(packages_core::PackageType::Generic),
            Limit::AtMost(1024)
        );
        assert_eq!(c.auth.bcrypt_cost, 10);
        let source = |k: &str| {
            loaded
                .sources
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, s)| s.clone())
                .unwrap()
        };
        assert_eq!(
            source("server.listen"),
            KeySource::File(f.path().to_owned())
        );
        assert_eq!(
            source("server.workers"),
            KeySource::Environment("FORGE_WORKERS".into())
        );
        assert_eq!(source("auth.bcrypt_cost"), KeySource::Default);
    }

    #[test]
    fn every_existing_variable_still_works() {
        let loaded = load_from(
            None,
            vars(&[
                ("FORGE_LISTEN", "127.0.0.1:9"),
                ("FORGE_DATA_DIR", "/srv/forge"),
                ("FORGE_DATABASE_URL", "postgres://u:p@h/db"),
                ("FORGE_LIMIT_SIZE_GENERIC", "1 GiB"),
                ("FORGE_LIMIT_TOTAL_OWNER_SIZE", "0"),
                ("FORGE_LIMIT_TOTAL_OWNER_COUNT", "-1"),
                ("FORGE_REQUIRE_SIGNIN_VIEW", "true"),
                ("FORGE_BLOB_GRACE_PERIOD", "60"),
                ("FORGE_CLEANUP_INTERVAL", "30"),
                ("FORGE_BCRYPT_COST", "4"),
                ("FORGE_WORKERS", "7"),
                ("FORGE_DB_POOL_SIZE", "3"),
                ("FORGE_DOWNLOAD_COUNT_FLUSH_MS", "0"),
                ("FORGE_READ_CACHE_TTL_MS", "250"),
            ]),
        )
        .unwrap();
        let c = loaded.config;
        assert_eq!(c.server.listen, "127.0.0.1:9");
        assert_eq!(c.server.data_dir, PathBuf::from("/srv/forge"));
        assert_eq!(c.effective_database_url(), "postgres://u:p@h/db");
        assert_eq!(
            c.limits.size_of(packages_core::PackageType::Generic),
            Limit::AtMost(1 << 30)
        );
        assert_eq!(c.limits.total_owner_size, Limit::AtMost(0));
        assert_eq!(c.limits.total_owner_count, Limit::None);
        assert!(c.auth.require_signin_view);
        assert_eq!(c.cleanup.blob_grace_period, Duration::from_secs(60));
        assert_eq!(c.cleanup.interval, Duration::from_secs(30));
        assert_eq!(c.auth.bcrypt_cost, 4);
        assert_eq!(c.server.workers, 7);
        assert_eq!(c.database.pool_size, 3);
        assert_eq!(c.database.download_count_flush, Duration::ZERO);
        assert_eq!(c.cache.read_ttl, Duration::from_millis(250));
        assert!(loaded.unknown_variables.is_empty());
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let f = file("[server]\nlisten = \"x:1\"\nlisten_port = 3\n");
        let e = load_from(Some(f.path()), vars(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("server.listen_port"), "{e}");
        assert!(e.contains("unknown field"), "{e}");

        let f = file("[sever]\nlisten = \"x:1\"\n");
        let e = load_from(Some(f.path()), vars(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("sever"), "{e}");

        let e = load_from(None, vars(&[("FORGE_WORKERS", "many")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("server.workers (from FORGE_WORKERS)"), "{e}");

        let e = load_from(None, vars(&[("FORGE_LIMIT_SIZE_GENERIC", "lots")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("limits.size_generic"), "{e}");

        // A size limit for a type no served format has is a mistake, named as such; a
        // [limits] key that is no size limit at all is an unknown field.
        let f = file("[limits]\nsize_nuget = \"1 KiB\"\n");
        let e = load_from(Some(f.path()), vars(&[]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "limits.size_nuget: names no package format this server serves"
        );
        let f = file("[limits]\ntotal_size = 1\n");
        let e = load_from(Some(f.path()), vars(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("limits.total_size"), "{e}");
        assert!(e.contains("unknown field"), "{e}");

        let e = load_from(None, vars(&[("FORGE_BCRYPT_COST", "40")]))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "auth.bcrypt_cost: must be between 4 and 31");

        let e = load_from(Some(Path::new("/nonexistent/forge.toml")), vars(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/forge.toml"), "{e}");
    }

    #[test]
    fn keys_are_unique_by_variable() {
        let keys = key_paths(&Config::default());
        let mut seen = std::collections::HashMap::new();
        for k in &keys {
            let var = super::super::env::variable_of(k);
            if let Some(other) = seen.insert(var.clone(), k.clone()) {
                panic!("{k} and {other} would both be set by {var}");
            }
        }
    }
}
