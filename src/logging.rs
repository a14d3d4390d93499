//! Log output that does not cost a system call (or a thread wake-up) per request: each event is
//! formatted into its own buffer, appended to a shared one, and a writer thread writes what has
//! gathered to standard error every few milliseconds. Profiling the cached menu GET at `info`
//! showed one `write(2)` per request, with threads contending for the stderr lock, as a large
//! share of the server's time; a channel to a writer thread moved that cost into futex wake-ups.
//! Nothing is dropped: past `MAX_PENDING` bytes a logger writes the backlog itself.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// Set once the process logs in the plain format with a plain level filter (see
/// `use_plain_output`).
static PLAIN_OUTPUT: AtomicBool = AtomicBool::new(false);

/// How long a line may wait for the writer thread.
const WRITE_EVERY: Duration = Duration::from_millis(10);
/// Bytes waiting beyond which a logger writes them itself.
const MAX_PENDING: usize = 4 * 1024 * 1024;
/// The largest line buffer a thread keeps for its next line.
const MAX_KEPT_LINE: usize = 64 * 1024;

#[derive(Clone)]
pub struct BatchedStderr {
    pending: Arc<Mutex<Vec<u8>>>,
}

static STARTED: OnceLock<BatchedStderr> = OnceLock::new();

impl BatchedStderr {
    /// The process's writer (one writer thread, whoever asks).
    pub fn start() -> BatchedStderr {
        STARTED
            .get_or_init(|| {
                let writer = BatchedStderr {
                    pending: Arc::new(Mutex::new(Vec::with_capacity(64 * 1024))),
                };
                let pending = writer.pending.clone();
                std::thread::Builder::new()
                    .name("log-writer".into())
                    .spawn(move || {
                        let mut spare = Vec::with_capacity(64 * 1024);
                        loop {
                            // Its own thread, not an async worker: waiting here blocks nobody.
                            std::thread::park_timeout(WRITE_EVERY);
                            write_out(&pending, &mut spare);
                        }
                    })
                    .expect("starting the log writer thread");
                writer
            })
            .clone()
    }
}

/// Writes what is pending (swapping buffers, so loggers are not held up by the write).
fn write_out(pending: &Mutex<Vec<u8>>, spare: &mut Vec<u8>) {
    {
        let mut shared = pending.lock().unwrap_or_else(|e| e.into_inner());
        if shared.is_empty() {
            return;
        }
        std::mem::swap(&mut *shared, spare);
    }
    let _ = std::io::stderr().lock().write_all(spare);
    spare.clear();
}

/// Declares that the process's log output is `PlainLines` with `PlainFields` on the batched
/// writer, filtered by level per target only: a line written with `append_line` is then the
/// line the event would have made.
pub fn use_plain_output() {
    PLAIN_OUTPUT.store(true, Ordering::Relaxed);
}

pub fn plain_output() -> bool {
    PLAIN_OUTPUT.load(Ordering::Relaxed)
}

/// Appends the line `write` makes, as an event's line is appended. `false`: the batched
/// writer is not running.
pub fn append_line(write: impl FnOnce(&mut String) -> fmt::Result) -> bool {
    let Some(output) = STARTED.get() else {
        return false;
    };
    thread_local! {
        static TEXT: RefCell<String> = RefCell::new(String::with_capacity(512));
    }
    TEXT.with_borrow_mut(|text| {
        text.clear();
        if write(text).is_ok() {
            let mut line = output.make_writer();
            line.buffer.extend_from_slice(text.as_bytes());
        }
    });
    true
}

/// Writes every line logged so far (before the process exits).
pub fn flush() {
    if let Some(writer) = STARTED.get() {
        write_out(&writer.pending, &mut Vec::new());
    }
}

/// One event's line, appended as a whole when the formatter is done with it. Its buffer is the
/// thread's own, reused line after line.
pub struct Line<'a> {
    buffer: Vec<u8>,
    pending: &'a Mutex<Vec<u8>>,
}

thread_local! {
    static LINE_BUFFER: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(512));
}

impl Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line<'_> {
    fn drop(&mut self) {
        if !self.buffer.is_empty() {
            let mut shared = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            shared.extend_from_slice(&self.buffer);
            if shared.len() > MAX_PENDING {
                // The writer thread is behind (a stalled pipe): write here rather than grow.
                let _ = std::io::stderr().lock().write_all(&shared);
                shared.clear();
            }
        }
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        // A line logged while another is formatted on this thread keeps its own buffer.
        let _ = LINE_BUFFER.try_with(|spare| {
            // (An unusually long line's buffer is not kept for the thread's life.)
            if let Ok(mut spare) = spare.try_borrow_mut()
                && spare.capacity() < buffer.capacity()
                && buffer.capacity() <= MAX_KEPT_LINE
            {
                *spare = buffer;
            }
        });
    }
}

impl<'a> MakeWriter<'a> for BatchedStderr {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        let buffer = LINE_BUFFER
            .try_with(|spare| spare.try_borrow_mut().map(|mut b| std::mem::take(&mut *b)))
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        Line {
            buffer,
            pending: &self.pending,
        }
    }
}

/// The text log's line, as `tracing-subscriber`'s default (`Full`) writes it without colour:
/// `2026-12-02T11:23:18.802444Z  INFO span{field=…}: target: message key=value…` (a handler's
/// line carries its `request{request_id=…}` span; the access line has `request_id` itself).
/// Written out here because the default format was most of the cost of logging each request:
/// it formats the whole timestamp for every line (this one once a second per thread) and goes
/// through colour and padding wrappers even when colour is off.
pub struct PlainLines;

impl<S, N> FormatEvent<S, N> for PlainLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write_timestamp(&mut writer, SystemTime::now())?;
        writer.write_str(match *event.metadata().level() {
            Level::TRACE => " TRACE ",
            Level::DEBUG => " DEBUG ",
            Level::INFO => "  INFO ",
            Level::WARN => "  WARN ",
            Level::ERROR => " ERROR ",
        })?;
        if let Some(scope) = ctx.event_scope() {
            let mut any = false;
            for span in scope.from_root() {
                any = true;
                writer.write_str(span.name())?;
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(writer, "{{{fields}}}")?;
                }
                writer.write_char(':')?;
            }
            if any {
                writer.write_char(' ')?;
            }
        }
        writer.write_str(event.metadata().target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// An event's or a span's fields as `tracing-subscriber`'s `DefaultFields` writes them without
/// colour: `message key=value…`, strings quoted, the message (and errors) with terminal control
/// characters escaped. Profiled, `DefaultFields` cost a third of a cached menu GET's
/// instructions: every name and `=` goes through a colour wrapper (even with colour off), the
/// message through a formatter one character at a time, numbers through `Debug`. Here names and
/// numbers are written directly; anything else is formatted as before.
pub struct PlainFields;

impl<'writer> FormatFields<'writer> for PlainFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = PlainVisitor {
            writer,
            empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct PlainVisitor<'a> {
    writer: Writer<'a>,
    empty: bool,
    result: fmt::Result,
}

impl PlainVisitor<'_> {
    /// Writes what comes before the value (a space, `name=`). `None`: the field is not shown
    /// (`log.*` fields are the metadata of a `log` record, already on the line).
    fn begin(&mut self, field: &Field) -> Option<Shown> {
        if self.result.is_err() {
            return None;
        }
        let name = field.name();
        if name.starts_with("log.") {
            return None;
        }
        if !std::mem::take(&mut self.empty) {
            self.result = self.writer.write_char(' ');
        }
        if name == "message" {
            return Some(Shown::Message);
        }
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.result = self
            .result
            .and_then(|()| self.writer.write_str(name))
            .and_then(|()| self.writer.write_char('='));
        Some(Shown::Field)
    }

    fn write(&mut self, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        self.result = self.result.and_then(|()| value(&mut self.writer));
    }
}

enum Shown {
    Message,
    Field,
}

impl Visit for PlainVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match self.begin(field) {
            Some(Shown::Message) => self.write(|w| write!(Sanitized(w), "{value:?}")),
            Some(Shown::Field) => self.write(|w| write!(w, "{value:?}")),
            None => {}
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match self.begin(field) {
            Some(Shown::Message) => self.write(|w| Sanitized(w).write_str(value)),
            Some(Shown::Field) => self.write(|w| write!(w, "{value:?}")),
            None => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match self.begin(field) {
            Some(Shown::Field) => self.write(|w| write_integer(w, false, value)),
            Some(Shown::Message) => self.write(|w| write!(Sanitized(w), "{value:?}")),
            None => {}
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        match self.begin(field) {
            Some(Shown::Field) => {
                self.write(|w| write_integer(w, value < 0, value.unsigned_abs()));
            }
            Some(Shown::Message) => self.write(|w| write!(Sanitized(w), "{value:?}")),
            None => {}
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.begin(field).is_some() {
            self.write(|w| w.write_str(if value { "true" } else { "false" }));
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        match self.begin(field) {
            Some(Shown::Field) => self.write(|w| write_float(w, value)),
            Some(Shown::Message) => self.write(|w| write!(Sanitized(w), "{value:?}")),
            None => {}
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.begin(field).is_none() {
            return;
        }
        let name = field.name();
        self.write(|w| {
            write!(Sanitized(w), "{value}")?;
            let Some(source) = value.source() else {
                return Ok(());
            };
            write!(w, " {name}.sources=[")?;
            let mut next = Some(source);
            let mut first = true;
            while let Some(error) = next {
                if !std::mem::take(&mut first) {
                    w.write_str(", ")?;
                }
                write!(Sanitized(w), "{error}")?;
                next = error.source();
            }
            w.write_char(']')
        });
    }
}

/// `u64`'s `Display` (with a leading `-` when `negative`), without the formatter's padding pass.
pub(crate) fn write_integer(
    writer: &mut impl fmt::Write,
    negative: bool,
    value: u64,
) -> fmt::Result {
    let mut digits = [0u8; 21];
    let mut at = digits.len();
    let mut rest = value;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if negative {
        at -= 1;
        digits[at] = b'-';
    }
    // Only ASCII digits and '-' were written.
    writer.write_str(std::str::from_utf8(&digits[at..]).unwrap_or_default())
}

/// `f64`'s `Debug`. Durations in milliseconds to the microsecond (a few digits after the
/// point) are written from integers; what is not exactly such a number goes to `Debug`.
pub(crate) fn write_float(writer: &mut impl fmt::Write, value: f64) -> fmt::Result {
    // From 10^-3 up to 10^9 with at most three decimals, the shortest text that reads back
    // as `value` is its integer part and its trimmed thousandths (fewer than 13 significant
    // digits: no shorter decimal lands on the same double).
    if (0.001..1e9).contains(&value) {
        let thousandths = (value * 1000.0).round();
        if thousandths / 1000.0 == value {
            let thousandths = thousandths as u64;
            write_integer(writer, false, thousandths / 1000)?;
            let mut fraction = thousandths % 1000;
            if fraction == 0 {
                return writer.write_str(".0");
            }
            let mut text = [b'.', b'0', b'0', b'0'];
            for slot in text[1..].iter_mut().rev() {
                *slot = b'0' + (fraction % 10) as u8;
                fraction /= 10;
            }
            let mut end = text.len();
            while text[end - 1] == b'0' {
                end -= 1;
            }
            return writer.write_str(std::str::from_utf8(&text[..end]).unwrap_or_default());
        }
    }
    write!(writer, "{value:?}")
}

/// An IP address as its `Display` writes it; IPv4 without four passes through the formatter.
pub struct IpText(pub std::net::IpAddr);

impl fmt::Display for IpText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let std::net::IpAddr::V4(v4) = self.0 else {
            return self.0.fmt(f);
        };
        let mut text = [0u8; 15];
        let mut length = 0;
        for (index, octet) in v4.octets().into_iter().enumerate() {
            if index > 0 {
                text[length] = b'.';
                length += 1;
            }
            let digits = [octet / 100, octet / 10 % 10, octet % 10];
            let skip = if octet >= 100 {
                0
            } else if octet >= 10 {
                1
            } else {
                2
            };
            for digit in &digits[skip..] {
                text[length] = b'0' + digit;
                length += 1;
            }
        }
        // Only ASCII digits and dots were written.
        f.pad(std::str::from_utf8(&text[..length]).unwrap_or_default())
    }
}

/// Escapes the terminal control characters `DefaultFields` escapes in messages and errors
/// (ESC, BEL, BS, FF, DEL, and the C1 controls), passing clean runs through whole.
struct Sanitized<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Sanitized<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let bytes = text.as_bytes();
        let (mut clean, mut at) = (0, 0);
        while at < bytes.len() {
            let (escape, width): (&str, usize) = match bytes[at] {
                0x1b => ("\\x1b", 1),
                0x07 => ("\\x07", 1),
                0x08 => ("\\x08", 1),
                0x0c => ("\\x0c", 1),
                0x7f => ("\\x7f", 1),
                // U+0080..U+009F: 0xC2 then 0x80..0x9F in UTF-8.
                0xc2 if bytes.get(at + 1).is_some_and(|b| (0x80..=0x9f).contains(b)) => ("", 2),
                _ => {
                    at += 1;
                    continue;
                }
            };
            // Escapes start at character boundaries (ASCII, or a lead byte).
            self.0.write_str(&text[clean..at])?;
            if width == 1 {
                self.0.write_str(escape)?;
            } else {
                write!(self.0, "\\u{{{:x}}}", bytes[at + 1])?;
            }
            at += width;
            clean = at;
        }
        self.0.write_str(&text[clean..])
    }
}

/// RFC 3339 in UTC with microseconds; the part up to the second is formatted once per second
/// on each thread.
pub(crate) fn write_timestamp(writer: &mut impl fmt::Write, now: SystemTime) -> fmt::Result {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    SECOND.with_borrow_mut(|(second, text)| {
        if *second != since_epoch.as_secs() {
            *second = since_epoch.as_secs();
            text.clear();
            let whole = i64::try_from(*second)
                .ok()
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                .unwrap_or_default();
            write!(text, "{}", whole.format("%Y-%m-%dT%H:%M:%S"))?;
        }
        writer.write_str(text)?;
        let mut fraction = *b".000000Z";
        let mut micros = since_epoch.subsec_micros();
        for digit in fraction[1..7].iter_mut().rev() {
            *digit = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        // Only ASCII was written.
        writer.write_str(std::str::from_utf8(&fraction).unwrap_or_default())
    })
}

#[cfg(test)]
pub(crate) use tests::captured_plain_lines;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_keep_the_default_format() {
        let at = UNIX_EPOCH + Duration::from_micros(1_796_211_798_802_444);
        let mut text = String::new();
        write_timestamp(&mut text, at).unwrap();
        assert_eq!(text, "2026-12-02T11:43:18.802444Z");
        // The cached second is only reused within that second.
        let mut next = String::new();
        write_timestamp(&mut next, at + Duration::from_millis(1_500)).unwrap();
        assert_eq!(next, "2026-12-02T11:43:20.302444Z");
    }

    #[test]
    fn a_line_is_appended_whole_when_the_event_is_written() {
        let writer = BatchedStderr {
            pending: Arc::default(),
        };
        {
            let mut line = writer.make_writer();
            line.write_all(b"hello ").unwrap();
            line.write_all(b"world\n").unwrap();
            assert!(
                writer.pending.lock().unwrap().is_empty(),
                "appended before the end"
            );
        }
        drop(writer.make_writer());
        assert_eq!(&*writer.pending.lock().unwrap(), b"hello world\n");
    }

    /// Everything the events below write, formatted by the default line with `fields`.
    fn lines_with<N>(fields: N) -> String
    where
        N: for<'w> FormatFields<'w> + Send + Sync + 'static,
    {
        captured(fields, false, emit_every_kind_of_field)
    }

    fn captured<N>(fields: N, plain_lines: bool, emit: impl FnOnce()) -> String
    where
        N: for<'w> FormatFields<'w> + Send + Sync + 'static,
    {
        #[derive(Clone, Default)]
        struct Captured(Arc<Mutex<Vec<u8>>>);
        impl Write for Captured {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_max_level(Level::TRACE)
            .fmt_fields(fields)
            .with_writer({
                let captured = captured.clone();
                move || captured.clone()
            });
        if plain_lines {
            let subscriber = subscriber.event_format(PlainLines).finish();
            tracing::subscriber::with_default(subscriber, emit);
        } else {
            tracing::subscriber::with_default(subscriber.finish(), emit);
        }
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    /// What `emit` logs in the plain format the product writes.
    pub(crate) fn captured_plain_lines(emit: impl FnOnce()) -> String {
        captured(PlainFields, true, emit)
    }

    #[derive(Debug)]
    struct Failure(&'static str, Option<Box<Failure>>);
    impl fmt::Display for Failure {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Failure {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    fn emit_every_kind_of_field() {
        let span =
            tracing::info_span!("request", request_id = %"01a2-x", r#type = "guest", n = 5u64);
        let _entered = span.enter();
        tracing::info!(
            text = "quote \" tab \t newline \n and \u{1b}",
            display = %"plain display",
            debug = ?vec![1, 2],
            small = 7u16,
            big = u64::MAX,
            negative = -42i64,
            min = i64::MIN,
            zero = 0u64,
            yes = true,
            no = false,
            wide = u128::MAX,
            r#type = "raw",
            "message with \x1b[31m escape, \u{9b} a C1, \x07 bell, \x7f del, \u{a0} nbsp, é"
        );
        for value in [
            0.0,
            -0.0,
            1.0,
            1.5,
            0.001,
            0.0005,
            1e-7,
            0.1,
            2.675,
            0.1 + 0.2,
            1.4999760000000002,
            123_456.789,
            999_999_999.999,
            1e9,
            1e16,
            1e20,
            -2.5,
            f64::NAN,
            f64::INFINITY,
        ] {
            tracing::info!(duration_ms = value, "float");
        }
        let chain = Failure(
            "outer \u{1b} failure",
            Some(Box::new(Failure(
                "inner",
                Some(Box::new(Failure("root \u{85}", None))),
            ))),
        );
        tracing::warn!(
            error = &chain as &(dyn std::error::Error + 'static),
            "chained"
        );
        let single = Failure("alone", None);
        tracing::error!(error = &single as &(dyn std::error::Error + 'static));
        tracing::info!(message = "an explicit message field", other = 1);
        tracing::info!(answer = 42, "formatted {} message {:?}", "with", "args");
        tracing::debug!("no fields at all");
        tracing::info!(number = 3, status = 200u16);
        span.record("n", 6u64);
        tracing::trace!(after = "a span record", "end");
    }

    #[test]
    fn ip_addresses_are_written_as_their_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.100.255",
            "192.168.1.9",
            "::1",
            "fd00::2",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(IpText(ip).to_string(), ip.to_string());
        }
    }

    #[test]
    fn fields_are_written_as_the_default_formatter_writes_them() {
        let default = lines_with(tracing_subscriber::fmt::format::DefaultFields::new());
        let plain = lines_with(PlainFields);
        assert!(default.lines().count() > 25, "{default}");
        for (expected, written) in default.lines().zip(plain.lines()) {
            assert_eq!(written, expected);
        }
        assert_eq!(plain, default);
    }
}
