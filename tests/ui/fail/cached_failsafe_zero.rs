use cachex_runtime::cached;

#[cached(ttl = "60s", stale_if_error = "0s")]
async fn zero_stale_if_error(id: u32) -> Option<u32> {
    Some(id)
}

#[cached(ttl = "60s", stale_while_revalidate = "0ms")]
async fn zero_revalidate(id: u32) -> Option<u32> {
    Some(id)
}

#[cached(ttl = "60s", refresh_ahead = "0s")]
async fn zero_refresh_ahead(id: u32) -> Option<u32> {
    Some(id)
}

#[cached(ttl = "60s", soft_timeout = "0ms")]
async fn zero_soft_timeout(id: u32) -> Option<u32> {
    Some(id)
}

#[cached(ttl = "60s", stale_if_error = "soon")]
async fn not_a_duration(id: u32) -> Option<u32> {
    Some(id)
}

fn main() {}
