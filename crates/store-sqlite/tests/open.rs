//! Start-up against files that are not a healthy medvault database.

use medvault_domain::PatientId;
use medvault_store::{DataKeyStore, OpenError, Store};
use medvault_store_sqlite::SqliteStore;

fn db_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("medvault.db")
}

#[tokio::test]
async fn reopening_keeps_acknowledged_writes() {
    let dir = tempfile::tempdir().unwrap();
    let key = medvault_domain::WrappedDataKey {
        patient: PatientId::new(),
        master_key_id: "00000000000000aa".parse().unwrap(),
        sealed: vec![1, 2, 3],
    };
    let store = SqliteStore::open(&db_path(&dir)).await.unwrap();
    store.insert_data_key(&key).await.unwrap();
    store.close().await;

    let reopened = SqliteStore::open(&db_path(&dir)).await.unwrap();
    assert_eq!(reopened.data_key(key.patient).await.unwrap(), key);
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_reported_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(db_path(&dir), vec![0x5a; 8192]).unwrap();
    let err = SqliteStore::open(&db_path(&dir)).await.unwrap_err();
    assert!(matches!(err, OpenError::Corrupt(_)), "{err:?}");
    assert!(err.to_string().contains("medvault.db is corrupt"), "{err}");
}

#[tokio::test]
async fn another_applications_sqlite_file_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let foreign = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    sqlx::query("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
        .execute(&foreign)
        .await
        .unwrap();
    foreign.close().await;

    let err = SqliteStore::open(&path).await.unwrap_err();
    assert!(matches!(err, OpenError::Foreign(_)), "{err:?}");

    let foreign = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&foreign)
            .await
            .unwrap();
    assert_eq!(
        tables,
        ["invoices"],
        "nothing was added to the foreign file"
    );
}

#[tokio::test]
async fn a_database_from_a_newer_medvault_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    SqliteStore::open(&db_path(&dir))
        .await
        .unwrap()
        .close()
        .await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db_path(&dir).display()))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', 1, x'00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let err = SqliteStore::open(&db_path(&dir)).await.unwrap_err();
    assert!(
        matches!(err, OpenError::TooNew { version: 9999, .. }),
        "{err:?}"
    );
}
