//! Secrets the box generates for itself on first start and keeps in the data directory
//! (mode 0600), so tokens and signed table URLs stay valid across restarts.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::{SecureRandom, SystemRandom};

pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random source failed");
    bytes
}

/// Lower-case hexadecimal, for digests in names and ETags.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads the secret stored at `path`, creating it with `len` random bytes if it is missing.
pub fn load_or_create(path: &Path, len: usize) -> anyhow::Result<Vec<u8>> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let secret = STANDARD
                .decode(text.trim())
                .with_context(|| format!("{} is not valid base64", path.display()))?;
            if secret.len() < 32 {
                bail!("{} holds fewer than 32 bytes of secret", path.display());
            }
            warn_if_readable_by_others(path);
            Ok(secret)
        }
        Err(err) if err.kind() == ErrorKind::NotFound => create(path, len),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

fn create(path: &Path, len: usize) -> anyhow::Result<Vec<u8>> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let secret = random_bytes(len);
    // create_new: if another process won the race, use its secret instead of overwriting it.
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            file.write_all(STANDARD.encode(&secret).as_bytes())?;
            file.sync_all()?;
            Ok(secret)
        }
        Err(err) if err.kind() == ErrorKind::AlreadyExists => load_or_create(path, len),
        Err(err) => Err(err).with_context(|| format!("creating {}", path.display())),
    }
}

/// Writes `contents` to `path` readable only by the owner.
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}

fn warn_if_readable_by_others(path: &Path) {
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "secret file is readable by other users; chmod 600 it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_created_once_with_private_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/jwt.secret");
        let first = load_or_create(&path, 64).unwrap();
        let second = load_or_create(&path, 64).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.len(), 64);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
