//! Configuration: a TOML file plus `GATEHOUSE_*` environment variables (the
//! environment wins), validated once at start-up into a `Config` whose values
//! are all usable. Errors name the key and say why.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;
use url::Url;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone)]
pub struct Config {
    pub database_url: String,
    pub listen: SocketAddr,
    /// Public URL users reach us at; every absolute URL we emit starts here.
    pub base_url: Url,
    /// Key material for signing session cookies; None = a random key per
    /// process (fine for one instance, wrong for several: a warning says so).
    pub session_secret: Option<String>,
    /// Key for secrets at rest (SP keys, client secrets); defaults to the
    /// session secret. Changing it makes stored secrets unreadable.
    pub secrets_key: Option<String>,
    /// How often SAML connections configured by metadata URL re-fetch it.
    pub metadata_refresh_minutes: i64,
    /// The least time between two JWKS refetches for one OIDC issuer, made
    /// when a token names a key we do not have.
    pub oidc_jwks_refetch_seconds: i64,
    pub session_idle_minutes: i64,
    pub cookie_name: String,
    pub log_format: LogFormat,
    pub log_level: String,
    /// Failed password attempts allowed per login name / per client address
    /// within the window before further attempts are refused.
    pub throttle_per_login: i64,
    pub throttle_per_address: i64,
    pub throttle_window_minutes: i64,
    /// Take the client address from X-Forwarded-For (only behind a proxy
    /// that sets it; otherwise clients could pick their own address).
    pub trust_forwarded_for: bool,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &crate::store::pool::redact_url(&self.database_url))
            .field("listen", &self.listen)
            .field("base_url", &self.base_url.as_str())
            .field("session_secret", &self.session_secret.as_ref().map(|_| "***"))
            .field("secrets_key", &self.secrets_key.as_ref().map(|_| "***"))
            .field("session_idle_minutes", &self.session_idle_minutes)
            .field("log_format", &self.log_format)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The key that seals secrets at rest, if one is configured.
    pub fn sealing_key(&self) -> Option<crate::sealed::SealingKey> {
        self.secrets_key
            .as_deref()
            .or(self.session_secret.as_deref())
            .map(crate::sealed::SealingKey::derive)
    }

    pub fn secure_cookies(&self) -> bool {
        self.base_url.scheme() == "https"
    }

    /// An absolute URL for a path of ours.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url.as_str().trim_end_matches('/'), path)
    }
}

/// The file's shape: every key optional, unknown keys refused (a typo must
/// not silently fall back to a default).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    listen: Option<String>,
    base_url: Option<String>,
    session_secret: Option<String>,
    secrets_key: Option<String>,
    metadata_refresh_minutes: Option<i64>,
    oidc_jwks_refetch_seconds: Option<i64>,
    session_idle_minutes: Option<i64>,
    cookie_name: Option<String>,
    log_format: Option<String>,
    log_level: Option<String>,
    throttle_per_login: Option<i64>,
    throttle_per_address: Option<i64>,
    throttle_window_minutes: Option<i64>,
    trust_forwarded_for: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {key}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

fn bad(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_string(),
        reason: reason.into(),
    }
}

/// Where a value came from, so an error can name `GATEHOUSE_LISTEN` or the
/// file key, whichever the operator actually wrote.
struct Sources<'a> {
    file: FileConfig,
    env: &'a BTreeMap<String, String>,
}

impl Sources<'_> {
    fn string(&self, key: &str, file: &Option<String>) -> Option<(String, String)> {
        let env_key = format!("GATEHOUSE_{}", key.to_uppercase());
        if let Some(v) = self.env.get(&env_key) {
            return Some((env_key, v.clone()));
        }
        file.clone().map(|v| (key.to_string(), v))
    }

    fn int(
        &self,
        key: &str,
        file: Option<i64>,
        default: i64,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<i64, ConfigError> {
        let env_key = format!("GATEHOUSE_{}", key.to_uppercase());
        let (name, value) = match self.env.get(&env_key) {
            Some(v) => (
                env_key.clone(),
                v.parse::<i64>()
                    .map_err(|_| bad(&env_key, format!("{v:?} is not a whole number")))?,
            ),
            None => (key.to_string(), file.unwrap_or(default)),
        };
        if !range.contains(&value) {
            return Err(bad(
                &name,
                format!("{value} is outside {}..={}", range.start(), range.end()),
            ));
        }
        Ok(value)
    }

    fn bool(&self, key: &str, file: Option<bool>, default: bool) -> Result<bool, ConfigError> {
        let env_key = format!("GATEHOUSE_{}", key.to_uppercase());
        match self.env.get(&env_key) {
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "on" | "yes" => Ok(true),
                "0" | "false" | "off" | "no" => Ok(false),
                _ => Err(bad(&env_key, format!("{v:?} is not a boolean (true/false)"))),
            },
            None => Ok(file.unwrap_or(default)),
        }
    }
}

impl Config {
    /// Reads the optional file and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars().filter(|(k, _)| k.starts_with("GATEHOUSE_")).collect();
        let text = match file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| bad("--config", format!("cannot read {}: {e}", path.display())))?,
            ),
            None => None,
        };
        Config::from_parts(text.as_deref(), &env)
    }

    /// The pure part of `load`: file text and environment in, config out.
    pub fn from_parts(file_text: Option<&str>, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let file: FileConfig = match file_text {
            Some(text) => toml::from_str(text).map_err(|e| {
                let msg = e.message().to_string();
                let key = msg
                    .strip_prefix("unknown field `")
                    .and_then(|r| r.split('`').next())
                    .unwrap_or("config file")
                    .to_string();
                bad(&key, msg)
            })?,
            None => FileConfig::default(),
        };
        for key in env.keys() {
            const KNOWN: &[&str] = &[
                "GATEHOUSE_DATABASE_URL",
                "GATEHOUSE_LISTEN",
                "GATEHOUSE_BASE_URL",
                "GATEHOUSE_SESSION_SECRET",
                "GATEHOUSE_SECRETS_KEY",
                "GATEHOUSE_METADATA_REFRESH_MINUTES",
                "GATEHOUSE_OIDC_JWKS_REFETCH_SECONDS",
                "GATEHOUSE_SESSION_IDLE_MINUTES",
                "GATEHOUSE_COOKIE_NAME",
                "GATEHOUSE_LOG_FORMAT",
                "GATEHOUSE_LOG_LEVEL",
                "GATEHOUSE_THROTTLE_PER_LOGIN",
                "GATEHOUSE_THROTTLE_PER_ADDRESS",
                "GATEHOUSE_THROTTLE_WINDOW_MINUTES",
                "GATEHOUSE_TRUST_FORWARDED_FOR",
                "GATEHOUSE_CONFIG",
            ];
            if !KNOWN.contains(&key.as_str()) {
                return Err(bad(key, "unknown setting (see docs/configuration.md)"));
            }
        }
        let src = Sources { file, env };

        let database_url = match src.string("database_url", &src.file.database_url) {
            Some((key, v)) => {
                if !(v.starts_with("sqlite:") || v.starts_with("postgres://") || v.starts_with("postgresql://")) {
                    return Err(bad(&key, "must start with sqlite: or postgres://"));
                }
                v
            }
            None => "sqlite://gatehouse.db".to_string(),
        };
        let listen = match src.string("listen", &src.file.listen) {
            Some((key, v)) => v
                .parse()
                .map_err(|_| bad(&key, format!("{v:?} is not an address like 127.0.0.1:8080")))?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let base_url = match src.string("base_url", &src.file.base_url) {
            Some((key, v)) => {
                let url = Url::parse(&v).map_err(|e| bad(&key, format!("{v:?} is not a URL: {e}")))?;
                if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                    return Err(bad(&key, "must be an http(s) URL with a host"));
                }
                if url.query().is_some() || url.fragment().is_some() {
                    return Err(bad(&key, "must not have a query or fragment"));
                }
                url
            }
            None => Url::parse(&format!("http://{listen}")).map_err(|e| bad("base_url", e.to_string()))?,
        };
        let session_secret = match src.string("session_secret", &src.file.session_secret) {
            Some((key, v)) if v.len() < 32 => return Err(bad(&key, "must be at least 32 characters")),
            Some((_, v)) => Some(v),
            None => None,
        };
        let secrets_key = match src.string("secrets_key", &src.file.secrets_key) {
            Some((key, v)) if v.len() < 32 => return Err(bad(&key, "must be at least 32 characters")),
            Some((_, v)) => Some(v),
            None => None,
        };
        let cookie_name = match src.string("cookie_name", &src.file.cookie_name) {
            Some((key, v)) => {
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                    return Err(bad(&key, "must be letters, digits, '_' or '-'"));
                }
                v
            }
            None => "gatehouse_session".to_string(),
        };
        let log_format = match src.string("log_format", &src.file.log_format) {
            Some((key, v)) => match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err(bad(&key, format!("{v:?} is not text or json"))),
            },
            None => LogFormat::Text,
        };
        let log_level = match src.string("log_level", &src.file.log_level) {
            Some((key, v)) => {
                tracing_subscriber::EnvFilter::try_new(&v).map_err(|e| bad(&key, format!("{v:?}: {e}")))?;
                v
            }
            None => "info".to_string(),
        };
        Ok(Config {
            metadata_refresh_minutes: src.int(
                "metadata_refresh_minutes",
                src.file.metadata_refresh_minutes,
                720,
                5..=10_080,
            )?,
            oidc_jwks_refetch_seconds: src.int(
                "oidc_jwks_refetch_seconds",
                src.file.oidc_jwks_refetch_seconds,
                60,
                1..=86_400,
            )?,
            secrets_key,
            session_idle_minutes: src.int("session_idle_minutes", src.file.session_idle_minutes, 480, 5..=43_200)?,
            throttle_per_login: src.int("throttle_per_login", src.file.throttle_per_login, 5, 1..=1000)?,
            throttle_per_address: src.int("throttle_per_address", src.file.throttle_per_address, 30, 1..=100_000)?,
            throttle_window_minutes: src.int(
                "throttle_window_minutes",
                src.file.throttle_window_minutes,
                15,
                1..=1440,
            )?,
            trust_forwarded_for: src.bool("trust_forwarded_for", src.file.trust_forwarded_for, false)?,
            database_url,
            listen,
            base_url,
            session_secret,
            cookie_name,
            log_format,
            log_level,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults() {
        let c = Config::from_parts(None, &env(&[])).expect("defaults are valid");
        assert_eq!(c.database_url, "sqlite://gatehouse.db");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.base_url.as_str(), "http://127.0.0.1:8080/");
        assert!(!c.secure_cookies());
    }

    #[test]
    fn env_wins_over_file() {
        let file = "listen = \"127.0.0.1:9000\"\nbase_url = \"https://sso.example.com\"\n";
        let c = Config::from_parts(Some(file), &env(&[("GATEHOUSE_LISTEN", "127.0.0.1:9100")])).expect("valid");
        assert_eq!(c.listen.port(), 9100);
        assert!(c.secure_cookies());
    }

    #[test]
    fn errors_name_the_key() {
        type Case<'a> = (Option<&'a str>, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            (None, &[("GATEHOUSE_LISTEN", "nope")], "GATEHOUSE_LISTEN"),
            (Some("listen = \"nope\""), &[], "listen"),
            (Some("lissen = \"127.0.0.1:1\""), &[], "lissen"),
            (None, &[("GATEHOUSE_BASE_URL", "ftp://x")], "GATEHOUSE_BASE_URL"),
            (
                None,
                &[("GATEHOUSE_DATABASE_URL", "mysql://x")],
                "GATEHOUSE_DATABASE_URL",
            ),
            (
                None,
                &[("GATEHOUSE_SESSION_SECRET", "short")],
                "GATEHOUSE_SESSION_SECRET",
            ),
            (None, &[("GATEHOUSE_SECRETS_KEY", "short")], "GATEHOUSE_SECRETS_KEY"),
            (
                None,
                &[("GATEHOUSE_METADATA_REFRESH_MINUTES", "1")],
                "GATEHOUSE_METADATA_REFRESH_MINUTES",
            ),
            (
                None,
                &[("GATEHOUSE_OIDC_JWKS_REFETCH_SECONDS", "0")],
                "GATEHOUSE_OIDC_JWKS_REFETCH_SECONDS",
            ),
            (None, &[("GATEHOUSE_LOG_FORMAT", "xml")], "GATEHOUSE_LOG_FORMAT"),
            (
                None,
                &[("GATEHOUSE_THROTTLE_PER_LOGIN", "0")],
                "GATEHOUSE_THROTTLE_PER_LOGIN",
            ),
            (
                None,
                &[("GATEHOUSE_THROTTLE_PER_LOGIN", "x")],
                "GATEHOUSE_THROTTLE_PER_LOGIN",
            ),
            (
                None,
                &[("GATEHOUSE_TRUST_FORWARDED_FOR", "maybe")],
                "GATEHOUSE_TRUST_FORWARDED_FOR",
            ),
            (None, &[("GATEHOUSE_LISTN", "x")], "GATEHOUSE_LISTN"),
        ];
        for (file, vars, key) in cases {
            let err = Config::from_parts(*file, &env(vars)).expect_err(key);
            assert_eq!(&err.key, key, "{err}");
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let c = Config::from_parts(
            None,
            &env(&[
                ("GATEHOUSE_SESSION_SECRET", "0123456789abcdef0123456789abcdef-secret"),
                ("GATEHOUSE_DATABASE_URL", "postgres://u:hunter2@127.0.0.1/db"),
            ]),
        )
        .expect("valid");
        let printed = format!("{c:?}");
        assert!(
            !printed.contains("hunter2") && !printed.contains("abcdef-secret"),
            "{printed}"
        );
    }
}
