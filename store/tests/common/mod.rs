//! A fresh database per backend, for every test of the store.
#![allow(dead_code)]

/// A fresh database per backend: its URL, and what keeps it alive. SQLite always; PostgreSQL
/// when `MULTICONVERT_TEST_POSTGRES_URL` names a server (required with
/// `MULTICONVERT_REQUIRE_POSTGRES`).
pub async fn databases() -> Vec<(String, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:{}", dir.path().join("state.db").display());
    let mut urls = vec![(sqlite, Some(dir))];
    match std::env::var("MULTICONVERT_TEST_POSTGRES_URL") {
        Ok(admin) if !admin.is_empty() => {
            let name = format!("mc_{}", uuid::Uuid::new_v4().simple());
            let url = multiconvert_store::Store::create_postgres_database(&admin, &name)
                .await
                .unwrap();
            urls.push((url, None));
        }
        _ => assert!(
            std::env::var_os("MULTICONVERT_REQUIRE_POSTGRES").is_none(),
            "MULTICONVERT_REQUIRE_POSTGRES is set but MULTICONVERT_TEST_POSTGRES_URL is not"
        ),
    }
    urls
}
