//! The conformance suite against `MemoryStore`.

use tributary_domain::UserId;
use tributary_repo::MemoryStore;

use crate::conformance::{self, Harness};

struct Memory(MemoryStore);

impl Harness for Memory {
    type Store = MemoryStore;

    async fn new_user(&self) -> UserId {
        self.0.create_user()
    }

    fn store_for(&self, _user: UserId) -> MemoryStore {
        self.0.clone()
    }

    fn admin(&self) -> MemoryStore {
        self.0.clone()
    }
}

macro_rules! memory_case {
    ($case:ident) => {
        #[tokio::test]
        async fn $case() {
            conformance::$case(&Memory(MemoryStore::new())).await;
        }
    };
}

all_cases!(memory_case);
