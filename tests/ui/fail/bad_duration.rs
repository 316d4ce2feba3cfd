use cachex_runtime::{cached, circuit_breaker, retry};

#[derive(Debug)]
struct AppError;

impl From<cachex_runtime::Error> for AppError {
    fn from(_: cachex_runtime::Error) -> Self {
        AppError
    }
}

#[cached(ttl = "5 parsecs")]
async fn unknown_unit() -> u32 {
    1
}

#[cached(ttl = "1.5s")]
async fn fraction() -> u32 {
    1
}

#[circuit_breaker(timeout = "30")]
async fn no_unit() -> Result<(), AppError> {
    Ok(())
}

#[retry(initial_delay = "")]
async fn empty() -> Result<(), AppError> {
    Ok(())
}

#[retry(initial_delay = "2s", max_delay = "1s")]
async fn initial_above_max() -> Result<(), AppError> {
    Ok(())
}

fn main() {
    let _ = (unknown_unit(), fraction(), no_unit(), empty(), initial_above_max());
}
