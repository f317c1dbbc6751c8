//! The signing page's page images: rendered once per document page and kept
//! in a small in-memory cache (documents never change once read), with at
//! most as many renders at a time as the machine has cores, so a signer
//! reloading a long document — or a link holder asking again and again —
//! costs no more than one render per page and cannot starve the server.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use axum::body::Bytes;
use tokio::sync::Semaphore;

/// The most bytes of PNG kept.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// One rendered page: (envelope, document, page) and its PNG.
type Entry = ((String, String, u32), Bytes);

#[derive(Debug)]
pub(crate) struct PageImages {
    cache: Mutex<VecDeque<Entry>>,
    renders: Semaphore,
}

impl Default for PageImages {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            cache: Mutex::new(VecDeque::new()),
            renders: Semaphore::new(cores),
        }
    }
}

impl PageImages {
    pub(crate) fn get(&self, key: &(String, String, u32)) -> Option<Bytes> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, png)| png.clone())
    }

    /// Keeps `png`, dropping the oldest pages beyond the budget.
    pub(crate) fn put(&self, key: (String, String, u32), png: Bytes) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.iter().any(|(k, _)| *k == key) {
            return;
        }
        cache.push_back((key, png));
        let mut total: usize = cache.iter().map(|(_, png)| png.len()).sum();
        while total > CACHE_BYTES {
            match cache.pop_front() {
                Some((_, dropped)) => total -= dropped.len(),
                None => break,
            }
        }
    }

    /// Waits for a free render slot.
    pub(crate) async fn slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.renders.acquire().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(page: u32) -> (String, String, u32) {
        ("env".to_owned(), "doc".to_owned(), page)
    }

    #[test]
    fn pages_are_kept_within_the_budget_oldest_first_out() {
        let images = PageImages::default();
        // Three fit in the budget, four do not.
        let big = Bytes::from(vec![0u8; CACHE_BYTES / 4 + 1]);
        for page in 1..=3 {
            images.put(key(page), big.clone());
        }
        assert!(images.get(&key(1)).is_some() && images.get(&key(3)).is_some());
        images.put(key(4), big.clone());
        assert!(images.get(&key(1)).is_none(), "the oldest page went");
        assert!(images.get(&key(2)).is_some(), "and no more than needed");
        images.put(key(4), Bytes::from_static(b"again"));
        assert_eq!(images.get(&key(4)), Some(big), "a page is rendered once");
        let other = ("env2".to_owned(), "doc".to_owned(), 4);
        assert!(images.get(&other).is_none(), "pages are kept per envelope");
    }
}
