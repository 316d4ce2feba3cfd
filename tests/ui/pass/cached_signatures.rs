//! `#[cached]` signatures that must keep compiling, warning-free.
#![deny(warnings)]

use cachex_runtime::cached;

#[derive(Debug, Clone, PartialEq)]
pub struct AppError(String);

impl From<std::num::ParseIntError> for AppError {
    fn from(e: std::num::ParseIntError) -> Self {
        AppError(e.to_string())
    }
}

/// Early `return` and `?` in a cached body.
#[cached(ttl = "1m", capacity = 16)]
pub async fn parse_twice(input: &str) -> Result<u32, AppError> {
    if input.is_empty() {
        return Ok(0);
    }
    let n: u32 = input.parse()?;
    Ok(n * 2)
}

/// Unit return, no arguments.
#[cached]
async fn warm_up() {}

/// Pattern and `mut` parameters: the key is the whole argument.
#[cached]
async fn sum((a, b): (u32, u32), mut extra: Vec<u32>) -> u32 {
    extra.push(a + b);
    extra.iter().sum()
}

/// Lifetimes are fine (only type and const generics are refused).
#[cached]
async fn first_word<'a>(text: &'a str) -> String {
    text.split(' ').next().unwrap_or_default().to_owned()
}

/// A store other than memory: serialisable values, looked up by name at call time.
#[cached(store = "shared", key = format!("{region}:{id}"))]
async fn remote_keyed(region: &str, id: u32) -> Option<String> {
    Some(format!("{region}-{id}"))
}

#[cached(store = "shared", ttl = "5m")]
async fn remote_default_key(id: u32, tags: &[String]) -> Vec<String> {
    tags.iter().map(|t| format!("{t}{id}")).collect()
}

struct Service {
    base: u32,
}

impl Service {
    #[cached(name = "Service::by_ref")]
    async fn by_ref(&self, x: u32) -> u32 {
        self.base + x
    }

    #[cached(name = "Service::by_mut")]
    async fn by_mut(&mut self, x: u32) -> u32 {
        self.base += x;
        self.base
    }

    #[cached(name = "Service::by_value")]
    async fn by_value(self) -> u32 {
        self.base
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(parse_twice("").await, Ok(0));
        assert_eq!(parse_twice("4").await, Ok(8));
        assert!(parse_twice("x").await.is_err());
        warm_up().await;
        assert_eq!(sum((1, 2), vec![3]).await, 6);
        assert_eq!(first_word("hello world").await, "hello");
        assert_eq!(remote_keyed("eu", 1).await.as_deref(), Some("eu-1"));
        assert_eq!(remote_default_key(1, &["a".into()]).await, vec!["a1"]);
        let mut s = Service { base: 1 };
        assert_eq!(s.by_ref(1).await, 2);
        assert_eq!(s.by_mut(1).await, 2);
        assert_eq!(s.by_value().await, 2);
    });
}
