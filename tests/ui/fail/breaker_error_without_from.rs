use cachex_runtime::circuit_breaker;

#[derive(Debug)]
struct PlainError;

#[circuit_breaker(name = "no-from")]
async fn no_from() -> Result<u32, PlainError> {
    Ok(1)
}

fn main() {
    let _ = no_from();
}
