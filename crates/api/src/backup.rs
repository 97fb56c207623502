//! `tessera backup --to FILE`: an online copy of the SQLite database.
//!
//! The copy is made with `VACUUM INTO` (one read transaction: safe while instances serve) into a
//! temporary file beside FILE, created with mode 0600 (the database holds password hashes and
//! sealed keys), synced, then renamed over FILE. A failure at any step removes the temporary file
//! and leaves FILE as it was: never a partial backup under the name you asked for.
//!
//! The master key is *not* in the copy: it is in `<data dir>/master.key` (or
//! `TESSERA_MASTER_KEY`) and must be backed up separately. Signing keys in the database are
//! sealed under it, refresh tokens and CSRF tokens are derived from it: a restored database is
//! useless without the same master key, and one master key with a stolen database is everything.

use std::io::Write;
use std::path::{Path, PathBuf};

use tessera_store::SeaStore;

use crate::config::Config;
use crate::startup::database_location;

/// What `tessera backup` did.
#[derive(Debug)]
pub struct Backup {
    pub database: String,
    pub target: PathBuf,
    pub bytes: u64,
}

/// Deletes the temporary file unless the backup was renamed into place.
struct Partial {
    path: PathBuf,
    keep: bool,
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Copies the configured SQLite database to `target`. Errors are one line, naming the path.
pub async fn backup(config: &Config, target: &Path) -> Result<Backup, String> {
    let url = config.database_url.expose();
    if !url.starts_with("sqlite:") {
        return Err(format!(
            "backup copies SQLite databases; {} is PostgreSQL: use pg_dump, e.g. \
             pg_dump --format=custom --file=tessera.dump \"$DATABASE_URL\"",
            database_location(url)
        ));
    }
    let database = database_location(url);
    if !Path::new(&database).is_file() {
        return Err(format!(
            "no database at {database} (check TESSERA_DATA_DIR / DATABASE_URL)"
        ));
    }
    let fail = |message: &dyn std::fmt::Display| format!("cannot write the backup to {}: {message}", target.display());
    let name = target
        .file_name()
        .ok_or_else(|| fail(&"the path names no file"))?
        .to_string_lossy()
        .into_owned();
    if target.is_dir() {
        return Err(fail(&"it is a directory"));
    }
    let dir = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let partial = Partial {
        path: dir.join(format!(".{name}.partial-{}", hex::encode(rand::random::<[u8; 6]>()))),
        keep: false,
    };
    create_private_empty(&partial.path).map_err(|e| fail(&e))?;

    let store = SeaStore::connect(url).await.map_err(|e| e.to_string())?;
    let partial_text = partial
        .path
        .to_str()
        .ok_or_else(|| fail(&"the path is not valid UTF-8"))?;
    store.vacuum_into(partial_text).await.map_err(|e| fail(&e))?;
    drop(store);

    let file = std::fs::File::open(&partial.path).map_err(|e| fail(&e))?;
    file.sync_all().map_err(|e| fail(&e))?;
    let bytes = file.metadata().map_err(|e| fail(&e))?.len();
    drop(file);
    std::fs::rename(&partial.path, target).map_err(|e| fail(&e))?;
    let mut partial = partial;
    partial.keep = true;
    // Make the rename itself durable.
    if let Ok(dir) = std::fs::File::open(&dir) {
        let _ = dir.sync_all();
    }
    Ok(Backup {
        database,
        target: target.to_path_buf(),
        bytes,
    })
}

/// An empty file only the owner can read, created fresh (never an existing one).
fn create_private_empty(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.flush()
}
