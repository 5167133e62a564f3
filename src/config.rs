//! One typed configuration. Sources, each later one winning: built-in defaults, a TOML file,
//! environment variables `SEGMENTER__<KEY>` (nested keys joined by `__`), then CLI `--set
//! key=value` flags and the dedicated flags of `serve`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::app::AppSettings;

pub const ENV_PREFIX: &str = "SEGMENTER__";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// gRPC listen address; port 0 picks a free port.
    pub listen: String,
    /// `sqlite://FILE` (embedded default) or `postgres://...`.
    pub database_url: String,
    /// ISO 4217 code of the one reporting currency; other currencies are rejected.
    pub reporting_currency: String,
    /// A rule-set TOML file merged over the built-in rules; none = built-in.
    pub rules_file: Option<PathBuf>,
    /// Most events per RecordEvents call or IngestEvents chunk.
    pub max_batch_events: usize,
    /// Seconds between scheduled population snapshot refreshes.
    pub snapshot_interval_seconds: u64,
    /// Also refresh after this many newly stored events (0 = only on schedule).
    pub snapshot_refresh_events: u64,
    /// Snapshots at past `as_of` instants kept in memory.
    pub past_snapshot_cache: usize,
    /// Re-read every history from the database this often (0 = never). Needed only when other
    /// processes write to the same database (several replicas on PostgreSQL): a replica sees
    /// its own writes at once and other replicas' writes after at most this long.
    pub history_reload_seconds: u64,
    /// Server-side limit of one call, seconds.
    pub request_timeout_seconds: u64,
    /// Calls served at once per connection; more wait in HTTP/2 flow control.
    pub concurrency_limit_per_connection: usize,
    /// Largest request or response message, bytes.
    pub max_message_bytes: usize,
    /// Seconds in-flight calls get to finish after SIGTERM.
    pub shutdown_grace_seconds: u64,
    /// `text` or `json`.
    pub log_format: String,
    /// A tracing filter such as `info` or `segmenter=debug,info`.
    pub log_level: String,
    /// Calls served at once by the whole server; more are shed with RESOURCE_EXHAUSTED.
    pub max_in_flight: usize,
    pub auth: AuthConfig,
    pub tls: TlsConfig,
    pub metrics: MetricsConfig,
    pub telemetry: TelemetryConfig,
}

/// Optional OpenTelemetry trace export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// OTLP/HTTP traces endpoint, e.g. `http://otel-collector:4318/v1/traces`; empty disables.
    pub otlp_endpoint: String,
    /// `service.name` of the exported spans.
    pub service_name: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: String::new(),
            service_name: "segmenter".to_owned(),
        }
    }
}

/// Who may call: API keys per calling system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Off only when set to false explicitly; the server then warns loudly at start.
    pub enabled: bool,
    /// Optional TOML file of keys to install at start (`[[keys]] name, scopes, key`), e.g. from
    /// a Kubernetes Secret; they are stored hashed like keys made with `segmenter keys create`.
    pub keys_file: Option<PathBuf>,
    /// Calls per second allowed per key (0 = unlimited); bursts up to `rate_limit_burst`.
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            keys_file: None,
            rate_limit_per_second: 0,
            rate_limit_burst: 100,
        }
    }
}

/// Transport security; plaintext when no certificate is configured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain of the server.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the server.
    pub key_file: Option<PathBuf>,
    /// PEM CA bundle: when set, clients must present a certificate it signed (mTLS).
    pub client_ca_file: Option<PathBuf>,
}

/// Prometheus metrics over plain HTTP on a separate port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address of the `/metrics` endpoint; empty disables it.
    pub listen: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9464".to_owned(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:50051".to_owned(),
            database_url: "sqlite://segmenter.db".to_owned(),
            reporting_currency: "CNY".to_owned(),
            rules_file: None,
            max_batch_events: 10_000,
            snapshot_interval_seconds: 300,
            snapshot_refresh_events: 10_000,
            past_snapshot_cache: 8,
            history_reload_seconds: 0,
            request_timeout_seconds: 30,
            concurrency_limit_per_connection: 256,
            max_message_bytes: 16 * 1024 * 1024,
            shutdown_grace_seconds: 20,
            log_format: "text".to_owned(),
            log_level: "info".to_owned(),
            max_in_flight: 1024,
            auth: AuthConfig::default(),
            tls: TlsConfig::default(),
            metrics: MetricsConfig::default(),
            telemetry: TelemetryConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Layers the sources: defaults, `file`, `env` (name/value pairs), then `overrides`
    /// (`key=value` strings from the command line).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &[String],
    ) -> Result<Config, ConfigError> {
        let mut table = toml::Table::try_from(Config::default())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            let from_file: toml::Table = toml::from_str(&text)
                .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))?;
            merge(&mut table, from_file);
        }
        for (name, value) in env {
            if let Some(key) = name.strip_prefix(ENV_PREFIX) {
                let key = key.to_ascii_lowercase().replace("__", ".");
                set_path(&mut table, &key, &value);
            }
        }
        for assignment in overrides {
            let (key, value) = assignment
                .split_once('=')
                .ok_or_else(|| ConfigError::Invalid(format!("{assignment:?} is not key=value")))?;
            set_path(&mut table, key.trim(), value.trim());
        }
        let config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            problems.push(format!(
                "listen {:?} is not an address like 0.0.0.0:50051",
                self.listen
            ));
        }
        let url = self.database_url.as_str();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            problems.push(format!(
                "database_url {url:?} must start with sqlite: or postgres://"
            ));
        }
        let currency = &self.reporting_currency;
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
            problems.push(format!(
                "reporting_currency {currency:?} must be an ISO 4217 code like CNY"
            ));
        }
        if self.max_batch_events == 0 {
            problems.push("max_batch_events must be at least 1".to_owned());
        }
        if self.snapshot_interval_seconds == 0 {
            problems.push("snapshot_interval_seconds must be at least 1".to_owned());
        }
        if self.request_timeout_seconds == 0 || self.concurrency_limit_per_connection == 0 {
            problems.push(
                "request_timeout_seconds and concurrency_limit_per_connection must be at least 1"
                    .to_owned(),
            );
        }
        if self.max_message_bytes < 1024 {
            problems.push("max_message_bytes must be at least 1024".to_owned());
        }
        if self.max_in_flight == 0 {
            problems.push("max_in_flight must be at least 1".to_owned());
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            problems.push("tls.cert_file and tls.key_file go together".to_owned());
        }
        if self.tls.client_ca_file.is_some() && self.tls.cert_file.is_none() {
            problems
                .push("tls.client_ca_file (mTLS) needs tls.cert_file and tls.key_file".to_owned());
        }
        if !self.metrics.listen.is_empty()
            && self.metrics.listen.parse::<std::net::SocketAddr>().is_err()
        {
            problems.push(format!(
                "metrics.listen {:?} is not an address like 0.0.0.0:9464",
                self.metrics.listen
            ));
        }
        if self.auth.rate_limit_per_second > 0 && self.auth.rate_limit_burst == 0 {
            problems.push("auth.rate_limit_burst must be at least 1 when rate limiting".to_owned());
        }
        let otlp = self.telemetry.otlp_endpoint.trim();
        if !(otlp.is_empty() || otlp.starts_with("http://") || otlp.starts_with("https://")) {
            problems.push(format!(
                "telemetry.otlp_endpoint {otlp:?} must be an http(s) URL"
            ));
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            problems.push(format!(
                "log_format {:?} must be text or json",
                self.log_format
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems.join("; ")))
        }
    }

    pub fn app_settings(&self) -> AppSettings {
        AppSettings {
            reporting_currency: self.reporting_currency.clone(),
            max_batch_events: self.max_batch_events,
            snapshot_refresh_events: self.snapshot_refresh_events,
            past_snapshot_cache: self.past_snapshot_cache,
        }
    }
}

fn merge(base: &mut toml::Table, overrides: toml::Table) {
    for (key, value) in overrides {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(over)) => merge(inner, over),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Sets a dotted key; the value is read as a TOML literal when it is one (numbers, booleans),
/// else as a string, so `SEGMENTER__LISTEN=0.0.0.0:1` needs no quoting.
fn set_path(table: &mut toml::Table, key: &str, raw: &str) {
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()));
    let mut parts: Vec<&str> = key.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut current = table;
    for part in parts {
        let entry = current
            .entry(part.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        match entry {
            toml::Value::Table(inner) => current = inner,
            _ => return,
        }
    }
    current.insert(last.to_owned(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_sources_win() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("segmenter.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:1000\"\nmax_batch_events = 5\nlog_format = \"json\"\n",
        )
        .unwrap();
        let env = vec![
            ("SEGMENTER__MAX_BATCH_EVENTS".to_owned(), "7".to_owned()),
            (
                "SEGMENTER__DATABASE_URL".to_owned(),
                "sqlite://env.db".to_owned(),
            ),
            ("OTHER".to_owned(), "x".to_owned()),
        ];
        let config = Config::load(
            Some(&file),
            env,
            &["database_url=sqlite://flag.db".to_owned()],
        )
        .unwrap();
        assert_eq!(config.listen, "0.0.0.0:1000");
        assert_eq!(config.max_batch_events, 7);
        assert_eq!(config.database_url, "sqlite://flag.db");
        assert_eq!(config.log_format, "json");
        assert_eq!(config.reporting_currency, "CNY");
    }

    #[test]
    fn nested_sections_come_from_env_and_flags() {
        let env = vec![
            ("SEGMENTER__AUTH__ENABLED".to_owned(), "false".to_owned()),
            (
                "SEGMENTER__TLS__CERT_FILE".to_owned(),
                "/certs/tls.crt".to_owned(),
            ),
            (
                "SEGMENTER__TLS__KEY_FILE".to_owned(),
                "/certs/tls.key".to_owned(),
            ),
        ];
        let config = Config::load(None, env, &["metrics.listen=".to_owned()]).unwrap();
        assert!(!config.auth.enabled);
        assert_eq!(
            config.tls.cert_file.as_deref(),
            Some(Path::new("/certs/tls.crt"))
        );
        assert_eq!(config.metrics.listen, "");
        let half_tls = Config::load(None, vec![], &["tls.cert_file=/x".to_owned()]);
        assert!(half_tls.unwrap_err().to_string().contains("go together"));
    }

    #[test]
    fn defaults_are_valid_and_bad_values_are_refused() {
        assert_eq!(Config::load(None, vec![], &[]).unwrap(), Config::default());
        let bad = Config::load(
            None,
            vec![("SEGMENTER__REPORTING_CURRENCY".into(), "yuan".into())],
            &[],
        );
        assert!(bad.unwrap_err().to_string().contains("reporting_currency"));
        let unknown = Config::load(None, vec![], &["no_such_key=1".to_owned()]);
        assert!(unknown.unwrap_err().to_string().contains("no_such_key"));
        let mistyped = Config::load(None, vec![], &["max_batch_events=many".to_owned()]);
        assert!(mistyped.is_err());
    }
}
