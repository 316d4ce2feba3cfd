use cachex_runtime::retry;
use std::time::Duration;

#[derive(Debug)]
struct ApiError;

// A hint that answers a bool instead of `Option<Duration>`.
fn retry_hint(_: &ApiError) -> bool {
    true
}

#[retry(retry_after = retry_hint)]
async fn wrong_hint() -> Result<u32, ApiError> {
    Ok(1)
}

#[retry(retry_after = "1s", deadline = "0s")]
async fn hint_not_a_path() -> Result<u32, ApiError> {
    Ok(1)
}

#[retry(deadline = 3)]
async fn deadline_not_a_duration() -> Result<u32, ApiError> {
    let _ = Duration::ZERO;
    Ok(1)
}

fn main() {
    let _ = wrong_hint();
    let _ = hint_not_a_path();
    let _ = deadline_not_a_duration();
}
