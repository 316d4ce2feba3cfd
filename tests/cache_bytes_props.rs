//! Property tests of stored bytes: whatever sits under a key (random bytes, a valid header with a
//! random body, hostile length prefixes), `Cache<T>::get` never panics and never errors: it is a
//! value or a miss. And every value written reads back equal.

use std::collections::BTreeMap;

use cachex_runtime::{Cache, MemoryStore, Store};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
    tags: Vec<String>,
    scores: BTreeMap<String, f64>,
    avatar: Option<Vec<u8>>,
}

fn profile() -> impl Strategy<Value = Profile> {
    (
        any::<u64>(),
        ".{0,24}",
        prop::collection::vec(".{0,8}", 0..4),
        prop::collection::btree_map("[a-z]{1,6}", -1e9f64..1e9, 0..4),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..32)),
    )
        .prop_map(|(id, name, tags, scores, avatar)| Profile {
            id,
            name,
            tags,
            scores,
            avatar,
        })
}

/// Bytes that look like a cachex value: the current version byte, then MessagePack-ish garbage,
/// including length prefixes that promise gigabytes.
fn hostile() -> impl Strategy<Value = Vec<u8>> {
    let header = prop::sample::select(vec![
        vec![],
        vec![0xdc, 0xff, 0xff],             // array16 of 65535
        vec![0xdd, 0xff, 0xff, 0xff, 0xff], // array32 of 4 billion
        vec![0xdf, 0xff, 0xff, 0xff, 0xff], // map32 of 4 billion
        vec![0xdb, 0xff, 0xff, 0xff, 0xff], // str32 of 4 GiB
        vec![0xc6, 0xff, 0xff, 0xff, 0xff], // bin32 of 4 GiB
        vec![0x85, 0xa2, b'i', b'd'],       // fixmap of 5, field "id"
    ]);
    (
        prop::sample::select(vec![0u8, 1, 2, 255]),
        header,
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(version, header, tail)| {
            let mut v = vec![version];
            v.extend(header);
            v.extend(tail);
            v
        })
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_a_miss_or_a_value_never_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..128)) {
        rt().block_on(async {
            let store = MemoryStore::new(16);
            store.set("k", &bytes, None).await.unwrap();
            let cache: Cache<Profile> = Cache::new(store);
            prop_assert!(cache.get("k").await.is_ok());
            Ok(())
        })?;
    }

    #[test]
    fn hostile_length_prefixes_are_a_miss(bytes in hostile()) {
        rt().block_on(async {
            let store = MemoryStore::new(16);
            store.set("k", &bytes, None).await.unwrap();
            let cache: Cache<Profile> = Cache::new(store.clone());
            prop_assert!(cache.get("k").await.is_ok());
            let strings: Cache<Vec<String>> = Cache::new(store);
            prop_assert!(strings.get("k").await.is_ok());
            Ok(())
        })?;
    }

    #[test]
    fn values_round_trip(p in profile()) {
        rt().block_on(async {
            let cache: Cache<Profile> = Cache::new(MemoryStore::new(16));
            cache.set("k", &p, None).await.unwrap();
            prop_assert_eq!(cache.get("k").await.unwrap(), Some(p));
            Ok(())
        })?;
    }
}
