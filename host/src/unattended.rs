//! The unattended secret: the server secret under which the component seals the API keys
//! of stores opted into polling sync or webhooks, so they work while no tenant is
//! connected. The host finds it (setting, else its file, created on first start) and hands
//! it to the component as `wasi:config` key `unattended_secret`; it never reaches a log.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use orderdesk_settings as table;

use crate::settings::Settings;
use crate::state::StateSpec;

/// The `wasi:config` key the component reads the secret under.
pub const CONFIG_KEY: &str = "unattended_secret";

/// Random bytes in a new secret (written as hex).
const SECRET_BYTES: usize = 32;

/// Where the secret came from, for the start-up log line (never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The `unattended_secret` setting.
    Setting,
    /// An existing file.
    File(PathBuf),
    /// A file created just now.
    Created(PathBuf),
    /// Drawn for this process only (memory state): sealed keys die with the process.
    Process,
}

/// The secret, which `Debug` never shows.
pub struct Secret {
    value: String,
    pub source: Source,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("value", &"***")
            .field("source", &self.source)
            .finish()
    }
}

impl Secret {
    pub fn expose(&self) -> &str {
        &self.value
    }
}

/// The secret for this process: the setting, else the file (the configured one, else the
/// default beside the state), created when missing; a per-process secret with memory
/// state and no file.
pub fn resolve(settings: &Settings, state: &StateSpec) -> anyhow::Result<Secret> {
    if let Some(value) = settings.text(&table::UNATTENDED_SECRET) {
        return Ok(Secret {
            value: value.to_string(),
            source: Source::Setting,
        });
    }
    match settings
        .path(&table::UNATTENDED_SECRET_FILE)
        .or_else(|| default_file(state))
    {
        Some(path) => from_file(&path),
        None => Ok(Secret {
            value: random_hex()?,
            source: Source::Process,
        }),
    }
}

/// Beside the SQLite file; under the data directory with Redis; none with memory (or when
/// there is no data directory: the caller then draws a per-process secret).
fn default_file(state: &StateSpec) -> Option<PathBuf> {
    match state {
        StateSpec::Memory => None,
        StateSpec::Sqlite(path) => {
            let mut name = path.as_os_str().to_owned();
            name.push(".unattended-key");
            Some(PathBuf::from(name))
        }
        StateSpec::Redis(_) => dirs::data_dir()
            .or_else(|| dirs::home_dir().map(|h| h.join(".local/share")))
            .map(|d| d.join("orderdesk-mcp").join("unattended.key")),
    }
}

/// Read the secret from `path`, or create the file (mode 0600, refusing to overwrite one
/// another process created meanwhile) with a new random secret.
pub fn from_file(path: &Path) -> anyhow::Result<Secret> {
    if let Some(value) = read(path)? {
        return Ok(Secret {
            value,
            source: Source::File(path.to_path_buf()),
        });
    }
    let value = random_hex()?;
    match create(path, &value) {
        Ok(()) => Ok(Secret {
            value,
            source: Source::Created(path.to_path_buf()),
        }),
        // Another process started at the same moment and won: use its secret.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let value = read(path)?.with_context(|| {
                format!("unattended secret file {} stayed empty", path.display())
            })?;
            Ok(Secret {
                value,
                source: Source::File(path.to_path_buf()),
            })
        }
        Err(e) => Err(e).with_context(|| {
            format!(
                "creating the unattended secret file {} (set --unattended-secret-file or \
                 ORDERDESK_MCP_UNATTENDED_SECRET)",
                path.display()
            )
        }),
    }
}

/// The trimmed contents, `None` when the file does not exist. A file others may read is
/// refused: the secret unseals every opted-in store's API key.
fn read(path: &Path) -> anyhow::Result<Option<String>> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| format!("reading {}", path.display()));
        }
    };
    check_mode(path, &meta)?;
    // A file created by a concurrent start may still be empty for a moment.
    for _ in 0..50 {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the unattended secret file {}", path.display()))?;
        let value = text.trim();
        if !value.is_empty() {
            return Ok(Some(value.to_string()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    anyhow::bail!(
        "the unattended secret file {} is empty; delete it to have a new secret made, or \
         write the secret of the other instances into it",
        path.display()
    )
}

/// The first line of a file only its owner may read (the operator token file).
pub fn read_private_line(path: &Path) -> anyhow::Result<String> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    check_mode(path, &meta)?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let line = text.lines().next().unwrap_or_default().trim().to_string();
    anyhow::ensure!(!line.is_empty(), "{} is empty", path.display());
    Ok(line)
}

#[cfg(unix)]
fn check_mode(path: &Path, meta: &std::fs::Metadata) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = meta.permissions().mode() & 0o777;
    anyhow::ensure!(
        mode & 0o077 == 0,
        "the secret file {} can be read by group or others (mode {mode:o}); \
         run `chmod 600 {}`",
        path.display(),
        path.display()
    );
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_: &Path, _: &std::fs::Metadata) -> anyhow::Result<()> {
    Ok(())
}

fn create(path: &Path, value: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(format!("{value}\n").as_bytes())?;
    file.sync_all()
}

fn random_hex() -> anyhow::Result<String> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::SettingArgs;

    fn settings(pairs: &[(&'static str, &str)]) -> Settings {
        Settings::resolve(SettingArgs::from_pairs(pairs), &toml::Table::new()).unwrap()
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_file_is_created_private_once_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/dir/unattended.key");
        let first = from_file(&path).unwrap();
        assert_eq!(first.source, Source::Created(path.clone()));
        assert_eq!(first.expose().len(), 2 * SECRET_BYTES);
        assert!(first.expose().bytes().all(|b| b.is_ascii_hexdigit()));
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        let again = from_file(&path).unwrap();
        assert_eq!(again.source, Source::File(path.clone()));
        assert_eq!(again.expose(), first.expose());
        assert_ne!(
            from_file(&dir.path().join("other")).unwrap().expose(),
            first.expose()
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("unattended.key");
        std::fs::write(&path, "abc\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = from_file(&path).unwrap_err().to_string();
        assert!(e.contains("chmod 600") && e.contains("640"), "{e}");
        assert!(!e.contains("abc"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(from_file(&path).unwrap().expose(), "abc");
    }

    #[test]
    fn the_setting_wins_then_the_file_beside_sqlite_then_a_process_secret() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        let spec = StateSpec::Sqlite(db.clone());
        let given = resolve(&settings(&[("unattended_secret", "given")]), &spec).unwrap();
        assert_eq!((given.expose(), &given.source), ("given", &Source::Setting));
        assert!(!format!("{given:?}").contains("given"), "{given:?}");

        let beside = resolve(&settings(&[]), &spec).unwrap();
        let expected = dir.path().join("state.db.unattended-key");
        assert_eq!(beside.source, Source::Created(expected.clone()));
        let configured = dir.path().join("elsewhere.key");
        let file = configured.to_str().unwrap();
        let chosen = resolve(&settings(&[("unattended_secret_file", file)]), &spec).unwrap();
        assert_eq!(chosen.source, Source::Created(configured));
        assert_ne!(chosen.expose(), beside.expose());

        let a = resolve(&settings(&[]), &StateSpec::Memory).unwrap();
        let b = resolve(&settings(&[]), &StateSpec::Memory).unwrap();
        assert_eq!(a.source, Source::Process);
        assert_ne!(a.expose(), b.expose());
    }
}
