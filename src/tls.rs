//! TLS material: the operator's certificate (`--tls-cert/--tls-key`), or a local CA made once
//! and kept in `<data dir>/tls/`, plus a server certificate it signs for this box's names and
//! LAN addresses. Owners install the CA (`GET /ca.crt`) once; when the box's address changes
//! or the server certificate nears expiry, only the server certificate is re-issued, so devices
//! keep trusting the box.

use std::collections::BTreeSet;
use std::fs;
use std::net::{IpAddr, UdpSocket};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use chrono::{Datelike, Duration, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use ring::digest;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::secrets::write_private;

/// Apple platforms refuse server certificates valid for more than 825 days.
const SERVER_CERT_DAYS: i64 = 800;
const RENEW_WHEN_DAYS_LEFT: i64 = 30;
const CA_YEARS: i32 = 20;

pub struct TlsMaterial {
    pub server_config: Arc<ServerConfig>,
    /// PEM of the local CA, when the box made its own.
    pub ca_pem: Option<String>,
}

/// rustls needs one process-wide crypto provider; ours is ring (small, fast first handshake).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn load_operator_certificate(cert: &Path, key: &Path) -> anyhow::Result<TlsMaterial> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing certificate {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading private key {}", key.display()))?;
    Ok(TlsMaterial {
        server_config: server_config(chain, key)?,
        ca_pem: None,
    })
}

/// Loads or creates the local CA and a server certificate covering `names`.
pub fn load_or_create_local(dir: &Path, names: &[String]) -> anyhow::Result<TlsMaterial> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let (ca_pem, ca_key) = load_or_create_ca(dir)?;
    let (server_pem, server_key_pem) = load_or_issue_server_cert(dir, &ca_key, names)?;

    let mut chain = vec![CertificateDer::from_pem_slice(server_pem.as_bytes())?];
    chain.push(CertificateDer::from_pem_slice(ca_pem.as_bytes())?);
    let key = PrivateKeyDer::from_pem_slice(server_key_pem.as_bytes())?;
    Ok(TlsMaterial {
        server_config: server_config(chain, key)?,
        ca_pem: Some(ca_pem),
    })
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> anyhow::Result<Arc<ServerConfig>> {
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .context("certificate and key do not match")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The CA's parameters are derived from its key alone, so the issuer can be rebuilt on every
/// start without parsing the stored certificate.
fn ca_params(key: &KeyPair) -> anyhow::Result<CertificateParams> {
    let fingerprint = digest::digest(&digest::SHA256, key.public_key_raw());
    let short: String = fingerprint.as_ref()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut params = CertificateParams::new(Vec::new())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("OrderSync local CA {short}"));
    params
        .distinguished_name
        .push(DnType::OrganizationName, "OrderSync");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

fn load_or_create_ca(dir: &Path) -> anyhow::Result<(String, KeyPair)> {
    let (cert_path, key_path) = (dir.join("ca.crt"), dir.join("ca.key"));
    if cert_path.exists() && key_path.exists() {
        let key = KeyPair::from_pem(&fs::read_to_string(&key_path)?)
            .with_context(|| format!("parsing {}", key_path.display()))?;
        return Ok((fs::read_to_string(&cert_path)?, key));
    }
    let key = KeyPair::generate()?;
    let mut params = ca_params(&key)?;
    let today = Utc::now().date_naive();
    params.not_before = date_time(today - Duration::days(1));
    params.not_after = rcgen::date_time_ymd(today.year() + CA_YEARS, 1, 1);
    let cert = params.self_signed(&key)?;
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    fs::write(&cert_path, cert.pem())?;
    // A new CA invalidates any server certificate signed by an old one.
    let _ = fs::remove_file(dir.join("server.names"));
    tracing::info!(path = %cert_path.display(), "created local certificate authority");
    Ok((cert.pem(), key))
}

fn load_or_issue_server_cert(
    dir: &Path,
    ca_key: &KeyPair,
    names: &[String],
) -> anyhow::Result<(String, String)> {
    let (cert_path, key_path, names_path) = (
        dir.join("server.crt"),
        dir.join("server.key"),
        dir.join("server.names"),
    );
    let wanted: BTreeSet<String> = names.iter().cloned().collect();
    let today = Utc::now().date_naive();
    if let (Ok(cert), Ok(key), Ok(meta)) = (
        fs::read_to_string(&cert_path),
        fs::read_to_string(&key_path),
        fs::read_to_string(&names_path),
    ) {
        let mut lines = meta.lines();
        let not_after = lines
            .next()
            .and_then(|l| l.strip_prefix("not_after="))
            .and_then(|d| d.parse::<chrono::NaiveDate>().ok());
        let covered: BTreeSet<String> = lines.map(str::to_owned).collect();
        let fresh = not_after.is_some_and(|d| d - today > Duration::days(RENEW_WHEN_DAYS_LEFT));
        if fresh && wanted.is_subset(&covered) {
            return Ok((cert, key));
        }
    }
    // Keep names the old certificate covered, so an address that comes and goes stays valid.
    let mut all = wanted;
    if let Ok(meta) = fs::read_to_string(&names_path) {
        all.extend(meta.lines().skip(1).map(str::to_owned));
    }
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(all.iter().cloned().collect::<Vec<_>>())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("OrderSync {}", host_name()));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let not_before = today - Duration::days(1);
    let not_after = today + Duration::days(SERVER_CERT_DAYS);
    params.not_before = date_time(not_before);
    params.not_after = date_time(not_after);
    let issuer = Issuer::new(ca_params(ca_key)?, ca_key);
    let cert = params.signed_by(&key, &issuer)?;

    write_private(&key_path, key.serialize_pem().as_bytes())?;
    fs::write(&cert_path, cert.pem())?;
    let mut meta = format!("not_after={not_after}\n");
    for name in &all {
        meta.push_str(name);
        meta.push('\n');
    }
    fs::write(&names_path, meta)?;
    tracing::info!(names = ?all, "issued server certificate");
    Ok((cert.pem(), key.serialize_pem()))
}

/// Midnight UTC of `date`, in rcgen's time type.
fn date_time(date: chrono::NaiveDate) -> time::OffsetDateTime {
    // Month and day come from a valid date, so they fit in a u8.
    rcgen::date_time_ymd(date.year(), date.month() as u8, date.day() as u8)
}

pub fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The address other machines on the LAN reach this box at: the source address the kernel
/// would pick for an outside destination (no packet is sent).
pub fn lan_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

/// The host part of the box's default URL: the default route's address, else any interface
/// address phones could reach; `localhost` (with a warning) only when there is none.
pub fn box_host() -> String {
    // Without a default route: a home-router style address first (192.168/16, then 10/8), then
    // other IPv4 (172.16/12 is also where container bridges live), then IPv6.
    let preference = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) if v4.octets()[..2] == [192, 168] => 0,
        IpAddr::V4(v4) if v4.octets()[0] == 10 => 1,
        IpAddr::V4(_) => 2,
        IpAddr::V6(_) => 3,
    };
    let reachable =
        lan_address().or_else(|| interface_addresses().into_iter().min_by_key(preference));
    match reachable {
        Some(IpAddr::V4(ip)) => ip.to_string(),
        Some(IpAddr::V6(ip)) => format!("[{ip}]"),
        None => {
            tracing::warn!(
                "no network address found: links and QR codes will say localhost, which phones \
                 cannot open; set PUBLIC_BASE_URL"
            );
            "localhost".to_owned()
        }
    }
}

/// Every address of this box's network interfaces that another machine could use: IPv4 from
/// the kernel's routing table (`/proc/net/fib_trie`, its `/32 host LOCAL` entries) and global
/// IPv6 (`/proc/net/if_inet6`); loopback and link-local addresses left out. Empty where
/// `/proc` says nothing (not Linux).
pub fn interface_addresses() -> Vec<IpAddr> {
    let mut found = fs::read_to_string("/proc/net/fib_trie")
        .map(|text| local_ipv4_from_fib_trie(&text))
        .unwrap_or_default();
    if let Ok(text) = fs::read_to_string("/proc/net/if_inet6") {
        found.extend(global_ipv6_from_if_inet6(&text));
    }
    found.sort();
    found.dedup();
    found
}

fn local_ipv4_from_fib_trie(text: &str) -> Vec<IpAddr> {
    let mut found = Vec::new();
    let mut last: Option<std::net::Ipv4Addr> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(address) = line.strip_prefix("|-- ") {
            last = address.parse().ok();
        } else if line.starts_with("/32 host LOCAL")
            && let Some(ip) = last.take()
            && !ip.is_loopback()
            && !ip.is_link_local()
        {
            found.push(IpAddr::V4(ip));
        }
    }
    found
}

fn global_ipv6_from_if_inet6(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let hex = fields.next()?;
            let scope = fields.nth(2)?;
            let flags = u8::from_str_radix(fields.next()?, 16).ok()?;
            // Temporary (privacy) and deprecated addresses come and go; naming them would only
            // churn the certificate.
            const TEMPORARY_OR_DEPRECATED: u8 = 0x01 | 0x20;
            if scope != "00" || hex.len() != 32 || flags & TEMPORARY_OR_DEPRECATED != 0 {
                return None;
            }
            let bits = u128::from_str_radix(hex, 16).ok()?;
            Some(IpAddr::V6(std::net::Ipv6Addr::from(bits)))
        })
        .collect()
}

/// Every name a client might use for this box.
pub fn local_names(extra_host: Option<&str>) -> Vec<String> {
    let host = host_name();
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if host != "localhost" {
        names.push(format!("{host}.local"));
        names.push(host);
    }
    names.extend(lan_address().iter().map(IpAddr::to_string));
    // Every interface (Wi-Fi and Ethernet, say), not just the one the default route uses.
    names.extend(interface_addresses().iter().map(IpAddr::to_string));
    if let Some(extra) = extra_host {
        names.push(extra.to_owned());
    }
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_addresses_come_from_the_kernel_tables() {
        let fib_trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n\
             \x20          |-- 127.0.0.1\n              /32 host LOCAL\n\
             \x20          |-- 192.168.0.0\n              /24 link UNICAST\n\
             \x20          |-- 192.168.0.10\n              /32 host LOCAL\n\
             \x20       |-- 192.168.0.255\n           /32 link BROADCAST\n\
             \x20          |-- 10.8.0.7\n              /32 host LOCAL\n\
             \x20          |-- 169.254.3.4\n              /32 host LOCAL\n";
        assert_eq!(
            local_ipv4_from_fib_trie(fib_trie),
            ["192.168.0.10", "10.8.0.7"].map(|ip| ip.parse::<IpAddr>().unwrap())
        );
        let if_inet6 = "fd000000000000000000000000000002 04 40 00 82     eth0\n\
                        00000000000000000000000000000001 01 80 10 80       lo\n\
                        fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n\
                        20010db8000000001c2d3e4f5a6b7c8d 04 40 00 01     eth0\n";
        assert_eq!(
            global_ipv6_from_if_inet6(if_inet6),
            ["fd00::2".parse::<IpAddr>().unwrap()]
        );
    }
}
