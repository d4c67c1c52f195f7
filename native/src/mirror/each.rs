//! Running work over many items with bounded concurrency: [`each`].

use std::future::Future;
use std::sync::Arc;

/// Runs `work` for every item with at most `limit` in flight, keeping the input order.
pub(super) async fn each<T, R, F, Fut>(items: Vec<T>, limit: usize, work: F) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    let semaphore = Arc::new(tokio::sync::Semaphore::new(limit.max(1)));
    let work = Arc::new(work);
    let handles: Vec<_> = items
        .into_iter()
        .map(|item| {
            let semaphore = semaphore.clone();
            let work = work.clone();
            tokio::spawn(async move {
                let _permit = semaphore.acquire_owned().await.expect("semaphore open");
                work(item).await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.expect("a mirror task panicked"));
    }
    out
}
