use cachex_runtime::{circuit_breaker, Error};

#[derive(Debug)]
struct AppError;

impl From<Error> for AppError {
    fn from(_: Error) -> Self {
        AppError
    }
}

fn counts(status: &u16) -> bool {
    *status >= 500
}

// `failure_if` takes the function's error type.
#[circuit_breaker(failure_if = counts)]
async fn fetch() -> Result<(), AppError> {
    Ok(())
}

fn main() {
    let _ = fetch();
}
