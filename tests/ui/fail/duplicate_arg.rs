use cachex_runtime::{cached, retry};

#[cached(ttl = "60s", capacity = 10, ttl = "30s")]
async fn twice(id: u64) -> u64 {
    id
}

#[derive(Debug)]
struct AppError;

#[retry(jitter = true, jitter = false)]
async fn jitter_twice() -> Result<(), AppError> {
    Ok(())
}

fn main() {
    let _ = (twice(1), jitter_twice());
}
