use std::collections::{HashMap, HashSet};

use cachex_runtime::cached;

// Two equal hash maps iterate in different orders, so a key built from one never matches.
#[cached]
async fn by_map(filters: HashMap<String, String>) -> u32 {
    filters.len() as u32
}

#[cached(store = "shared")]
async fn by_set_ref(tags: &HashSet<u32>, limit: u32) -> Vec<u32> {
    tags.iter().copied().take(limit as usize).collect()
}

// With an explicit key the arguments are not part of the default key: fine.
#[cached(key = filters.len())]
async fn explicit_key(filters: &std::collections::HashMap<u32, u32>) -> u32 {
    filters.len() as u32
}

fn main() {}
