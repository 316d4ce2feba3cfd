use cachex_runtime::{circuit_breaker, Error};

#[derive(Debug)]
struct AppError;

impl From<Error> for AppError {
    fn from(_: Error) -> Self {
        AppError
    }
}

// A consecutive-failure threshold and a failure rate are two ways to open: give one.
#[circuit_breaker(name = "search", threshold = 5, failure_rate = 50, window = 100)]
async fn search() -> Result<(), AppError> {
    Ok(())
}

fn main() {
    let _ = search();
}
