//! The one way to run blocking work (SQLite, r2d2 `get`, bcrypt) from async code: on tokio's
//! blocking pool, inside the caller's tracing span, with panics re-raised in the caller.

pub async fn run<T, F>(work: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let span = tracing::Span::current();
    match tokio::task::spawn_blocking(move || span.in_scope(work)).await {
        Ok(value) => value,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(err) => panic!("blocking task was cancelled: {err}"),
    }
}
