use cachex_runtime::{cached, circuit_breaker};

#[derive(Debug)]
struct AppError;

impl From<cachex_runtime::Error> for AppError {
    fn from(_: cachex_runtime::Error) -> Self {
        AppError
    }
}

#[circuit_breaker(preset = "reckless")]
async fn unknown_preset() -> Result<(), AppError> {
    Ok(())
}

#[cached(store = "")]
async fn empty_store() -> u32 {
    1
}

#[cached(store = "my store")]
async fn store_with_space() -> u32 {
    1
}

#[cached(store = "redis", capacity = 100)]
async fn capacity_on_remote_store() -> u32 {
    1
}

#[cached(name = "  ")]
async fn blank_name() -> u32 {
    1
}

fn main() {
    let _ = (unknown_preset(), empty_store(), store_with_space());
    let _ = (capacity_on_remote_store(), blank_name());
}
