//! Backups of a box: its SQLite database and the secrets that give it meaning (the QR signing
//! key — printed table codes depend on it —, the token key, the local CA), in one file.
//!
//! A backup is taken with `VACUUM INTO` on a connection of its own: a consistent snapshot of
//! the database as of one moment, read while the server keeps writing (a file copy of a live
//! WAL database would not be). The secrets ride inside the copy, in a table `backup_files`,
//! which a restore writes back to the data directory and drops. Every night the server keeps
//! one in `<data dir>/backups/`, 14 daily and 8 weekly.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Datelike, Local, NaiveDateTime, Timelike};
use rusqlite::{Connection, OpenFlags, params};

use crate::secrets::write_private;

pub const BACKUP_DIR: &str = "backups";
const KEEP_DAILY: usize = 14;
const KEEP_WEEKLY: usize = 8;
/// Nightly backups are taken from this local hour on (the quietest time of a restaurant).
const NIGHTLY_FROM_HOUR: u32 = 4;
const FILE_PREFIX: &str = "ordersync-";
const FILE_TIME: &str = "%Y%m%d-%H%M%S";

/// Held by a running server for its data directory: a restore must not swap the database
/// under it.
pub struct ServerLock {
    _file: File,
}

impl ServerLock {
    pub fn acquire(data_dir: &Path) -> anyhow::Result<ServerLock> {
        fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let path = data_dir.join("server.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        if file.try_lock().is_err() {
            bail!(
                "another ordersync server is running on {} (its lock {} is held)",
                data_dir.display(),
                path.display()
            );
        }
        Ok(ServerLock { _file: file })
    }
}

/// The files beside the database that a restored box needs, relative to the data directory.
fn secret_files(data_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for name in ["table.secret", "jwt.secret"] {
        if data_dir.join(name).is_file() {
            files.push(PathBuf::from(name));
        }
    }
    let tls = data_dir.join("tls");
    if tls.is_dir() {
        for entry in fs::read_dir(&tls)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                files.push(PathBuf::from("tls").join(entry.file_name()));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// What `take` wrote.
#[derive(Debug)]
pub struct Backup {
    pub path: PathBuf,
    pub bytes: u64,
    pub orders: i64,
    pub files: usize,
}

/// Writes a backup of the database at `db` (and the secrets in `data_dir`) to `out`, which must
/// not exist yet. Blocking.
pub fn take(db: &Path, data_dir: &Path, out: &Path) -> anyhow::Result<Backup> {
    if out.exists() {
        bail!("{} already exists; choose a new file", out.display());
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let partial = out.with_extension("partial");
    let _ = fs::remove_file(&partial);
    let source = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", db.display()))?;
    source.busy_timeout(Duration::from_secs(30))?;
    source
        .execute("VACUUM INTO ?1", [partial.to_string_lossy()])
        .context("copying the database")?;
    drop(source);
    let result = (|| {
        let copy = Connection::open(&partial)?;
        check_integrity(&copy)?;
        copy.execute_batch(
            "CREATE TABLE backup_files (path TEXT PRIMARY KEY, content BLOB NOT NULL)",
        )?;
        let files = secret_files(data_dir)?;
        for file in &files {
            let content = fs::read(data_dir.join(file))
                .with_context(|| format!("reading {}", file.display()))?;
            copy.execute(
                "INSERT INTO backup_files (path, content) VALUES (?1, ?2)",
                params![file.to_string_lossy(), content],
            )?;
        }
        let orders: i64 = copy.query_row("SELECT count(*) FROM orders", [], |r| r.get(0))?;
        drop(copy);
        File::open(&partial)?.sync_all()?;
        anyhow::Ok((orders, files.len()))
    })();
    let (orders, files) = match result {
        Ok(counts) => counts,
        Err(err) => {
            let _ = fs::remove_file(&partial);
            return Err(err);
        }
    };
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&partial, fs::Permissions::from_mode(0o600))?;
    fs::rename(&partial, out)?;
    Ok(Backup {
        bytes: fs::metadata(out)?.len(),
        path: out.to_owned(),
        orders,
        files,
    })
}

fn check_integrity(conn: &Connection) -> anyhow::Result<()> {
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if verdict != "ok" {
        bail!("the database fails its integrity check: {verdict}");
    }
    Ok(())
}

/// Checks that `file` is an intact OrderSync backup; returns its schema version.
pub fn verify(file: &Path) -> anyhow::Result<i64> {
    let conn = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", file.display()))?;
    check_integrity(&conn).with_context(|| format!("{} is damaged", file.display()))?;
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'
               AND name IN ('orders', 'restaurants', 'users', 'backup_files')",
            [],
            |r| r.get(0),
        )
        .with_context(|| format!("{} is not an SQLite database", file.display()))?;
    if tables != 4 {
        bail!("{} is not an OrderSync backup", file.display());
    }
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Puts the backup `file` in place of the database at `db` and its secrets into `data_dir`.
/// The replaced database is kept beside it (`….replaced-<time>`). Refuses while a server runs
/// on the data directory. Blocking.
pub fn restore(file: &Path, db: &Path, data_dir: &Path) -> anyhow::Result<PathBuf> {
    let _lock = ServerLock::acquire(data_dir)
        .context("stop the server before restoring (a restore replaces its database)")?;
    let version = verify(file)?;
    let known = crate::store::sqlite::SCHEMA_VERSION as i64;
    if version > known {
        bail!(
            "{} comes from a newer OrderSync (schema {version}, this one knows {known}): \
             restore it with that version",
            file.display()
        );
    }
    // Everything is checked before anything is replaced.
    let incoming = db.with_extension("restoring");
    let _ = fs::remove_file(&incoming);
    fs::copy(file, &incoming).with_context(|| format!("copying {}", file.display()))?;
    let files: Vec<(String, Vec<u8>)> = {
        let conn = Connection::open(&incoming)?;
        let files: Vec<(String, Vec<u8>)> = conn
            .prepare("SELECT path, content FROM backup_files ORDER BY path")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        if let Some((path, _)) = files.iter().find(|(path, _)| !is_secret_path(path)) {
            drop(conn);
            let _ = fs::remove_file(&incoming);
            bail!("the backup holds a file it should not: {path}");
        }
        conn.execute_batch("DROP TABLE backup_files")?;
        files
    };
    let stamp = Local::now().format(FILE_TIME).to_string();
    let mut replaced = db.as_os_str().to_owned();
    replaced.push(format!(".replaced-{stamp}"));
    let replaced = PathBuf::from(replaced);
    if db.exists() {
        fs::rename(db, &replaced)?;
    }
    // The old database's write-ahead log must go with it: left behind, it would be replayed
    // into the restored file.
    for suffix in ["-wal", "-shm"] {
        let mut side = db.as_os_str().to_owned();
        side.push(suffix);
        let side = PathBuf::from(side);
        if side.exists() {
            let mut moved = replaced.as_os_str().to_owned();
            moved.push(suffix);
            fs::rename(&side, PathBuf::from(moved))?;
        }
    }
    fs::rename(&incoming, db)?;
    for (path, content) in files {
        let target = data_dir.join(&path);
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir)?;
        }
        write_private(&target, &content)?;
    }
    Ok(replaced)
}

/// The files a backup may carry: the two secrets and what is directly in `tls/`.
fn is_secret_path(path: &str) -> bool {
    match path.split_once('/') {
        None => path == "table.secret" || path == "jwt.secret",
        Some(("tls", name)) => {
            !name.is_empty() && !name.contains('/') && name != "." && name != ".."
        }
        _ => false,
    }
}

fn backup_time(name: &str) -> Option<NaiveDateTime> {
    let stamp = name.strip_prefix(FILE_PREFIX)?.strip_suffix(".db")?;
    NaiveDateTime::parse_from_str(stamp, FILE_TIME).ok()
}

/// The backups in `dir`, newest first.
pub fn list(dir: &Path) -> Vec<(NaiveDateTime, PathBuf)> {
    let mut found: Vec<(NaiveDateTime, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            backup_time(&name).map(|t| (t, e.path()))
        })
        .collect();
    found.sort_by_key(|(time, _)| std::cmp::Reverse(*time));
    found
}

/// Which backups to delete: beyond the newest of each of the last 14 days that have one, keep
/// the newest of each of 8 older weeks.
pub fn to_prune(backups: &[(NaiveDateTime, PathBuf)]) -> Vec<PathBuf> {
    let mut days = Vec::new();
    let mut weeks = Vec::new();
    let mut delete = Vec::new();
    for (time, path) in backups {
        let day = time.date();
        let week = (day.iso_week().year(), day.iso_week().week());
        if days.len() < KEEP_DAILY && !days.contains(&day) {
            days.push(day);
            weeks.push(week);
        } else if days.len() >= KEEP_DAILY
            && !weeks.contains(&week)
            && weeks.len() < KEEP_DAILY + KEEP_WEEKLY
        {
            weeks.push(week);
        } else {
            delete.push(path.clone());
        }
    }
    delete
}

/// Takes tonight's backup if it is due: none yet since 04:00 today (local time), and it is
/// past 04:00. Returns what it wrote.
pub fn nightly(db: &Path, data_dir: &Path, now: DateTime<Local>) -> anyhow::Result<Option<Backup>> {
    let dir = data_dir.join(BACKUP_DIR);
    let today_from = now
        .date_naive()
        .and_hms_opt(NIGHTLY_FROM_HOUR, 0, 0)
        .expect("a valid hour");
    if now.hour() < NIGHTLY_FROM_HOUR {
        return Ok(None);
    }
    let backups = list(&dir);
    if backups.first().is_some_and(|(t, _)| *t >= today_from) {
        return Ok(None);
    }
    let name = format!("{FILE_PREFIX}{}.db", now.format(FILE_TIME));
    let backup = take(db, data_dir, &dir.join(name))?;
    for old in to_prune(&list(&dir)) {
        if let Err(err) = fs::remove_file(&old) {
            tracing::warn!(path = %old.display(), error = %err, "could not delete an old backup");
        }
    }
    Ok(Some(backup))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn fourteen_daily_and_eight_weekly_backups_are_kept() {
        // One backup a day for 120 days, newest first.
        let start = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let backups: Vec<(NaiveDateTime, PathBuf)> = (0..120)
            .map(|i| {
                let day = start - chrono::Duration::days(i);
                (
                    day.and_hms_opt(4, 0, 0).unwrap(),
                    PathBuf::from(format!("{i}")),
                )
            })
            .collect();
        let delete = to_prune(&backups);
        let kept: Vec<&NaiveDateTime> = backups
            .iter()
            .filter(|(_, p)| !delete.contains(p))
            .map(|(t, _)| t)
            .collect();
        // The 14 newest days, then one per week for eight more weeks.
        assert_eq!(kept.len(), 14 + 8, "{kept:?}");
        assert!(
            kept[..14]
                .windows(2)
                .all(|w| (*w[0] - *w[1]).num_days() == 1)
        );
        let weekly: Vec<_> = kept[14..].iter().map(|t| t.date().iso_week()).collect();
        assert!(weekly.windows(2).all(|w| w[0] != w[1]));
        // Two backups on one day: the older one goes.
        let twice = vec![
            (start.and_hms_opt(5, 0, 0).unwrap(), PathBuf::from("late")),
            (start.and_hms_opt(4, 0, 0).unwrap(), PathBuf::from("early")),
        ];
        assert_eq!(to_prune(&twice), vec![PathBuf::from("early")]);
    }

    #[test]
    fn a_backup_carries_only_the_secrets() {
        for good in ["table.secret", "jwt.secret", "tls/ca.crt", "tls/server.key"] {
            assert!(is_secret_path(good), "{good}");
        }
        for bad in [
            "ordersync.db",
            "../x",
            "tls/../ordersync.db",
            "tls/a/b",
            "/etc/passwd",
            "tls/",
            "tls/..",
        ] {
            assert!(!is_secret_path(bad), "{bad}");
        }
    }

    #[test]
    fn backup_names_carry_their_time() {
        assert!(backup_time("ordersync-20261202-040000.db").is_some());
        assert!(backup_time("ordersync-2026.db").is_none());
        assert!(backup_time("other.db").is_none());
    }
}
