//! Minimal hand-written service for `scripts/bench.sh`: the generated bookstore's two read
//! operations with the same queries, pool settings and response shape, and no middleware at all.
//!
//! Environment: `DATABASE_URL` (a database the generated service already migrated and
//! seeded), `PORT` (default 3900), `DB_MAX_CONNECTIONS` (default 10, as generated).
//! Built with the `sqlite` feature (default) or `--no-default-features --features postgres`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

#[cfg(feature = "postgres")]
mod db {
    pub type Pool = sqlx::PgPool;
    pub const BY_ID: &str = "SELECT \"id\", \"title\", \"author_id\", \"price_cents\", \"status\", \"isbn\", \"published_on\", \"owner_id\", \"created_at\", \"updated_at\" FROM \"books\" WHERE \"id\" = $1 AND ($2::uuid IS NULL OR \"owner_id\" = $2::uuid)";
    pub const PAGE: &str = "SELECT \"id\", \"title\", \"author_id\", \"price_cents\", \"status\", \"isbn\", \"published_on\", \"owner_id\", \"created_at\", \"updated_at\" FROM \"books\" WHERE 1=1 ORDER BY \"created_at\" ASC, \"id\" ASC LIMIT $1 OFFSET $2";
    pub async fn connect(url: &str, max: u32) -> Result<Pool, sqlx::Error> {
        sqlx::postgres::PgPoolOptions::new().max_connections(max).connect(url).await
    }
}

#[cfg(not(feature = "postgres"))]
mod db {
    use std::str::FromStr;
    pub type Pool = sqlx::SqlitePool;
    pub const BY_ID: &str = "SELECT \"id\", \"title\", \"author_id\", \"price_cents\", \"status\", \"isbn\", \"published_on\", \"owner_id\", \"created_at\", \"updated_at\" FROM \"books\" WHERE \"id\" = ?1 AND (?2 IS NULL OR \"owner_id\" = ?2)";
    pub const PAGE: &str = "SELECT \"id\", \"title\", \"author_id\", \"price_cents\", \"status\", \"isbn\", \"published_on\", \"owner_id\", \"created_at\", \"updated_at\" FROM \"books\" WHERE 1=1 ORDER BY \"created_at\" ASC, \"id\" ASC LIMIT ?1 OFFSET ?2";
    pub async fn connect(url: &str, max: u32) -> Result<Pool, sqlx::Error> {
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
            .foreign_keys(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        // As the generated service: no ping before each query (nothing to lose in process).
        sqlx::sqlite::SqlitePoolOptions::new().max_connections(max).test_before_acquire(false).connect_with(options).await
    }
}

/// A row of `books`, serialised as the generated service does (camelCase, absent optionals).
#[derive(Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
struct Book {
    id: uuid::Uuid,
    title: String,
    author_id: uuid::Uuid,
    price_cents: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    isbn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    published_on: Option<chrono::NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner_id: Option<uuid::Uuid>,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<i64>,
}

fn envelope<T: Serialize>(data: T, meta: serde_json::Value) -> Response {
    Json(serde_json::json!({ "data": data, "meta": meta, "error": null })).into_response()
}

fn failure(e: sqlx::Error) -> Response {
    eprintln!("database error: {e}");
    StatusCode::SERVICE_UNAVAILABLE.into_response()
}

async fn get_book(State(db): State<db::Pool>, Path(id): Path<uuid::Uuid>) -> Response {
    let row = sqlx::query_as::<_, Book>(db::BY_ID)
        .bind(id)
        .bind(None::<uuid::Uuid>)
        .fetch_optional(&db)
        .await;
    match row {
        Ok(Some(book)) => envelope(book, serde_json::json!({})),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => failure(e),
    }
}

async fn list_books(State(db): State<db::Pool>, Query(q): Query<ListQuery>) -> Response {
    let limit = q.limit.unwrap_or(100).clamp(1, 100);
    let rows = sqlx::query_as::<_, Book>(db::PAGE)
        .bind(limit + 1)
        .bind(0_i64)
        .fetch_all(&db)
        .await;
    match rows {
        Ok(mut items) => {
            let more = items.len() as i64 > limit;
            items.truncate(limit as usize);
            let next = more.then(|| format!("o:{limit}"));
            envelope(items, serde_json::json!({ "limit": limit, "nextCursor": next }))
        }
        Err(e) => failure(e),
    }
}

#[tokio::main]
async fn main() {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL is required");
    let max = std::env::var("DB_MAX_CONNECTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let port: u16 = std::env::var("PORT").ok().and_then(|v| v.parse().ok()).unwrap_or(3900);
    let pool = db::connect(&url, max).await.expect("database reachable");
    let app = Router::new()
        .route("/api/v1/books", get(list_books))
        .route("/api/v1/books/{id}", get(get_book))
        .with_state(pool);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("port free");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .expect("server runs");
}
