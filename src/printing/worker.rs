//! The worker that sends queued print jobs. Jobs are rows the stores write in the same
//! transaction as the order change behind them; this loop only moves them from PENDING through
//! SENDING to DONE, so a job survives restarts and printer outages and prints once (see
//! `send` for the one place a ticket can print twice).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

use super::send::send_ticket;
use crate::clock::Clock;
use crate::domain::ids::PrinterId;
use crate::http::metrics::Metrics;
use crate::store::{PrintJob, Store};

/// The lease that elects the instance sending print jobs.
const PRINT_LEASE: &str = "print-worker";
/// Jobs looked at per pass.
const BATCH: usize = 100;
/// How long a job stays SENDING before another pass may send it again: longer than a send can
/// take (connect, status, write and confirmation timeouts together), so only a worker that
/// stopped mid-send leaves a job to be taken up again.
const SEND_LEASE: Duration = Duration::from_secs(30);
/// The longest wait between two tries on a printer that does not take its tickets.
const MAX_RETRY: Duration = Duration::from_secs(60);

pub struct PrintWorker {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    clock: Clock,
    poll: Duration,
    retry_base: Duration,
    /// This process, as the holder of the worker lease.
    instance: String,
    /// Whether this instance holds the lease (printer tasks stop when it does not).
    leading: AtomicBool,
    /// Printers with a task sending to them.
    busy: Mutex<HashSet<PrinterId>>,
}

/// A printer marked as having a task; unmarked when dropped.
struct Busy {
    worker: Arc<PrintWorker>,
    printer: PrinterId,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.worker
            .busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.printer);
    }
}

/// What became of one job.
enum Sent {
    Printed,
    /// The printer did not take it; it waits for its retry.
    Waiting,
    /// It was no longer due when the task came to it.
    NotDue,
}

impl PrintWorker {
    pub fn new(
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        clock: Clock,
        poll: Duration,
        retry_base: Duration,
    ) -> PrintWorker {
        PrintWorker {
            store,
            metrics,
            clock,
            poll,
            retry_base,
            instance: uuid::Uuid::new_v4().to_string(),
            leading: AtomicBool::new(false),
            busy: Mutex::new(HashSet::new()),
        }
    }
}

/// The wait before try `attempts + 1`: doubling from `base`, at most a minute.
pub fn retry_delay(base: Duration, attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    base.saturating_mul(1 << doublings).min(MAX_RETRY.max(base))
}

fn later(now: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX)
}

impl PrintWorker {
    pub async fn run(self) {
        let this = Arc::new(self);
        let mut tick = tokio::time::interval(this.poll.max(Duration::from_millis(20)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // One task per printer with work, living across passes: a printer working through a
        // backlog (or timing out) never holds up another, and the lease is renewed meanwhile.
        // Dropped with this loop, so the tasks stop with the server.
        let mut printers: JoinSet<()> = JoinSet::new();
        loop {
            tick.tick().await;
            while let Some(done) = printers.try_join_next() {
                if let Err(err) = done {
                    tracing::error!(error = %err, "a printer task failed");
                }
            }
            // One instance sends at a time (printers take one connection at a time anyway); if
            // it stops, another takes over when its lease lapses.
            let ttl = (this.poll * 3).max(Duration::from_secs(5));
            match this
                .store
                .acquire_lease(PRINT_LEASE.into(), this.instance.clone(), ttl)
                .await
            {
                Ok(true) => {
                    if !this.leading.swap(true, Ordering::SeqCst) {
                        tracing::info!(instance = %this.instance, "this instance sends print jobs");
                    }
                }
                Ok(false) => {
                    this.leading.store(false, Ordering::SeqCst);
                    continue;
                }
                Err(err) => {
                    // Not sure we still lead: the printer tasks finish their current ticket.
                    this.leading.store(false, Ordering::SeqCst);
                    tracing::warn!(error = %err, "could not renew the print worker lease");
                    continue;
                }
            }
            if let Err(err) = this.start_printers(&mut printers).await {
                tracing::warn!(error = %err, "looking for print jobs failed");
            }
        }
    }

    /// Starts a task for each printer with due jobs and none running: it sends them one after
    /// another in the order they were queued, stopping at the first the printer does not take.
    async fn start_printers(self: &Arc<Self>, printers: &mut JoinSet<()>) -> anyhow::Result<()> {
        let due = self.store.due_print_jobs(self.clock.now(), BATCH).await?;
        let mut queues: BTreeMap<PrinterId, Vec<PrintJob>> = BTreeMap::new();
        for job in due {
            queues.entry(job.printer_id).or_default().push(job);
        }
        for (printer, jobs) in queues {
            if !self
                .busy
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(printer)
            {
                continue;
            }
            let this = self.clone();
            printers.spawn(async move {
                // Frees the printer however the task ends, a panic included.
                let _busy = Busy {
                    worker: this.clone(),
                    printer,
                };
                for job in jobs {
                    if !this.leading.load(Ordering::SeqCst) {
                        break;
                    }
                    match this.send(&job).await {
                        Ok(Sent::Printed) => {}
                        Ok(Sent::Waiting | Sent::NotDue) => break,
                        Err(err) => {
                            tracing::warn!(error = %err, job = %job.id, "recording a print job failed");
                            break;
                        }
                    }
                }
            });
        }
        Ok(())
    }

    /// Sends one job.
    async fn send(&self, job: &PrintJob) -> anyhow::Result<Sent> {
        let now = self.clock.now();
        if !self
            .store
            .print_job_sending(job.id, now, later(now, SEND_LEASE))
            .await?
        {
            // Dropped, retried by the owner, or taken by another instance: the queue as read
            // is stale, so stop and read it again.
            return Ok(Sent::NotDue);
        }
        match send_ticket(&job.address, &job.payload).await {
            Ok(delivery) => {
                self.store.print_job_done(job.id, self.clock.now()).await?;
                self.metrics
                    .print_jobs
                    .with_label_values(&["printed"])
                    .inc();
                tracing::info!(job = %job.id, printer = %job.printer_id, kind = job.kind.as_str(), ?delivery, "ticket printed");
                Ok(Sent::Printed)
            }
            Err(err) => {
                let wait = retry_delay(self.retry_base, job.attempts + 1);
                self.store
                    .print_job_failed(job.id, err.0.clone(), later(self.clock.now(), wait))
                    .await?;
                self.metrics.print_jobs.with_label_values(&["failed"]).inc();
                tracing::warn!(job = %job.id, printer = %job.printer_id, address = %job.address, error = %err, retry_in = ?wait, "printer did not take the ticket");
                Ok(Sent::Waiting)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_up_to_a_minute() {
        let base = Duration::from_secs(2);
        assert_eq!(retry_delay(base, 1), Duration::from_secs(2));
        assert_eq!(retry_delay(base, 2), Duration::from_secs(4));
        assert_eq!(retry_delay(base, 5), Duration::from_secs(32));
        assert_eq!(retry_delay(base, 6), Duration::from_secs(60));
        assert_eq!(retry_delay(base, 40), Duration::from_secs(60));
    }
}
