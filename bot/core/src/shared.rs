//! `Shared<T>`: state the engine owns and writes, read by others (the HTTP API) as
//! snapshots. A std lock is fine: it is never held across an await, only to swap an `Arc`.

use std::sync::{Arc, RwLock};

/// A value with one writer (the engine) and many snapshot readers.
#[derive(Debug, Default)]
pub struct Shared<T>(Arc<RwLock<Arc<T>>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Shared<T> {
    /// Shares `v`.
    pub fn new(v: T) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(v))))
    }

    /// The current snapshot.
    pub fn get(&self) -> Arc<T> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the value.
    pub fn set(&self, v: T) {
        match self.0.write() {
            Ok(mut g) => *g = Arc::new(v),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(v),
        }
    }
}
