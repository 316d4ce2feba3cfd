// `Result` aliases (and `io::Result`-style ones) work under every attribute.
use cachex_runtime::{cached, circuit_breaker, retry};

#[derive(Debug, Clone)]
pub struct ApiError;

impl From<cachex_runtime::Error> for ApiError {
    fn from(_: cachex_runtime::Error) -> Self {
        ApiError
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

mod api {
    pub type Result<T> = std::result::Result<T, super::ApiError>;
}

#[retry(max_attempts = 2, initial_delay = "0ms")]
async fn retried(id: u32) -> ApiResult<u32> {
    Ok(id)
}

#[circuit_breaker(name = "ui.pass.alias")]
async fn guarded(id: u32) -> api::Result<u32> {
    Ok(id)
}

#[cached(result, ttl = "1m")]
async fn cached_alias(id: u32) -> ApiResult<u32> {
    Ok(id)
}

#[cached(option)]
async fn cached_option_alias(id: u32) -> Maybe<u32> {
    Some(id)
}

type Maybe<T> = Option<T>;

#[cached]
#[retry(max_attempts = 2, initial_delay = "0ms")]
#[circuit_breaker(name = "ui.pass.alias.stacked")]
async fn stacked(id: u32) -> ApiResult<u32> {
    Ok(id)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(retried(1).await.unwrap(), 1);
        assert_eq!(guarded(2).await.unwrap(), 2);
        assert_eq!(cached_alias(3).await.unwrap(), 3);
        assert_eq!(cached_option_alias(4).await, Some(4));
        assert_eq!(stacked(5).await.unwrap(), 5);
    });
}
