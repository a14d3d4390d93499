//! The worker that sends queued print jobs. Jobs are rows the stores write in the same
//! transaction as the order change behind them; this loop only moves them from PENDING through
//! SENDING to DONE, so a job survives restarts and printer outages and prints once (see
//! `send` for the one place a ticket can print twice).

use std::collections::BTreeMap;
use std::sync::Arc;
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
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    pub clock: Clock,
    pub poll: Duration,
    pub retry_base: Duration,
    /// This process, as the holder of the worker lease.
    pub instance: String,
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
        let mut leading = false;
        loop {
            tick.tick().await;
            // One instance sends at a time (printers take one connection at a time anyway); if
            // it stops, another takes over when its lease lapses.
            let ttl = (this.poll * 3).max(Duration::from_secs(5));
            match this
                .store
                .acquire_lease(PRINT_LEASE.into(), this.instance.clone(), ttl)
                .await
            {
                Ok(true) => {
                    if !leading {
                        tracing::info!(instance = %this.instance, "this instance sends print jobs");
                    }
                    leading = true;
                }
                Ok(false) => {
                    leading = false;
                    continue;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "could not renew the print worker lease");
                    continue;
                }
            }
            if let Err(err) = this.clone().pass().await {
                tracing::warn!(error = %err, "print pass failed");
            }
        }
    }

    /// Sends every due job: printers in parallel, each printer's jobs one after another in the
    /// order they were queued, stopping at its first failure.
    async fn pass(self: Arc<Self>) -> anyhow::Result<()> {
        let due = self.store.due_print_jobs(self.clock.now(), BATCH).await?;
        let mut queues: BTreeMap<PrinterId, Vec<PrintJob>> = BTreeMap::new();
        for job in due {
            queues.entry(job.printer_id).or_default().push(job);
        }
        let mut printers = JoinSet::new();
        for (_, jobs) in queues {
            let this = self.clone();
            printers.spawn(async move {
                for job in jobs {
                    match this.send(&job).await {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(err) => {
                            tracing::warn!(error = %err, job = %job.id, "recording a print job failed");
                            break;
                        }
                    }
                }
            });
        }
        while printers.join_next().await.is_some() {}
        Ok(())
    }

    /// Sends one job; `false` when the printer did not take it (the job waits for a retry).
    async fn send(&self, job: &PrintJob) -> anyhow::Result<bool> {
        let now = self.clock.now();
        if !self
            .store
            .print_job_sending(job.id, now, later(now, SEND_LEASE))
            .await?
        {
            return Ok(true);
        }
        match send_ticket(&job.address, &job.payload).await {
            Ok(delivery) => {
                self.store.print_job_done(job.id, self.clock.now()).await?;
                self.metrics
                    .print_jobs
                    .with_label_values(&["printed"])
                    .inc();
                tracing::info!(job = %job.id, printer = %job.printer_id, kind = job.kind.as_str(), ?delivery, "ticket printed");
                Ok(true)
            }
            Err(err) => {
                let wait = retry_delay(self.retry_base, job.attempts + 1);
                self.store
                    .print_job_failed(job.id, err.0.clone(), later(self.clock.now(), wait))
                    .await?;
                self.metrics.print_jobs.with_label_values(&["failed"]).inc();
                tracing::warn!(job = %job.id, printer = %job.printer_id, address = %job.address, error = %err, retry_in = ?wait, "printer did not take the ticket");
                Ok(false)
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
