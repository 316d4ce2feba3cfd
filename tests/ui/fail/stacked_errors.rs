use cachex_runtime::{circuit_breaker, retry};

#[derive(Debug)]
struct AppError;

impl From<cachex_runtime::Error> for AppError {
    fn from(_: cachex_runtime::Error) -> Self {
        AppError
    }
}

// Mistakes in the attributes below the outermost one are reported at their own tokens.
#[retry(max_attempts = 3)]
#[circuit_breaker(threshold = 0, timeout = "soon")]
async fn stacked() -> Result<(), AppError> {
    Ok(())
}

#[circuit_breaker(name = "ok")]
#[retry = "default"]
async fn name_value_form() -> Result<(), AppError> {
    Ok(())
}

fn main() {
    let _ = (stacked(), name_value_form());
}
