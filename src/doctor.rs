//! What the box knows about its own footing in the shop: its addresses (and whether the address
//! printed into the table QR codes is still one of them), the router-facing MAC address, its
//! certificate, disk space, and a watch on the clock. The board's status endpoint and
//! `ordersync doctor` both read it from here.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::clock::Clock;

/// This box's addresses: the configured ones (`--interface-addresses`, for boxes whose kernel
/// tables say nothing useful, and for tests), else the kernel's.
pub fn own_addresses(configured: &[IpAddr]) -> Vec<IpAddr> {
    if configured.is_empty() {
        crate::tls::interface_addresses()
    } else {
        configured.to_vec()
    }
}

/// Whether the address in the printed QR codes still reaches this box.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PrintedHost {
    /// One of the box's addresses (or a name that resolves to one).
    Here,
    /// Not an address of this box any more: printed QR codes lead nowhere.
    Moved,
    /// A name this box cannot vouch for (e.g. a public domain in front of a proxy).
    NotChecked,
}

#[derive(Clone, Debug, Serialize)]
pub struct PrintedUrlCheck {
    pub base_url: String,
    pub host: String,
    pub status: PrintedHost,
}

/// Checks a printed base URL's host against the box's addresses. IP literals are compared;
/// `.local` names and the box's own host name are resolved and compared; other names (a
/// domain in front of a proxy) are not judged.
pub async fn check_printed_url(base_url: &str, own: &[IpAddr]) -> PrintedUrlCheck {
    let parsed = reqwest::Url::parse(base_url).ok();
    let host = parsed
        .as_ref()
        .and_then(|u| u.host_str())
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_owned();
    let port = parsed
        .as_ref()
        .and_then(|u| u.port_or_known_default())
        .unwrap_or(80);
    let status = if let Ok(ip) = host.parse::<IpAddr>() {
        if ip.is_loopback() || own.contains(&ip) {
            PrintedHost::Here
        } else {
            PrintedHost::Moved
        }
    } else if host == "localhost" {
        PrintedHost::Here
    } else if host.ends_with(".local") || host == crate::tls::host_name() {
        let lookup = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::lookup_host((host.as_str(), port)),
        )
        .await;
        match lookup {
            Ok(Ok(found)) => {
                let found: Vec<IpAddr> = found.map(|a| a.ip()).collect();
                if found.iter().any(|ip| ip.is_loopback() || own.contains(ip)) {
                    PrintedHost::Here
                } else {
                    PrintedHost::Moved
                }
            }
            _ => PrintedHost::NotChecked,
        }
    } else {
        PrintedHost::NotChecked
    };
    PrintedUrlCheck {
        base_url: base_url.to_owned(),
        host,
        status,
    }
}

/// The network interface of the default route and its MAC address: what a router's "reserve
/// this address" (DHCP reservation) screen asks for.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkCard {
    pub interface: String,
    pub mac_address: String,
}

pub fn network_card() -> Option<NetworkCard> {
    let routes = std::fs::read_to_string("/proc/net/route").ok()?;
    let interface = routes
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|fields| fields.get(1) == Some(&"00000000"))
        .and_then(|fields| fields.first().map(|i| (*i).to_owned()))
        .or_else(|| {
            // No default route (a shop router without internet): any wired or wireless card.
            std::fs::read_dir("/sys/class/net")
                .ok()?
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| name != "lo")
                .min()
        })?;
    let mac = std::fs::read_to_string(format!("/sys/class/net/{interface}/address")).ok()?;
    Some(NetworkCard {
        interface,
        mac_address: mac.trim().to_owned(),
    })
}

/// The certificate the box serves, as far as it knows it.
#[derive(Clone, Debug, Serialize)]
pub struct CertificateInfo {
    /// `local`: issued by the box's own CA; `operator`: the operator's (`--tls-cert`).
    pub source: &'static str,
    pub names: Vec<String>,
    pub not_after: Option<NaiveDate>,
}

pub fn certificate(data_dir: &Path, operator_cert: Option<&Path>) -> Option<CertificateInfo> {
    if let Some(path) = operator_cert {
        return Some(CertificateInfo {
            source: "operator",
            names: vec![path.display().to_string()],
            not_after: None,
        });
    }
    let meta = std::fs::read_to_string(data_dir.join("tls").join("server.names")).ok()?;
    let mut lines = meta.lines();
    let not_after = lines
        .next()
        .and_then(|l| l.strip_prefix("not_after="))
        .and_then(|d| d.parse().ok());
    Some(CertificateInfo {
        source: "local",
        names: lines.map(str::to_owned).collect(),
        not_after,
    })
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct DiskSpace {
    pub available_bytes: u64,
    pub total_bytes: u64,
}

pub fn disk_space(dir: &Path) -> Option<DiskSpace> {
    let stats = rustix::fs::statvfs(dir).ok()?;
    Some(DiskSpace {
        available_bytes: stats.f_bavail.saturating_mul(stats.f_frsize),
        total_bytes: stats.f_blocks.saturating_mul(stats.f_frsize),
    })
}

/// A clock that moved by more than this between two looks (beyond the time that really
/// passed) is reported: business days and order times depend on it.
pub const CLOCK_JUMP_LIMIT: chrono::Duration = chrono::Duration::minutes(2);

/// How long a clock jump stays on the board.
pub const CLOCK_WARNING_FOR: chrono::Duration = chrono::Duration::minutes(15);

#[derive(Clone, Debug, Serialize)]
pub struct ClockJump {
    /// Positive: the clock leapt ahead; negative: it went back.
    pub by_seconds: i64,
    pub at: DateTime<Utc>,
}

/// Watches the business clock against the monotonic clock; remembers the last jump.
#[derive(Default)]
pub struct ClockWatch {
    last_jump: Mutex<Option<ClockJump>>,
}

impl ClockWatch {
    /// The last jump, while it is recent (the owner setting the clock right is a jump too, and
    /// a warning that never leaves is one nobody reads).
    pub fn recent_jump(&self, now: DateTime<Utc>) -> Option<ClockJump> {
        self.last_jump
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .filter(|jump| (now - jump.at).abs() < CLOCK_WARNING_FOR)
    }

    pub async fn run(&self, clock: Clock, every: Duration) {
        let (mut wall, mut steady) = (clock.now(), Instant::now());
        loop {
            tokio::time::sleep(every).await;
            let (now_wall, now_steady) = (clock.now(), Instant::now());
            let passed = chrono::Duration::from_std(now_steady - steady).unwrap_or_default();
            let jump = (now_wall - wall) - passed;
            if jump.abs() > CLOCK_JUMP_LIMIT {
                tracing::warn!(
                    by_seconds = jump.num_seconds(),
                    "the clock jumped; business days and order times follow it"
                );
                *self.last_jump.lock().unwrap_or_else(|e| e.into_inner()) = Some(ClockJump {
                    by_seconds: jump.num_seconds(),
                    at: now_wall,
                });
            }
            (wall, steady) = (now_wall, now_steady);
        }
    }
}

/// The clock is behind the newest stored order by more than a moment: it went back.
pub fn behind_newest_order(
    now: DateTime<Utc>,
    newest_order: Option<DateTime<Utc>>,
) -> Option<chrono::Duration> {
    let behind = newest_order? - now;
    (behind > chrono::Duration::minutes(1)).then_some(behind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn printed_addresses_are_judged_against_the_box() {
        let own: Vec<IpAddr> = vec!["192.168.0.23".parse().unwrap()];
        let here = check_printed_url("http://192.168.0.23:8080", &own).await;
        assert_eq!(here.status, PrintedHost::Here);
        let moved = check_printed_url("http://192.168.0.10:8080", &own).await;
        assert_eq!(
            (moved.status, moved.host.as_str()),
            (PrintedHost::Moved, "192.168.0.10")
        );
        let v6 = check_printed_url("http://[fd00::2]:8080", &own).await;
        assert_eq!(v6.status, PrintedHost::Moved);
        let domain = check_printed_url("https://order.example.com", &own).await;
        assert_eq!(domain.status, PrintedHost::NotChecked);
    }

    #[test]
    fn a_clock_behind_the_newest_order_is_noticed() {
        let now = Utc::now();
        assert!(behind_newest_order(now, None).is_none());
        assert!(behind_newest_order(now, Some(now - chrono::Duration::hours(1))).is_none());
        let behind = behind_newest_order(now, Some(now + chrono::Duration::hours(1))).unwrap();
        assert_eq!(behind.num_minutes(), 60);
    }
}
