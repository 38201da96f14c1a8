use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The install hint printed when PostgreSQL is not reachable.
const PG_HINT: &str = "apt-get install -y postgresql && pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";

/// A fresh database on the local PostgreSQL server (`$NEWSWIRE_TEST_PG`, default
/// `postgres://postgres@127.0.0.1:5432/postgres`), dropped when this value is dropped.
#[derive(Debug)]
pub struct PgDb {
    admin_url: String,
    name: String,
    /// URL of the new database.
    pub url: String,
}

impl PgDb {
    /// Creates a uniquely named database.
    pub async fn create() -> Self {
        let admin_url = std::env::var("NEWSWIRE_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let mut conn = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!("PostgreSQL is required at {admin_url} ({e}); install and start it with: {PG_HINT}")
        });
        // A counter as well as the time: tests on two threads read the same clock value often
        // enough here (and PostgreSQL reports two concurrent creations of one name as a unique
        // violation in pg_database).
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = format!(
            "newswire_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let _ = conn.close().await;
        let url = match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("NEWSWIRE_TEST_PG must end with /<database>: {admin_url}"),
        };
        Self { admin_url, name, url }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // The name is ours (digits and underscores), so formatting it into SQL is safe.
        // Drop may run inside a runtime: do the async cleanup on a thread of its own.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin_url).await {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}
