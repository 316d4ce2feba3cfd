use cachex_runtime::{circuit_breaker, Error};

#[derive(Debug)]
struct AppError;

impl From<Error> for AppError {
    fn from(_: Error) -> Self {
        AppError
    }
}

#[circuit_breaker(failure_rate = 150, window = 0)]
async fn out_of_range() -> Result<(), AppError> {
    Ok(())
}

#[circuit_breaker(slow_call_rate = 80, window = 10, minimum_calls = 20)]
async fn slow_without_duration() -> Result<(), AppError> {
    Ok(())
}

#[circuit_breaker(window = true)]
async fn not_a_window() -> Result<(), AppError> {
    Ok(())
}

fn main() {
    let _ = (out_of_range(), slow_without_duration(), not_a_window());
}
