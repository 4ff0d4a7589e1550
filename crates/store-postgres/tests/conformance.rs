//! The shared store conformance suite, in a throwaway schema per case.
//! Runs when MEDVAULT_TEST_DATABASE_URL is set (always under CI); otherwise says it skipped.

use medvault_store::conformance::Fixture;
use medvault_store::Store;
use medvault_store_postgres::test_support::ScratchSchema;
use medvault_store_postgres::PostgresStore;

struct PostgresFixture {
    store: PostgresStore,
    schema: ScratchSchema,
}

impl Fixture for PostgresFixture {
    async fn create() -> Option<Self> {
        let schema = ScratchSchema::create().await?;
        let store = PostgresStore::connect(&schema.url())
            .await
            .expect("connect");
        Some(Self { store, schema })
    }

    fn store(&self) -> &dyn Store {
        &self.store
    }

    async fn teardown(self) {
        self.store.close().await;
        self.schema.drop_schema().await;
    }
}

medvault_store::conformance_tests!(PostgresFixture);
