use cachex_runtime::{cached, circuit_breaker, retry};

#[derive(Debug)]
struct AppError;

impl From<cachex_runtime::Error> for AppError {
    fn from(_: cachex_runtime::Error) -> Self {
        AppError
    }
}

#[circuit_breaker(name = users)]
async fn name_not_string() -> Result<(), AppError> {
    Ok(())
}

#[circuit_breaker(threshold = "5")]
async fn threshold_string() -> Result<(), AppError> {
    Ok(())
}

#[cached(ttl = 60)]
async fn ttl_number() -> u32 {
    1
}

#[retry(jitter = "yes")]
async fn jitter_string() -> Result<(), AppError> {
    Ok(())
}

#[retry(retry_if = "is_transient")]
async fn retry_if_string() -> Result<(), AppError> {
    Ok(())
}

#[retry(multiplier = "2")]
async fn multiplier_string() -> Result<(), AppError> {
    Ok(())
}

#[cached(crate = cachex_runtime)]
async fn crate_not_string() -> u32 {
    1
}

#[cached(crate = "not a path")]
async fn crate_bad_path() -> u32 {
    1
}

fn main() {
    let _ = (name_not_string(), threshold_string(), ttl_number(), jitter_string());
    let _ = (retry_if_string(), multiplier_string(), crate_not_string(), crate_bad_path());
}
