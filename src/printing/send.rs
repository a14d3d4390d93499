//! One ticket over a printer's raw TCP port (JetDirect, usually 9100), and how we know the
//! printer took it.
//!
//! A printer that answers `DLE EOT` status queries is asked before the ticket (so a printer
//! that is offline or out of paper gets nothing and the job waits) and again after it: the
//! printer reads its input in order, so that second answer means it has every byte of the
//! ticket. A printer that does not answer gets the ticket, our end of the connection is
//! closed, and the ticket counts as taken when the printer closes its end without an error.
//!
//! Where a ticket can print twice: the printer took it but the answer (or the worker's record
//! of it) was lost — the connection broke after the last byte, or the box stopped between the
//! printer's answer and the job being marked done. The job is then sent again. Nowhere else.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::escpos::{STATUS_PAPER, STATUS_PRINTER, status_problem};

const CONNECT: Duration = Duration::from_secs(3);
/// How long a printer that supports status queries takes to answer one at most; one that has
/// not answered by then is taken as not answering them at all.
const FIRST_ANSWER: Duration = Duration::from_secs(1);
const WRITE: Duration = Duration::from_secs(10);
/// How long the printer may take to read the whole ticket (it prints as it reads).
const TAKEN: Duration = Duration::from_secs(8);

/// How the printer took the ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// It answered a status query sent after the ticket.
    Acknowledged,
    /// It does not answer status queries; it read the ticket and closed the connection.
    Written,
}

/// Why a ticket did not print, in words for the owner's board.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SendError(pub String);

fn failed(what: &str, err: impl std::fmt::Display) -> SendError {
    SendError(format!("{what}: {err}"))
}

/// Sends `ticket` to the printer at `address` (`host:port`).
pub async fn send_ticket(address: &str, ticket: &[u8]) -> Result<Delivery, SendError> {
    let mut stream = timeout(CONNECT, TcpStream::connect(address))
        .await
        .map_err(|_| SendError("the printer did not answer (connection timed out)".into()))?
        .map_err(|err| failed("cannot reach the printer", err))?;
    let _ = stream.set_nodelay(true);
    let answers = match ask(&mut stream, &STATUS_PRINTER, FIRST_ANSWER).await? {
        Some(byte) => {
            check(&STATUS_PRINTER, byte)?;
            let paper = ask(&mut stream, &STATUS_PAPER, FIRST_ANSWER).await?;
            if let Some(byte) = paper {
                check(&STATUS_PAPER, byte)?;
            }
            true
        }
        None => false,
    };
    timeout(WRITE, stream.write_all(ticket))
        .await
        .map_err(|_| SendError("the printer stopped taking data".into()))?
        .map_err(|err| failed("the connection to the printer broke", err))?;
    if answers {
        let byte = ask(&mut stream, &STATUS_PRINTER, TAKEN)
            .await?
            .ok_or_else(|| SendError("the printer did not confirm the ticket".into()))?;
        check(&STATUS_PRINTER, byte).map_err(incomplete)?;
        if let Some(byte) = ask(&mut stream, &STATUS_PAPER, FIRST_ANSWER).await? {
            check(&STATUS_PAPER, byte).map_err(incomplete)?;
        }
        let _ = stream.shutdown().await;
        return Ok(Delivery::Acknowledged);
    }
    stream
        .shutdown()
        .await
        .map_err(|err| failed("the connection to the printer broke", err))?;
    let mut rest = [0u8; 64];
    loop {
        match timeout(TAKEN, stream.read(&mut rest)).await {
            Ok(Ok(0)) => return Ok(Delivery::Written),
            Ok(Ok(_)) => continue,
            Ok(Err(err)) => return Err(failed("the printer dropped the ticket", err)),
            Err(_) => return Err(SendError("the printer did not take the ticket".into())),
        }
    }
}

fn incomplete(err: SendError) -> SendError {
    SendError(format!("{} (the ticket may be incomplete)", err.0))
}

fn check(query: &[u8; 3], byte: u8) -> Result<(), SendError> {
    match status_problem(query, byte) {
        Some(problem) => Err(SendError(problem.into())),
        None => Ok(()),
    }
}

/// Sends a status query; `None` if no answer came within `wait`.
async fn ask(
    stream: &mut TcpStream,
    query: &[u8; 3],
    wait: Duration,
) -> Result<Option<u8>, SendError> {
    stream
        .write_all(query)
        .await
        .map_err(|err| failed("the connection to the printer broke", err))?;
    let mut byte = [0u8; 1];
    match timeout(wait, stream.read(&mut byte)).await {
        Err(_) => Ok(None),
        Ok(Ok(0)) => Err(SendError("the printer closed the connection".into())),
        Ok(Ok(_)) => Ok(Some(byte[0])),
        Ok(Err(err)) => Err(failed("the connection to the printer broke", err)),
    }
}
