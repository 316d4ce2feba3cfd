use cachex_runtime::retry;

#[derive(Debug)]
struct PlainError;

// A deadline's timeout must become the function's error type.
#[retry(max_attempts = 2, deadline = "1s")]
async fn no_from() -> Result<u32, PlainError> {
    Ok(1)
}

fn main() {
    let _ = no_from();
}
