//! Settings from flags, environment and a TOML file (in that order of precedence), all
//! generated from the one table in `orderdesk-settings`: the CLI arguments (with their env
//! vars, help and defaults), the TOML keys, the checks, and the `wasi:config` values handed
//! to the component. A new setting is one entry in that table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use orderdesk_settings::{self as table, Kind, Setting};

use crate::state::StateSpec;

/// The settings given as flags or env vars (clap fills these; defaults are not included,
/// so the TOML file can still supply them).
#[derive(Debug, Clone, Default)]
pub struct SettingArgs {
    given: BTreeMap<&'static str, String>,
}

impl SettingArgs {
    /// Settings as if given on the command line (for tests).
    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&'static str, &str)]) -> Self {
        Self {
            given: pairs.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        }
    }
}

impl Args for SettingArgs {
    fn augment_args(cmd: Command) -> Command {
        table::ALL.iter().fold(cmd, |cmd, s| cmd.arg(arg(s)))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

fn arg(s: &'static Setting) -> Arg {
    let mut arg = Arg::new(s.key)
        .long(s.flag())
        .env(s.env)
        .help(s.help)
        .hide(s.hidden)
        .global(true);
    arg = match s.kind {
        Kind::Flag => arg.action(ArgAction::SetTrue),
        Kind::Secret => arg.hide_env_values(true).value_name("SECRET"),
        Kind::Count { .. } => arg.value_name("N"),
        Kind::Path => arg.value_name("PATH"),
        Kind::Choice(words) => arg.value_parser(words.to_vec()),
        Kind::Text => arg.value_name(s.key.to_uppercase()),
    };
    if let Some(default) = s.default {
        arg = arg.default_value(default);
    }
    arg
}

impl FromArgMatches for SettingArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut given = BTreeMap::new();
        for s in table::ALL {
            let source = matches.value_source(s.key);
            if !matches!(
                source,
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            ) {
                continue;
            }
            let value = match s.kind {
                Kind::Flag => matches.get_flag(s.key).to_string(),
                _ => matches
                    .get_one::<String>(s.key)
                    .cloned()
                    .unwrap_or_default(),
            };
            given.insert(s.key, value);
        }
        Ok(Self { given })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

/// The `--config` TOML file: the settings' keys, nothing else.
pub fn load_file(path: &Path) -> anyhow::Result<toml::Table> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    let file: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))?;
    for key in file.keys() {
        anyhow::ensure!(
            table::by_key(key).is_some(),
            "config file {}: unknown setting {key:?}",
            path.display()
        );
    }
    Ok(file)
}

/// Every setting, resolved and checked.
#[derive(Clone)]
pub struct Settings {
    values: BTreeMap<&'static str, String>,
}

impl std::fmt::Debug for Settings {
    // Secrets never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (key, value) in &self.values {
            let secret = table::by_key(key).is_some_and(|s| s.kind == Kind::Secret);
            let shown = if secret {
                "***".to_string()
            } else if *key == table::STATE.key {
                // A Redis URL may carry a password.
                crate::state::redis::redact(value)
            } else {
                value.clone()
            };
            map.entry(key, &shown);
        }
        map.finish()
    }
}

impl Settings {
    /// Flags and env win over the file, which wins over the table's defaults.
    pub fn resolve(args: SettingArgs, file: &toml::Table) -> anyhow::Result<Self> {
        let mut values = BTreeMap::new();
        for s in table::ALL {
            let from_file = file.get(s.key).map(|v| match v {
                toml::Value::String(text) => text.clone(),
                other => other.to_string(),
            });
            let value = args
                .given
                .get(s.key)
                .cloned()
                .or(from_file)
                .or(s.default.map(str::to_string))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty());
            if let Some(v) = value {
                s.check(&v).map_err(anyhow::Error::msg)?;
                values.insert(s.key, v);
            }
        }
        Ok(Self { values })
    }

    pub fn text(&self, s: &Setting) -> Option<&str> {
        self.values.get(s.key).map(String::as_str)
    }

    /// A checked whole number (0 when unset).
    pub fn count(&self, s: &Setting) -> u64 {
        self.text(s).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    pub fn flag(&self, s: &Setting) -> bool {
        self.text(s).and_then(table::parse_flag).unwrap_or(false)
    }

    pub fn path(&self, s: &Setting) -> Option<PathBuf> {
        self.text(s).map(PathBuf::from)
    }

    pub fn secs(&self, s: &Setting) -> Duration {
        Duration::from_secs(self.count(s))
    }

    /// The OrderDesk API base, without a trailing slash.
    pub fn api_url(&self) -> String {
        self.text(&table::API_URL)
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string()
    }

    /// Where state lives (`--state`, else the SQLite file in the user's data dir).
    pub fn state(&self) -> anyhow::Result<StateSpec> {
        match self.text(&table::STATE) {
            Some(s) => s.parse().map_err(anyhow::Error::msg),
            None => Ok(StateSpec::Sqlite(default_state_path()?)),
        }
    }

    /// The compiled-component cache directory, unless caching is off.
    pub fn precompile_cache(&self) -> Option<PathBuf> {
        if self.flag(&table::NO_PRECOMPILE_CACHE) {
            return None;
        }
        self.path(&table::PRECOMPILE_CACHE)
            .or_else(|| dirs::cache_dir().map(|d| d.join("orderdesk-mcp")))
    }

    pub fn single_store(&self) -> bool {
        self.text(&table::STORE_ID).is_some() && self.text(&table::API_KEY).is_some()
    }

    /// The `wasi:config` values the component reads: every component setting that has a
    /// value, under its key.
    pub fn component_config(&self) -> Vec<(String, String)> {
        table::ALL
            .iter()
            .filter(|s| s.for_component())
            .filter_map(|s| {
                let value = if s.key == table::API_URL.key {
                    Some(self.api_url())
                } else {
                    self.text(s).map(str::to_string)
                };
                value.map(|v| (s.key.to_string(), v))
            })
            .collect()
    }
}

fn default_state_path() -> anyhow::Result<PathBuf> {
    let dir = dirs::data_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/share")))
        .context("no data directory for the default state file; pass --state")?;
    Ok(dir.join("orderdesk-mcp").join("state.db"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn flags_win_over_file_and_defaults_fill_the_rest() {
        let args = SettingArgs::from_pairs(&[("store_id", "1"), ("state", "memory")]);
        let f =
            file("store_id = \"2\"\napi_key = \"k\"\ncall_timeout_secs = 5\nstate = \"sqlite:/x\"");
        let s = Settings::resolve(args, &f).unwrap();
        assert_eq!(s.text(&table::STORE_ID), Some("1"));
        assert_eq!(s.text(&table::API_KEY), Some("k"));
        assert_eq!(s.state().unwrap(), StateSpec::Memory);
        assert_eq!(s.secs(&table::CALL_TIMEOUT_SECS), Duration::from_secs(5));
        assert_eq!(s.api_url(), "https://app.orderdesk.me/api/v2");
        assert_eq!(s.count(&table::MEMORY_LIMIT_MB), 64);
    }

    #[test]
    fn bad_values_and_unknown_file_keys_are_refused() {
        let f = file("memory_limit_mb = 2");
        let e = Settings::resolve(SettingArgs::default(), &f).unwrap_err();
        assert!(e.to_string().contains("memory_limit_mb"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "stor_id = \"1\"").unwrap();
        let e = load_file(&path).unwrap_err();
        assert!(e.to_string().contains("stor_id"), "{e}");
    }

    #[test]
    fn the_component_gets_its_settings_under_the_shared_keys() {
        let args = SettingArgs::from_pairs(&[
            ("api_url", "http://127.0.0.1:9/api/v2/"),
            ("retry_max_wait_ms", "500"),
            ("memory_limit_mb", "32"),
        ]);
        let s = Settings::resolve(args, &toml::Table::new()).unwrap();
        let config: BTreeMap<String, String> = s.component_config().into_iter().collect();
        assert_eq!(config["api_url"], "http://127.0.0.1:9/api/v2");
        assert_eq!(config["retry_max_wait_ms"], "500");
        assert_eq!(config["cache_ttl_orders"], "15", "defaults travel too");
        assert!(
            !config.contains_key("memory_limit_mb"),
            "host-only settings stay here"
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let args = SettingArgs::from_pairs(&[("api_key", "super-secret-key")]);
        let s = Settings::resolve(args, &toml::Table::new()).unwrap();
        assert!(!format!("{s:?}").contains("super-secret-key"));
        let args = SettingArgs::from_pairs(&[("state", "redis://:redis-pw@127.0.0.1:6379")]);
        let s = Settings::resolve(args, &toml::Table::new()).unwrap();
        assert!(!format!("{s:?}").contains("redis-pw"), "{s:?}");
    }

    #[test]
    fn every_setting_is_a_flag_with_its_env_var() {
        let cmd = SettingArgs::augment_args(Command::new("t"));
        let m = cmd
            .clone()
            .try_get_matches_from(["t", "--retry-max-wait-ms", "700", "--no-precompile-cache"])
            .unwrap();
        let args = SettingArgs::from_arg_matches(&m).unwrap();
        assert_eq!(args.given["retry_max_wait_ms"], "700");
        assert_eq!(args.given["no_precompile_cache"], "true");
        assert!(
            !args.given.contains_key("cache_ttl_orders"),
            "defaults are not 'given'"
        );
        for s in table::ALL {
            let arg = cmd.get_arguments().find(|a| a.get_id() == s.key).unwrap();
            assert_eq!(arg.get_long(), Some(s.flag().as_str()));
            assert_eq!(arg.get_env().and_then(|e| e.to_str()), Some(s.env));
        }
    }
}
