use cachex_runtime::{cached, circuit_breaker, retry};

#[derive(Debug)]
struct AppError;

impl From<cachex_runtime::Error> for AppError {
    fn from(_: cachex_runtime::Error) -> Self {
        AppError
    }
}

#[cached]
fn cached_sync(id: u64) -> u64 {
    id
}

#[retry]
fn retry_sync() -> Result<(), AppError> {
    Ok(())
}

#[circuit_breaker]
pub fn breaker_sync() -> Result<(), AppError> {
    Ok(())
}

fn main() {
    // The functions are still emitted as written, so the rest of the crate compiles.
    let _: u64 = cached_sync(1);
    let _: Result<(), AppError> = retry_sync();
    let _: Result<(), AppError> = breaker_sync();
}
