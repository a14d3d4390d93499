//! The ESC/POS commands a kitchen ticket needs, written directly: a dozen fixed byte sequences
//! (Epson's ESC/POS reference, which Korean thermal printers — Bixolon, Sewoo, Hwasung — follow).
//! The crates on crates.io bundle USB and serial drivers and image code this box does not need,
//! and none encodes EUC-KR; `encoding_rs` does that part.

use crate::domain::printer::TextEncoding;

const ESC: u8 = 0x1b;
const GS: u8 = 0x1d;
const FS: u8 = 0x1c;
const DLE: u8 = 0x10;
const EOT: u8 = 0x04;

/// `DLE EOT 1`: real-time printer status (one byte back, even while the printer is busy).
pub const STATUS_PRINTER: [u8; 3] = [DLE, EOT, 1];
/// `DLE EOT 4`: real-time roll paper sensor status.
pub const STATUS_PAPER: [u8; 3] = [DLE, EOT, 4];

/// What a status byte says is wrong, if anything. Bit layouts from the ESC/POS reference: the
/// fixed bits are 0 at bits 0 and 7 and 1 at bits 1 and 4; anything else is not a status byte.
pub fn status_problem(query: &[u8; 3], byte: u8) -> Option<&'static str> {
    if byte & 0b1001_0011 != 0b0001_0010 {
        return Some("the printer answered the status query with something else");
    }
    match query[2] {
        1 if byte & 0b0000_1000 != 0 => Some("the printer is offline"),
        4 if byte & 0b0110_0000 != 0 => Some("the printer is out of paper"),
        _ => None,
    }
}

/// A ticket being written: commands and text in the printer's encoding.
pub struct Ticket {
    bytes: Vec<u8>,
    encoding: TextEncoding,
}

impl Ticket {
    /// `ESC @` (initialise), then for EUC-KR `FS &` (double-byte character mode, which Korean
    /// models use for KS X 1001 text).
    pub fn new(encoding: TextEncoding) -> Ticket {
        let mut bytes = vec![ESC, b'@'];
        if encoding == TextEncoding::EucKr {
            bytes.extend([FS, b'&']);
        }
        Ticket { bytes, encoding }
    }

    /// Text as the guest or owner wrote it: control characters (ESC, GS, DLE … — which a
    /// printer would obey, e.g. to open the cash drawer) become spaces.
    pub fn text(&mut self, text: &str) -> &mut Self {
        let cleaned: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let text = cleaned.as_str();
        match self.encoding {
            TextEncoding::Utf8 => self.bytes.extend_from_slice(text.as_bytes()),
            TextEncoding::EucKr => {
                // Characters outside EUC-KR become '?' (encoding_rs would write an HTML entity).
                for ch in text.chars() {
                    let mut buf = [0u8; 4];
                    let (bytes, _, unmappable) =
                        encoding_rs::EUC_KR.encode(ch.encode_utf8(&mut buf));
                    if unmappable {
                        self.bytes.push(b'?');
                    } else {
                        self.bytes.extend_from_slice(&bytes);
                    }
                }
            }
        }
        self
    }

    pub fn line(&mut self, text: &str) -> &mut Self {
        self.text(text).newline()
    }

    pub fn newline(&mut self) -> &mut Self {
        self.bytes.push(b'\n');
        self
    }

    /// `ESC a n`: 0 left, 1 centre.
    pub fn centred(&mut self, on: bool) -> &mut Self {
        self.bytes.extend([ESC, b'a', u8::from(on)]);
        self
    }

    /// `ESC E n`: emphasised (bold).
    pub fn bold(&mut self, on: bool) -> &mut Self {
        self.bytes.extend([ESC, b'E', u8::from(on)]);
        self
    }

    /// `GS ! n`: double width and height (0x11), or normal (0x00). For Korean text in
    /// double-byte mode `FS !` sets the same for the double-byte font.
    pub fn big(&mut self, on: bool) -> &mut Self {
        let size = if on { 0x11 } else { 0x00 };
        self.bytes.extend([GS, b'!', size]);
        if self.encoding == TextEncoding::EucKr {
            let kanji = if on { 0x0c } else { 0x00 };
            self.bytes.extend([FS, b'!', kanji]);
        }
        self
    }

    /// `ESC d n` then `GS V 1`: feed past the cutter, partial cut.
    pub fn cut(&mut self) -> &mut Self {
        self.bytes.extend([ESC, b'd', 4, GS, b'V', 1]);
        self
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// How many columns `text` takes in the printer's font: East Asian wide characters take two.
pub fn width(text: &str) -> usize {
    text.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum()
}

fn is_wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6)
}

/// `left` and `right` on one line of `columns`, padded between; `left` wraps onto lines of its
/// own when both do not fit.
pub fn two_columns(left: &str, right: &str, columns: usize) -> Vec<String> {
    let right_width = width(right);
    let mut lines = wrap(left, columns.saturating_sub(right_width + 1).max(8));
    let last = lines.pop().unwrap_or_default();
    let gap = columns.saturating_sub(width(&last) + right_width).max(1);
    lines.push(format!("{last}{}{right}", " ".repeat(gap)));
    lines
}

/// Breaks `text` into lines of at most `columns` (by character; tickets are short).
pub fn wrap(text: &str, columns: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        let w = if is_wide(c) { 2 } else { 1 };
        if width(&current) + w > columns {
            lines.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_never_carries_printer_commands() {
        // ESC p 0 25 250 would open the cash drawer.
        for encoding in [TextEncoding::EucKr, TextEncoding::Utf8] {
            let mut ticket = Ticket::new(encoding);
            let start = ticket.bytes.len();
            ticket.text("양파\u{1b}p\u{0}\u{19}\u{fa}\u{1d}V\u{10}\u{4}빼주세요");
            let bytes = ticket.into_bytes();
            assert!(
                bytes[start..]
                    .iter()
                    .all(|b| ![0x1b, 0x1d, 0x10, 0x04, 0x00, 0x19].contains(b)),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn korean_text_is_euc_kr_and_the_unmappable_becomes_a_question_mark() {
        let mut ticket = Ticket::new(TextEncoding::EucKr);
        ticket.text("양념 🍗");
        let bytes = ticket.into_bytes();
        // ESC @, FS &, then 양 (BEC7) 념 (B3E4), a space, and ? for the emoji.
        assert_eq!(
            bytes,
            [0x1b, b'@', 0x1c, b'&', 0xbe, 0xe7, 0xb3, 0xe4, b' ', b'?']
        );
    }

    #[test]
    fn columns_count_korean_as_two() {
        assert_eq!(width("양념치킨 x2"), 11);
        assert_eq!(two_columns("콜라", "2", 10), vec!["콜라     2"]);
        assert_eq!(wrap("가나다라마", 6), vec!["가나다", "라마"]);
    }

    #[test]
    fn status_bytes_are_read_per_the_reference() {
        assert_eq!(status_problem(&STATUS_PRINTER, 0x12), None);
        assert!(status_problem(&STATUS_PRINTER, 0x1a).is_some()); // offline bit
        assert!(status_problem(&STATUS_PAPER, 0x72).is_some()); // paper end bits
        assert!(status_problem(&STATUS_PAPER, 0xff).is_some()); // not a status byte
    }
}
