//! The shared store conformance suite, on a fresh SQLite file per case.

use medvault_store::conformance::Fixture;
use medvault_store::Store;
use medvault_store_sqlite::SqliteStore;

struct SqliteFixture {
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl Fixture for SqliteFixture {
    async fn create() -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("medvault.db"))
            .await
            .expect("open");
        Some(Self { store, _dir: dir })
    }

    fn store(&self) -> &dyn Store {
        &self.store
    }

    async fn teardown(self) {
        self.store.close().await;
    }
}

medvault_store::conformance_tests!(SqliteFixture);
