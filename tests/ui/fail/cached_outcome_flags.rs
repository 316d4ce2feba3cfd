use cachex_runtime::{cached, retry};

#[derive(Debug)]
struct AppError;

type ApiResult<T> = Result<T, AppError>;

#[cached(result, option)]
async fn both(id: u32) -> ApiResult<u32> {
    Ok(id)
}

#[cached(result = true)]
async fn with_value(id: u32) -> ApiResult<u32> {
    Ok(id)
}

#[cached(option)]
#[retry(max_attempts = 2)]
async fn option_under_retry(id: u32) -> ApiResult<u32> {
    Ok(id)
}

#[cached(result)]
async fn not_a_result(id: u32) -> Option<u32> {
    Some(id)
}

#[cached(result, result)]
async fn twice(id: u32) -> ApiResult<u32> {
    Ok(id)
}

fn main() {}
