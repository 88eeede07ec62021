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
            use sqlx::Connection;
            let name = format!("mc_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .unwrap();
            let (base, _) = admin.rsplit_once('/').unwrap();
            urls.push((format!("{base}/{name}"), None));
        }
        _ => assert!(
            std::env::var_os("MULTICONVERT_REQUIRE_POSTGRES").is_none(),
            "MULTICONVERT_REQUIRE_POSTGRES is set but MULTICONVERT_TEST_POSTGRES_URL is not"
        ),
    }
    urls
}
