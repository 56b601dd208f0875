//! First URL seen per text hash, for exact content duplicates: one field per
//! text in a bucketed hash (`ns:content:<bucket>`), set only if absent.

use async_trait::async_trait;
use crawl_stages::StageError;
use crawl_stages::parser::ContentIndex;

use crate::Store;

/// Buckets of the content index: a hash field costs less than a key.
const BUCKETS: u64 = 4096;

pub struct RedisContentIndex {
    store: Store,
}

impl RedisContentIndex {
    pub fn new(store: Store) -> RedisContentIndex {
        RedisContentIndex { store }
    }
}

#[async_trait]
impl ContentIndex for RedisContentIndex {
    async fn first_seen(&self, content_sha256: &str, url: &str) -> Result<Option<String>, StageError> {
        let field = content_sha256.get(..16).unwrap_or(content_sha256);
        let bucket = u64::from_str_radix(field, 16).unwrap_or(0) % BUCKETS;
        let key = self.store.key(&format!("content:{bucket}"));
        let (_, first): (bool, String) = redis::pipe()
            .hset_nx(&key, field, url)
            .hget(&key, field)
            .query_async(&mut self.store.conn.clone())
            .await
            .map_err(|e| StageError::Unavailable(format!("content index: {e}")))?;
        Ok((first != url).then_some(first))
    }
}
