//! The single SQLite writer: one thread owns the only write connection, so writers queue in Rust
//! instead of fighting over the database lock (`SQLITE_BUSY` never reaches a user).
//!
//! Group commit: the thread takes every job waiting in its queue (up to `MAX_BATCH`) and runs
//! them in one `BEGIN IMMEDIATE … COMMIT`, each inside its own savepoint so a failing job rolls
//! back alone. One fsync then makes a whole batch durable. A job's caller hears its result only
//! after the commit, so nothing is reported (or published) before it is on disk.
//!
//! Events a job produces wait in the transaction's outbox and are published, in commit (and
//! so sequence) order, right after the commit succeeds; a job that fails loses its events.

use std::cell::RefCell;
use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::events::{EventBus, LiveEvent};
use crate::store::{StoreError, StoreResult};

/// The open write transaction as a job sees it: the connection, plus the outbox.
pub struct Tx<'a> {
    conn: &'a Connection,
    outbox: RefCell<Vec<LiveEvent>>,
}

impl Deref for Tx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Tx<'_> {
    /// Queues `event` for live clients; it goes out only if this transaction commits.
    pub fn publish_after_commit(&self, event: LiveEvent) {
        self.outbox.borrow_mut().push(event);
    }
}

const MAX_BATCH: usize = 64;
const QUEUE_DEPTH: usize = 4096;

type Work<T> = Box<dyn FnOnce(&Tx<'_>) -> StoreResult<T> + Send>;

/// A job with its result type erased so the thread can batch jobs of any type.
trait Job: Send {
    /// Runs the work inside the open transaction; returns whether it succeeded.
    fn run(&mut self, tx: &Tx<'_>) -> bool;
    /// Delivers the outcome once the batch's fate is known.
    fn finish(self: Box<Self>, commit: Result<(), &StoreError>);
}

struct TypedJob<T> {
    work: Option<Work<T>>,
    result: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T: Send + 'static> Job for TypedJob<T> {
    fn run(&mut self, tx: &Tx<'_>) -> bool {
        let work = self.work.take().expect("job runs once");
        let result = match catch_unwind(AssertUnwindSafe(|| work(tx))) {
            Ok(result) => result,
            Err(_) => Err(StoreError::Other(anyhow::anyhow!("write job panicked"))),
        };
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), &StoreError>) {
        let result = match (commit, self.result) {
            (Ok(()), Some(result)) => result,
            (Err(_), Some(Err(own))) => Err(own),
            (Err(commit_err), _) => Err(clone_error(commit_err)),
            (Ok(()), None) => Err(StoreError::Other(anyhow::anyhow!("job did not run"))),
        };
        // The caller may have gone away (client disconnected); the write still happened.
        let _ = self.reply.send(result);
    }
}

fn clone_error(err: &StoreError) -> StoreError {
    match err {
        StoreError::NotFound => StoreError::NotFound,
        StoreError::Conflict(what) => StoreError::Conflict(what.clone()),
        StoreError::Unavailable(why) => StoreError::Unavailable(why.clone()),
        StoreError::OutOfSpace(why) => StoreError::OutOfSpace(why.clone()),
        StoreError::Other(cause) => StoreError::Other(anyhow::anyhow!("{cause:#}")),
    }
}

#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    pub fn start(conn: Connection, bus: Arc<dyn EventBus>) -> std::io::Result<Writer> {
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, &*bus, jobs))?;
        Ok(Writer { queue })
    }

    /// Runs `work` in a write transaction and returns its result once committed.
    pub async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> StoreResult<T> + Send + 'static,
    {
        let (reply, outcome) = oneshot::channel();
        let job = Box::new(TypedJob {
            work: Some(Box::new(work)),
            result: None,
            reply,
        });
        self.queue
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("database writer has stopped".into()))?;
        outcome
            .await
            .map_err(|_| StoreError::Unavailable("database writer has stopped".into()))?
    }
}

fn writer_loop(conn: Connection, bus: &dyn EventBus, mut jobs: mpsc::Receiver<Box<dyn Job>>) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    // Ends when every `Writer` handle is dropped (the store is gone).
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&conn, bus, &mut batch);
    }
}

fn run_batch(conn: &Connection, bus: &dyn EventBus, batch: &mut Vec<Box<dyn Job>>) {
    if let Err(err) = conn.execute_batch("BEGIN IMMEDIATE") {
        let err = StoreError::from(err);
        for job in batch.drain(..) {
            job.finish(Err(&err));
        }
        return;
    }
    let tx = Tx {
        conn,
        outbox: RefCell::new(Vec::new()),
    };
    for job in batch.iter_mut() {
        let published_before = tx.outbox.borrow().len();
        let savepoint = conn.execute_batch("SAVEPOINT job");
        let ok = savepoint.is_ok() && job.run(&tx);
        if !ok {
            tx.outbox.borrow_mut().truncate(published_before);
        }
        let cleanup = if ok {
            conn.execute_batch("RELEASE job")
        } else {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")
        };
        if let Err(err) = cleanup {
            tracing::error!(error = %err, "savepoint cleanup failed");
        }
    }
    let commit = conn.execute_batch("COMMIT").map_err(StoreError::from);
    match &commit {
        Ok(()) => {
            for event in tx.outbox.into_inner() {
                bus.publish(event);
            }
        }
        Err(err) => {
            tracing::error!(error = %err, "commit failed; batch rolled back");
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    for job in batch.drain(..) {
        job.finish(commit.as_ref().map(|_| ()));
    }
}
