//! The conformance suite against `PgStore`: in service mode, and scoped to the signed-in user (role
//! `authenticated` with the user's claims) for the cases a user may run.

#[macro_use]
mod conformance;

use conformance::Harness;
use sqlx::PgPool;
use tributary_domain::UserId;
use tributary_repo::{Keyring, PgStore, SecretKey};

tributary_testdb::require_database!();

struct Pg {
    store: PgStore,
    user_scoped: bool,
}

impl Pg {
    fn new(pool: PgPool, user_scoped: bool) -> Self {
        Self {
            store: PgStore::new(pool, Keyring::new(SecretKey::generate())),
            user_scoped,
        }
    }
}

impl Harness for Pg {
    type Store = PgStore;

    async fn new_user(&self) -> UserId {
        let id = tributary_testdb::create_auth_user(self.store.pool())
            .await
            .expect("a user in auth.users");
        UserId::new(id)
    }

    fn store_for(&self, user: UserId) -> PgStore {
        if self.user_scoped {
            self.store.for_user(user)
        } else {
            self.store.clone()
        }
    }

    fn admin(&self) -> PgStore {
        self.store.clone()
    }

    fn user_scoped(&self) -> bool {
        self.user_scoped
    }
}

macro_rules! service_case {
    ($case:ident) => {
        #[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
        async fn $case(pool: PgPool) {
            conformance::$case(&Pg::new(pool, false)).await;
        }
    };
}

macro_rules! user_scoped_case {
    ($case:ident) => {
        #[sqlx::test(migrator = "tributary_repo::MIGRATOR")]
        async fn $case(pool: PgPool) {
            conformance::$case(&Pg::new(pool, true)).await;
        }
    };
}

mod service {
    use super::*;
    all_cases!(service_case);
}

mod user_scoped {
    use super::*;
    user_scoped_cases!(user_scoped_case);
}
