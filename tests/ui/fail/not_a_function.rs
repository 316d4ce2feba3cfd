use cachex_runtime::cached;

#[cached]
struct Config {
    ttl: u64,
}

fn main() {
    let c = Config { ttl: 1 };
    let _ = c.ttl;
}
