//! Typed configuration, read once from the environment at start-up.

use std::path::PathBuf;
use std::time::Duration;

use packages_api::Limits;
use packages_core::{parse_size_limit, Limit};

/// A setting could not be read; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (`FORGE_LISTEN`, default `127.0.0.1:3000`).
    pub listen: String,
    /// Directory for the SQLite database and the blob store (`FORGE_DATA_DIR`, default `./data`).
    pub data_dir: PathBuf,
    /// Database URL (`FORGE_DATABASE_URL`); empty means the SQLite file in the data directory.
    pub database_url: String,
    /// Package limits (`FORGE_LIMIT_*`).
    pub limits: Limits,
    /// Refuse anonymous reads (`FORGE_REQUIRE_SIGNIN_VIEW`).
    pub require_signin_view: bool,
    /// How long content no file refers to is kept before the sweep removes it
    /// (`FORGE_BLOB_GRACE_PERIOD`, seconds, default 24 h).
    pub blob_grace_period: Duration,
    /// How often the sweep runs (`FORGE_CLEANUP_INTERVAL`, seconds, default 1 h).
    pub cleanup_interval: Duration,
    /// bcrypt cost for new password hashes (`FORGE_BCRYPT_COST`, default 10).
    pub bcrypt_cost: u32,
    /// HTTP worker threads (`FORGE_WORKERS`, default: the number of cores).
    pub workers: usize,
    /// Database connections in the pool (`FORGE_DB_POOL_SIZE`, default 16).
    pub db_pool_size: u32,
    /// How often gathered download counts are written (`FORGE_DOWNLOAD_COUNT_FLUSH_MS`,
    /// default 1000); zero writes each download's count at once.
    pub download_count_flush: Duration,
    /// How long cached reads (owners, tokens, memberships, file look-ups) may be used
    /// (`FORGE_READ_CACHE_TTL_MS`, default 2000; 0 turns the cache off). Changes made through
    /// this server are seen at once; the time-to-live bounds how long a change made through
    /// another instance on the same database can go unseen.
    pub read_cache_ttl: Duration,
}

impl Config {
    /// Defaults for everything but where the data lives.
    pub fn new(data_dir: PathBuf, database_url: String) -> Config {
        Config {
            listen: "127.0.0.1:3000".to_owned(),
            data_dir,
            database_url,
            limits: Limits::default(),
            require_signin_view: false,
            blob_grace_period: Duration::from_secs(24 * 3600),
            cleanup_interval: Duration::from_secs(3600),
            bcrypt_cost: 10,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            db_pool_size: 16,
            download_count_flush: Duration::from_secs(1),
            read_cache_ttl: Duration::from_secs(2),
        }
    }

    /// Reads the configuration from `FORGE_*` environment variables.
    pub fn from_env() -> Result<Config, ConfigError> {
        let data_dir = env_string("FORGE_DATA_DIR").unwrap_or_else(|| "./data".to_owned());
        let mut config = Config::new(
            PathBuf::from(data_dir),
            env_string("FORGE_DATABASE_URL").unwrap_or_default(),
        );
        if let Some(listen) = env_string("FORGE_LISTEN") {
            config.listen = listen;
        }
        config.limits = Limits {
            size_generic: size_var("FORGE_LIMIT_SIZE_GENERIC")?,
            total_owner_size: size_var("FORGE_LIMIT_TOTAL_OWNER_SIZE")?,
            total_owner_count: count_var("FORGE_LIMIT_TOTAL_OWNER_COUNT")?,
        };
        if let Some(v) = env_string("FORGE_REQUIRE_SIGNIN_VIEW") {
            config.require_signin_view = parse_bool("FORGE_REQUIRE_SIGNIN_VIEW", &v)?;
        }
        if let Some(secs) = number_var("FORGE_BLOB_GRACE_PERIOD")? {
            config.blob_grace_period = Duration::from_secs(secs);
        }
        if let Some(secs) = number_var("FORGE_CLEANUP_INTERVAL")? {
            config.cleanup_interval = Duration::from_secs(secs.max(1));
        }
        if let Some(cost) = number_var("FORGE_BCRYPT_COST")? {
            if !(4..=31).contains(&cost) {
                return Err(ConfigError {
                    var: "FORGE_BCRYPT_COST",
                    message: "must be between 4 and 31".to_owned(),
                });
            }
            config.bcrypt_cost = cost as u32;
        }
        if let Some(workers) = number_var("FORGE_WORKERS")? {
            config.workers = (workers as usize).max(1);
        }
        if let Some(ms) = number_var("FORGE_DOWNLOAD_COUNT_FLUSH_MS")? {
            config.download_count_flush = Duration::from_millis(ms);
        }
        if let Some(ms) = number_var("FORGE_READ_CACHE_TTL_MS")? {
            config.read_cache_ttl = Duration::from_millis(ms);
        }
        if let Some(size) = number_var("FORGE_DB_POOL_SIZE")? {
            config.db_pool_size = (size as u32).max(1);
        }
        Ok(config)
    }

    /// The database URL to connect to: the configured one, or the SQLite file in the data dir.
    pub fn effective_database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("forge.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// Root of the local blob store.
    pub fn packages_dir(&self) -> PathBuf {
        self.data_dir.join("packages")
    }
}

fn env_string(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

fn parse_bool(var: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError {
            var,
            message: format!("not a boolean: {v:?}"),
        }),
    }
}

fn number_var(var: &'static str) -> Result<Option<u64>, ConfigError> {
    env_string(var)
        .map(|v| {
            v.trim().parse::<u64>().map_err(|_| ConfigError {
                var,
                message: format!("not a non-negative integer: {v:?}"),
            })
        })
        .transpose()
}

fn size_var(var: &'static str) -> Result<Limit, ConfigError> {
    match env_string(var) {
        None => Ok(Limit::None),
        Some(v) => parse_size_limit(&v).map_err(|e| ConfigError {
            var,
            message: e.to_string(),
        }),
    }
}

fn count_var(var: &'static str) -> Result<Limit, ConfigError> {
    match env_string(var) {
        None => Ok(Limit::None),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .map(Limit::from_count)
            .map_err(|_| ConfigError {
                var,
                message: format!("not an integer: {v:?}"),
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_is_the_default_database() {
        let c = Config::new(PathBuf::from("/srv/data"), String::new());
        assert_eq!(c.effective_database_url(), "sqlite:///srv/data/forge.db");
        let c = Config::new(PathBuf::from("/srv/data"), "postgres://db/x".to_owned());
        assert_eq!(c.effective_database_url(), "postgres://db/x");
    }

    #[test]
    fn booleans() {
        assert!(parse_bool("X", "TRUE").unwrap());
        assert!(!parse_bool("X", "0").unwrap());
        assert!(parse_bool("X", "maybe").is_err());
    }
}
