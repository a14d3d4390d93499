//! Signed table URLs. The QR code on table 3 carries `sig` = HMAC-SHA256 over the restaurant id
//! and table label, keyed by a secret only this box knows, so a customer cannot forge a table
//! number (or another restaurant) by editing the URL.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

use crate::domain::ids::RestaurantId;

pub struct TableSigner {
    key: hmac::Key,
}

impl TableSigner {
    pub fn new(secret: &[u8]) -> TableSigner {
        TableSigner {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    fn message(restaurant: RestaurantId, table: &str) -> String {
        format!("ordersync-table:{restaurant}:{table}")
    }

    pub fn sign(&self, restaurant: RestaurantId, table: &str) -> String {
        let tag = hmac::sign(&self.key, Self::message(restaurant, table).as_bytes());
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// Constant-time check of a signature from a table URL.
    pub fn verify(&self, restaurant: RestaurantId, table: &str, sig: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(sig.trim()) else {
            return false;
        };
        hmac::verify(&self.key, Self::message(restaurant, table).as_bytes(), &tag).is_ok()
    }

    /// The URL printed as the table's QR code.
    pub fn url(&self, base_url: &str, restaurant: RestaurantId, table: &str) -> String {
        format!(
            "{}/t/{restaurant}/{}?sig={}",
            base_url.trim_end_matches('/'),
            encode_path_segment(table),
            self.sign(restaurant, table)
        )
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (table labels may be Korean).
pub fn encode_path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_restaurant_and_table() {
        let signer = TableSigner::new(&[1; 32]);
        let (a, b) = (RestaurantId::new(), RestaurantId::new());
        let sig = signer.sign(a, "3");
        assert!(signer.verify(a, "3", &sig));
        assert!(!signer.verify(a, "4", &sig));
        assert!(!signer.verify(b, "3", &sig));
        assert!(!signer.verify(a, "3", "not-base64!"));
        assert!(!TableSigner::new(&[2; 32]).verify(a, "3", &sig));
    }

    #[test]
    fn urls_encode_the_table_label() {
        let signer = TableSigner::new(&[1; 32]);
        let id = RestaurantId::new();
        let url = signer.url("https://box:8443/", id, "테라스 1");
        assert!(url.starts_with(&format!("https://box:8443/t/{id}/%ED%85%8C")));
        assert!(url.contains("%201?sig="));
    }
}
