use cachex_runtime::{cached, circuit_breaker, retry};

#[derive(Debug)]
struct AppError;

impl From<cachex_runtime::Error> for AppError {
    fn from(_: cachex_runtime::Error) -> Self {
        AppError
    }
}

struct Users;

// A method's default name would be `<module>::<method>` whatever its type, so two types' methods
// of one name would share a breaker or a cache: a method with a receiver must be named.
impl Users {
    #[circuit_breaker]
    async fn get(&self, id: u64) -> Result<u64, AppError> {
        Ok(id)
    }

    #[cached(ttl = "1m")]
    async fn find(&mut self, id: u64) -> u64 {
        id
    }

    // A retry policy is not per function: no name needed.
    #[retry(max_attempts = 2)]
    async fn fetch(&self) -> Result<u64, AppError> {
        Ok(1)
    }

    // Named: fine.
    #[circuit_breaker(name = "Users::put")]
    async fn put(&self) -> Result<u64, AppError> {
        Ok(1)
    }
}

fn main() {}
