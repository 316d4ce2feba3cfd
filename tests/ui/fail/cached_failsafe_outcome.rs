use cachex_runtime::cached;

#[cached(ttl = "60s", stale_if_error = "1h")]
async fn plain_value(id: u32) -> u32 {
    id
}

#[cached(ttl = "60s", stale_while_revalidate = "30s", store = "redis")]
async fn on_a_store(id: u32) -> Option<u32> {
    Some(id)
}

fn main() {}
