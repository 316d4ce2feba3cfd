//! Signatures that must keep compiling under the attributes, warning-free.
#![deny(warnings)]

use std::fmt::Display;

use cachex_runtime::{circuit_breaker, retry};
use cachex_runtime::Error;

#[derive(Debug, Clone)]
pub struct AppError;

impl From<Error> for AppError {
    fn from(_: Error) -> Self {
        AppError
    }
}

impl From<std::num::ParseIntError> for AppError {
    fn from(_: std::num::ParseIntError) -> Self {
        AppError
    }
}

/// `impl Trait` in argument position (generic, allowed outside `#[cached]`).
#[retry(max_attempts = 2, initial_delay = "0ms")]
pub async fn impl_arg(label: impl Display + Clone + Send) -> Result<String, AppError> {
    Ok(label.to_string())
}

/// `impl Trait` in the return type.
#[circuit_breaker(name = "ui.pass.impl_ret")]
pub async fn impl_ret(n: u32) -> Result<impl Display, AppError> {
    Ok(n)
}

/// Early `return` and `?`.
#[retry(max_attempts = 2, initial_delay = "0ms")]
#[circuit_breaker(name = "ui.pass.early")]
pub(crate) async fn early(input: &str) -> Result<u32, AppError> {
    if input.is_empty() {
        return Ok(0);
    }
    let n: u32 = input.parse()?;
    Ok(n)
}

/// A body that always returns early.
#[circuit_breaker(name = "ui.pass.diverging")]
async fn diverging() -> Result<u32, AppError> {
    return Ok(1);
}

/// Generic parameters and a where clause.
#[retry(max_attempts = 2, initial_delay = "0ms")]
async fn generic<T>(value: T) -> Result<String, AppError>
where
    T: Display + Clone,
{
    Ok(value.to_string())
}

/// Lifetimes.
#[circuit_breaker]
async fn borrowed<'a>(s: &'a str, t: &str) -> Result<&'a str, AppError> {
    let _ = t;
    Ok(s)
}

/// Pattern and `mut` parameters.
#[retry(max_attempts = 2, initial_delay = "0ms")]
async fn patterns((a, b): (u32, u32), mut acc: Vec<u32>, _: u8) -> Result<Vec<u32>, AppError> {
    acc.push(a + b);
    Ok(acc)
}

struct Service {
    hits: u32,
}

impl Service {
    #[retry(max_attempts = 2, initial_delay = "0ms")]
    #[circuit_breaker(name = "ui.pass.service")]
    async fn by_ref(&self) -> Result<u32, AppError> {
        Ok(self.hits)
    }

    #[retry(max_attempts = 2, initial_delay = "0ms")]
    async fn by_mut(&mut self) -> Result<u32, AppError> {
        self.hits += 1;
        Ok(self.hits)
    }

    #[circuit_breaker(name = "ui.pass.service")]
    async fn by_value(mut self) -> Result<u32, AppError> {
        self.hits *= 2;
        Ok(self.hits)
    }

    #[circuit_breaker(name = "ui.pass.service")]
    async fn returns_self(hits: u32) -> Result<Self, AppError> {
        Ok(Self { hits })
    }
}

trait Remote {
    async fn fetch(&self, id: u64) -> Result<u64, AppError>;
}

impl Remote for Service {
    #[retry(max_attempts = 2, initial_delay = "0ms")]
    async fn fetch(&self, id: u64) -> Result<u64, AppError> {
        Ok(id + u64::from(self.hits))
    }
}

/// A renamed runtime, reached with `crate = "..."`.
mod renamed {
    pub use cachex_runtime as rt;
}

#[circuit_breaker(crate = "crate::renamed::rt", name = "ui.pass.renamed")]
async fn renamed_runtime() -> Result<(), AppError> {
    Ok(())
}

/// Full paths to the attributes work too.
#[cachex_runtime::retry(max_attempts = 2, initial_delay = "0ms")]
#[cachex_runtime::circuit_breaker(name = "ui.pass.paths")]
async fn full_paths() -> Result<(), AppError> {
    Ok(())
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(impl_arg("x").await.unwrap(), "x");
        assert_eq!(impl_ret(4).await.unwrap().to_string(), "4");
        assert_eq!(early("").await.unwrap(), 0);
        assert_eq!(early("12").await.unwrap(), 12);
        assert!(early("x").await.is_err());
        assert_eq!(diverging().await.unwrap(), 1);
        assert_eq!(generic(5).await.unwrap(), "5");
        assert_eq!(borrowed("a", "b").await.unwrap(), "a");
        assert_eq!(patterns((1, 2), vec![], 0).await.unwrap(), vec![3]);
        let mut s = Service { hits: 1 };
        assert_eq!(s.by_ref().await.unwrap(), 1);
        assert_eq!(s.by_mut().await.unwrap(), 2);
        assert_eq!(s.fetch(1).await.unwrap(), 3);
        assert_eq!(s.by_value().await.unwrap(), 4);
        assert_eq!(Service::returns_self(3).await.unwrap().hits, 3);
        renamed_runtime().await.unwrap();
        full_paths().await.unwrap();
    });
}
