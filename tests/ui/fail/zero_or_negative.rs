use cachex_runtime::{cached, circuit_breaker, retry};

#[derive(Debug)]
struct AppError;

impl From<cachex_runtime::Error> for AppError {
    fn from(_: cachex_runtime::Error) -> Self {
        AppError
    }
}

#[circuit_breaker(threshold = 0, half_open_max = 0, timeout = "0s")]
async fn zero_breaker() -> Result<(), AppError> {
    Ok(())
}

#[circuit_breaker(threshold = -3)]
async fn negative_threshold() -> Result<(), AppError> {
    Ok(())
}

#[retry(max_attempts = 0, multiplier = 0.5)]
async fn zero_retry() -> Result<(), AppError> {
    Ok(())
}

#[retry(multiplier = -2.0)]
async fn negative_multiplier() -> Result<(), AppError> {
    Ok(())
}

#[cached(capacity = 0, ttl = "0ms")]
async fn zero_cache() -> u32 {
    1
}

#[circuit_breaker(threshold = 5000000000)]
async fn too_large() -> Result<(), AppError> {
    Ok(())
}

fn main() {
    let _ = (zero_breaker(), negative_threshold(), zero_retry(), negative_multiplier());
    let _ = (zero_cache(), too_large());
}
