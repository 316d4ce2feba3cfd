use cachex_runtime::{cached, circuit_breaker, retry};

#[derive(Debug)]
struct AppError;

impl From<cachex_runtime::Error> for AppError {
    fn from(_: cachex_runtime::Error) -> Self {
        AppError
    }
}

#[cached(ttl = "60s", size = 10)]
async fn unknown_cached(id: u64) -> u64 {
    id
}

#[circuit_breaker(max_attempts = 3)]
async fn retry_arg_on_breaker() -> Result<(), AppError> {
    Ok(())
}

#[retry(type = "exponential")]
async fn keyword_arg() -> Result<(), AppError> {
    Ok(())
}

#[retry(3)]
async fn positional() -> Result<(), AppError> {
    Ok(())
}

#[cached(ttl)]
async fn missing_value() -> u32 {
    1
}

fn main() {
    let _ = (unknown_cached(1), retry_arg_on_breaker(), keyword_arg(), positional());
    let _ = missing_value();
}
