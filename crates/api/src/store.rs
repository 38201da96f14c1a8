//! What the API needs of a store: the read side ([`ArticleQueries`]) plus two lookups of
//! [`ArticleStore`], with futures that are `Send`.
//!
//! `ArticleStore` is written with `async fn` in the trait, so a generic caller cannot prove its
//! futures `Send`, which axum handlers must be. [`ReadStore`] restates the two calls with `Send`
//! futures; for a concrete store such as [`Store`] the compiler sees the actual futures and
//! checks it. Test code implements `ReadStore` for a small in-memory store.

use std::future::Future;

use newswire_model::{Article, ArticleId};
use newswire_store::{ArticleQueries, ArticleStore, Store, StoreError};

/// A store the API can serve: cheap to clone (a pool handle), shareable between tasks.
pub trait ReadStore: ArticleQueries + Clone + Send + Sync + 'static {
    /// One article by id (its current version).
    fn article(&self, id: &ArticleId) -> impl Future<Output = Result<Option<Article>, StoreError>> + Send;

    /// The archived versions of a revised article, oldest first, with their revision numbers.
    fn article_revisions(
        &self,
        id: &ArticleId,
    ) -> impl Future<Output = Result<Vec<(u32, Article)>, StoreError>> + Send;

    /// Checks the connection (for `/readyz`).
    fn check(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl ReadStore for Store {
    fn article(&self, id: &ArticleId) -> impl Future<Output = Result<Option<Article>, StoreError>> + Send {
        ArticleStore::get(self, id)
    }

    fn article_revisions(
        &self,
        id: &ArticleId,
    ) -> impl Future<Output = Result<Vec<(u32, Article)>, StoreError>> + Send {
        ArticleStore::revisions(self, id)
    }

    fn check(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        ArticleStore::ping(self)
    }
}
