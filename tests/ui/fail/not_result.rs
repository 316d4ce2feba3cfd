use cachex_runtime::{circuit_breaker, retry};

#[circuit_breaker(name = "users")]
async fn breaker_u32() -> u32 {
    1
}

#[retry]
async fn retry_option() -> Option<u32> {
    Some(1)
}

#[retry]
async fn retry_unit() {}

fn main() {
    let _ = breaker_u32();
    let _ = retry_option();
    let _ = retry_unit();
}
