//! Log output that does not cost a system call (or a thread wake-up) per request: each event is
//! formatted into its own buffer, appended to a shared one, and a writer thread writes what has
//! gathered to standard error every few milliseconds. Profiling the cached menu GET at `info`
//! showed one `write(2)` per request, with threads contending for the stderr lock, as a large
//! share of the server's time; a channel to a writer thread moved that cost into futex wake-ups.
//! Nothing is dropped: past `MAX_PENDING` bytes a logger writes the backlog itself.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

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

/// RFC 3339 in UTC with microseconds; the part up to the second is formatted once per second
/// on each thread.
fn write_timestamp(writer: &mut impl fmt::Write, now: SystemTime) -> fmt::Result {
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
        write!(writer, "{text}.{:06}Z", since_epoch.subsec_micros())
    })
}

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
}
