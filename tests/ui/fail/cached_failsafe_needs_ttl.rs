use cachex_runtime::cached;

#[cached(stale_if_error = "1h")]
async fn no_ttl_stale_if_error(id: u32) -> Option<u32> {
    Some(id)
}

#[cached(stale_while_revalidate = "30s")]
async fn no_ttl_revalidate(id: u32) -> Option<u32> {
    Some(id)
}

#[cached(refresh_ahead = "10s")]
async fn no_ttl_refresh_ahead(id: u32) -> Option<u32> {
    Some(id)
}

#[cached(soft_timeout = "100ms")]
async fn no_ttl_soft_timeout(id: u32) -> Option<u32> {
    Some(id)
}

fn main() {}
