//! The store's one multiplexed connection, made on first use and replaced whenever the store
//! decides it cannot work any more.
//!
//! The client library's connection manager keeps a connection whose setup was refused (`BUSY`,
//! a refused `SELECT`, a wrong password) for good, and never notices a peer that went silent.
//! Here the store decides: a failed setup leaves the slot empty, so the next operation connects
//! afresh; a broken connection, a reply meaning "wrong node" or a run of timeouts replaces it
//! ([`Conn::replace`]). Every connection belongs to a generation, so that of many callers who saw
//! the same connection fail, only the first replaces it.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisError};
use tokio::sync::OnceCell;

use crate::sync::RwLock;

/// The connection slot shared by every clone of a store.
pub(super) struct Conn {
    client: redis::Client,
    config: AsyncConnectionConfig,
    slot: RwLock<Slot>,
}

#[derive(Clone)]
struct Slot {
    generation: u64,
    /// Filled by the first caller that connects; concurrent callers wait for that one setup. A
    /// failed setup leaves it empty for the next caller to try.
    cell: Arc<OnceCell<MultiplexedConnection>>,
}

impl Slot {
    fn fresh(generation: u64) -> Slot {
        Slot {
            generation,
            cell: Arc::new(OnceCell::new()),
        }
    }
}

/// A failed connection setup (as opposed to a failed command on a working connection).
pub(super) struct SetupError(pub(super) RedisError);

impl Conn {
    /// A slot that connects lazily to `client`, each connection setup bounded by
    /// `connect_timeout`. No response timeout: the store bounds each attempt itself.
    pub(super) fn new(client: redis::Client, connect_timeout: Duration) -> Conn {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            .set_response_timeout(None);
        Conn {
            client,
            config,
            slot: RwLock::new(Slot::fresh(0)),
        }
    }

    /// The current connection and its generation, connecting first if there is none.
    pub(super) async fn get(&self) -> (u64, Result<MultiplexedConnection, SetupError>) {
        let slot = self.slot.read().clone();
        let conn = slot
            .cell
            .get_or_try_init(|| {
                self.client
                    .get_multiplexed_async_connection_with_config(&self.config)
            })
            .await
            .cloned()
            .map_err(SetupError);
        (slot.generation, conn)
    }

    /// The generation of the current connection.
    pub(super) fn generation(&self) -> u64 {
        self.slot.read().generation
    }

    /// Drops connection `generation` (if it is still the current one) so the next use connects
    /// afresh. True when this call replaced it.
    pub(super) fn replace(&self, generation: u64) -> bool {
        let mut slot = self.slot.write();
        if slot.generation != generation {
            return false;
        }
        *slot = Slot::fresh(generation.wrapping_add(1));
        true
    }
}
