//! The end-to-end flow on `MemoryStore` with the sandbox providers: every table checked against the sandbox
//! after a sync, a second sync that changes nothing, a sold position, a broken connection, a read-only
//! connection refusing an order. The same cases run on PostgreSQL in `end_to_end_pg.rs`.

use tributary::repo::MemoryStore;

use crate::flow::{self, World};

async fn world() -> World<MemoryStore> {
    let store = MemoryStore::new();
    let user = store.create_user();
    World::start(store, user).await
}

macro_rules! memory_cases {
    ($($case:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $case() {
            flow::$case(world().await).await;
        }
    )*};
}

memory_cases!(
    a_sync_leaves_every_table_as_the_sandbox_holds_it,
    a_second_sync_changes_nothing,
    a_position_sold_at_the_sandbox_disappears_from_the_holdings,
    broken_connections_end_disabled_or_in_error_with_their_messages,
    a_read_only_connection_refuses_an_order,
);
