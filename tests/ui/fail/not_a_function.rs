use cachex_macros::cached;

#[cached]
struct Config {
    ttl: u64,
}

fn main() {
    let c = Config { ttl: 1 };
    let _ = c.ttl;
}
