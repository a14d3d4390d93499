//! Log output that does not cost a system call (or a thread wake-up) per request: each event is
//! formatted into its own buffer, appended to a shared one, and a writer thread writes what has
//! gathered to standard error every few milliseconds. Profiling the cached menu GET at `info`
//! showed one `write(2)` per request, with threads contending for the stderr lock, as a large
//! share of the server's time; a channel to a writer thread moved that cost into futex wake-ups.
//! Nothing is dropped: past `MAX_PENDING` bytes a logger writes the backlog itself.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long a line may wait for the writer thread.
const WRITE_EVERY: Duration = Duration::from_millis(10);
/// Bytes waiting beyond which a logger writes them itself.
const MAX_PENDING: usize = 4 * 1024 * 1024;

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

/// One event's line, appended as a whole when the formatter is done with it.
pub struct Line {
    buffer: Vec<u8>,
    pending: Arc<Mutex<Vec<u8>>>,
}

impl Write for Line {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let mut shared = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        shared.extend_from_slice(&self.buffer);
        if shared.len() > MAX_PENDING {
            // The writer thread is behind (a stalled pipe): write here rather than grow.
            let _ = std::io::stderr().lock().write_all(&shared);
            shared.clear();
        }
    }
}

impl<'a> MakeWriter<'a> for BatchedStderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line {
            buffer: Vec::with_capacity(256),
            pending: self.pending.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
