//! A network thermal printer on loopback, written from the ESC/POS reference and independent of
//! the server's ticket code: it takes raw TCP connections like port 9100 of a Korean kitchen
//! printer, answers `DLE EOT` status queries (or not), reads tickets up to each cut, and decodes
//! their text from EUC-KR. It can be switched off, refuse, hang, drop a connection mid-ticket or
//! run out of paper.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Prints, and answers status queries.
    Normal,
    /// Prints, and never answers status queries (many cheap printers).
    Silent,
    /// Accepts a connection and closes it at once.
    Refuse,
    /// Accepts a connection and never reads from it.
    Hang,
    /// Reads this many bytes of a connection, then drops it.
    CloseAfter(usize),
    /// Answers status queries with "offline, paper end" and prints nothing.
    PaperOut,
}

/// One ticket as it came out of the printer: everything up to a cut.
#[derive(Clone, Debug)]
pub struct Printed {
    /// The text, decoded from EUC-KR, lines separated by '\n'.
    pub text: String,
    /// The lines printed in double size (`GS !` with a size other than 0).
    pub big_lines: Vec<String>,
}

#[derive(Default)]
struct Shared {
    mode: Option<Mode>,
    tickets: Vec<Printed>,
    /// Bytes of connections that ended without a cut (a ticket torn off mid-way).
    torn: usize,
    status_queries: usize,
    hung: Vec<TcpStream>,
}

pub struct PrinterSim {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    listener: Option<JoinHandle<()>>,
}

impl PrinterSim {
    pub async fn start(mode: Mode) -> PrinterSim {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Mutex::new(Shared {
            mode: Some(mode),
            ..Default::default()
        }));
        let mut sim = PrinterSim {
            addr,
            shared,
            listener: None,
        };
        sim.listener = Some(sim.serve(listener));
        sim
    }

    /// `host:port` as the owner types it.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    pub fn set_mode(&self, mode: Mode) {
        let mut shared = self.shared.lock().unwrap();
        shared.mode = Some(mode);
        shared.hung.clear();
    }

    /// Unplugged: connections are refused by the operating system.
    pub fn power_off(&mut self) {
        if let Some(task) = self.listener.take() {
            task.abort();
        }
        self.shared.lock().unwrap().hung.clear();
    }

    /// Plugged back in, at the same address.
    pub async fn power_on(&mut self) {
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(err) if tries < 50 => {
                    tries += 1;
                    let _ = err;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(err) => panic!("cannot listen on {} again: {err}", self.addr),
            }
        };
        self.listener = Some(self.serve(listener));
    }

    pub fn tickets(&self) -> Vec<Printed> {
        self.shared.lock().unwrap().tickets.clone()
    }

    pub fn torn_bytes(&self) -> usize {
        self.shared.lock().unwrap().torn
    }

    pub fn status_queries(&self) -> usize {
        self.shared.lock().unwrap().status_queries
    }

    /// Waits until `count` tickets came out (or `wait` passed) and returns them all.
    pub async fn wait_for(&self, count: usize, wait: Duration) -> Vec<Printed> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let tickets = self.tickets();
            if tickets.len() >= count || tokio::time::Instant::now() >= deadline {
                return tickets;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    fn serve(&self, listener: TcpListener) -> JoinHandle<()> {
        let shared = self.shared.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let shared = shared.clone();
                tokio::spawn(connection(stream, shared));
            }
        })
    }
}

impl Drop for PrinterSim {
    fn drop(&mut self) {
        self.power_off();
    }
}

const ESC: u8 = 0x1b;
const GS: u8 = 0x1d;
const FS: u8 = 0x1c;
const DLE: u8 = 0x10;
const EOT: u8 = 0x04;

async fn connection(mut stream: TcpStream, shared: Arc<Mutex<Shared>>) {
    let mode = { shared.lock().unwrap().mode.unwrap_or(Mode::Normal) };
    match mode {
        Mode::Refuse => return,
        Mode::Hang => {
            shared.lock().unwrap().hung.push(stream);
            return;
        }
        _ => {}
    }
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let mut scanned = 0;
    loop {
        let limit = match mode {
            Mode::CloseAfter(n) => n.saturating_sub(data.len()).min(buf.len()),
            _ => buf.len(),
        };
        if limit == 0 {
            // Dropped with unread bytes: the sender sees a reset.
            shared.lock().unwrap().torn += data.len();
            return;
        }
        let n = match stream.read(&mut buf[..limit]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        data.extend_from_slice(&buf[..n]);
        // Real-time status queries are answered as soon as they are read.
        while let Some(pos) = find_status_query(&data[scanned..]) {
            let at = scanned + pos;
            let n = data[at + 2];
            scanned = at + 3;
            shared.lock().unwrap().status_queries += 1;
            if let Some(answer) = status_answer(mode, n) {
                let _ = stream.write_all(&[answer]).await;
            }
        }
    }
    let (tickets, rest) = split_tickets(&data);
    let mut shared = shared.lock().unwrap();
    shared.torn += rest;
    shared.tickets.extend(tickets);
}

fn find_status_query(data: &[u8]) -> Option<usize> {
    data.windows(3)
        .position(|w| w[0] == DLE && w[1] == EOT && (1..=4).contains(&w[2]))
}

/// Status bytes per the ESC/POS reference: bits 1 and 4 always set.
fn status_answer(mode: Mode, query: u8) -> Option<u8> {
    let paper_out = mode == Mode::PaperOut;
    match (mode, query) {
        (Mode::Silent, _) => None,
        (_, 1) => Some(if paper_out { 0x12 | 0x08 } else { 0x12 | 0x04 }),
        (_, 2) => Some(if paper_out { 0x12 | 0x20 } else { 0x12 }),
        (_, 4) => Some(if paper_out { 0x12 | 0x60 } else { 0x12 }),
        _ => Some(0x12),
    }
}

/// The tickets in a connection's bytes (each ends with a cut) and how many bytes came after the
/// last cut.
fn split_tickets(data: &[u8]) -> (Vec<Printed>, usize) {
    let mut tickets = Vec::new();
    let mut text: Vec<u8> = Vec::new();
    let mut line_is_big = false;
    let mut big = false;
    let mut big_lines = Vec::new();
    let mut start_of_ticket = 0;
    let mut i = 0;
    let finish_line = |text: &[u8], line_start: usize, big: bool, big_lines: &mut Vec<String>| {
        if big {
            let line = encoding_rs::EUC_KR.decode(&text[line_start..]).0;
            big_lines.push(line.trim().to_owned());
        }
    };
    let mut line_start = 0;
    while i < data.len() {
        let b = data[i];
        let next = data.get(i + 1).copied();
        match b {
            ESC => {
                i += match next {
                    Some(b'@') => 2,
                    _ => 3,
                };
            }
            GS => match next {
                Some(b'!') => {
                    big = data.get(i + 2).is_some_and(|n| *n != 0);
                    line_is_big |= big;
                    i += 3;
                }
                Some(b'V') => {
                    let m = data.get(i + 2).copied().unwrap_or(0);
                    i += if matches!(m, 0 | 1 | 48 | 49) { 3 } else { 4 };
                    let decoded = encoding_rs::EUC_KR.decode(&text).0.into_owned();
                    tickets.push(Printed {
                        text: decoded,
                        big_lines: std::mem::take(&mut big_lines),
                    });
                    text.clear();
                    line_start = 0;
                    start_of_ticket = i;
                }
                _ => i += 3,
            },
            FS => {
                i += match next {
                    Some(b'&') | Some(b'.') => 2,
                    _ => 3,
                };
            }
            DLE if next == Some(EOT) => i += 3,
            b'\n' => {
                finish_line(&text, line_start, line_is_big, &mut big_lines);
                text.push(b'\n');
                line_start = text.len();
                line_is_big = big;
                i += 1;
            }
            _ => {
                text.push(b);
                i += 1;
            }
        }
    }
    let rest = data.len().saturating_sub(start_of_ticket);
    let rest = if text.is_empty() { 0 } else { rest };
    (tickets, rest)
}
