//! Running the `ordersync` binary itself from tests: a clean environment, free ports, waiting
//! for it to listen, stopping it with SIGTERM.

use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn ordersync() -> Command {
    clean(Command::new(env!("CARGO_BIN_EXE_ordersync")))
}

/// `ordersync` working on the database of the test whose files are in `data_dir` (SQLite there,
/// or its PostgreSQL schema; see `backend`).
pub fn ordersync_at(data_dir: &std::path::Path) -> Command {
    let mut cmd = ordersync();
    cmd.env("DATABASE_URL", crate::backend::database_url(data_dir));
    cmd
}

/// `ordersync` started by a shell that first lowers the open-file limit (soft and hard) to
/// `files`, as a small box or a strict service manager would.
pub fn ordersync_with_file_limit(files: u32) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n {files} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_ordersync"));
    clean(cmd)
}

fn clean(mut cmd: Command) -> Command {
    // Tests must not pick up a developer's .env or environment.
    for var in [
        "DATABASE_URL",
        "REDIS_URL",
        "REDIS_KEY_PREFIX",
        "PAYMENTS",
        "TOSS_SECRET_KEY",
        "ORDERSYNC_DATA_DIR",
        "JWT_SECRET",
        "PORT",
        "HTTP_PORT",
        "ENV",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1").env("BCRYPT_COST", "4");
    cmd
}

pub fn run_with_stdin(cmd: &mut Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_for_http(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
    panic!("server on port {port} did not start");
}

pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "server ignored SIGTERM");
        std::thread::park_timeout(Duration::from_millis(50));
    }
}
