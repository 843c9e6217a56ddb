//! A bounded pool of worker threads for the uploads that send pieces of
//! a file at once (Pithos blocks, S3 parts).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::cloud::error::CloudError;

/// Run `work` for every index below `count` on at most `threads`
/// threads. The first error stops the workers from taking more indices
/// and is returned once the running calls have ended.
pub fn for_each(
    count: usize,
    threads: usize,
    work: &(dyn Fn(usize) -> Result<(), CloudError> + Sync),
) -> Result<(), CloudError> {
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<CloudError>> = Mutex::new(None);
    let failed = || failure.lock().map(|f| f.is_some()).unwrap_or(true);
    std::thread::scope(|s| {
        for _ in 0..threads.min(count) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= count || failed() {
                        return;
                    }
                    if let Err(e) = work(i)
                        && let Ok(mut f) = failure.lock()
                    {
                        f.get_or_insert(e);
                    }
                }
            });
        }
    });
    match failure.into_inner() {
        Ok(None) => Ok(()),
        Ok(Some(e)) => Err(e),
        Err(_) => Err(CloudError::Protocol("an upload thread failed".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn runs_every_index_once_and_stops_at_an_error() {
        let sum = AtomicU64::new(0);
        for_each(100, 4, &|i| {
            sum.fetch_add(i as u64, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
        assert_eq!(sum.into_inner(), 4950);
        let ran = AtomicUsize::new(0);
        let err = for_each(1000, 2, &|i| {
            ran.fetch_add(1, Ordering::SeqCst);
            match i {
                3 => Err(CloudError::Protocol("three".into())),
                _ => Ok(()),
            }
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "three");
        assert!(ran.into_inner() < 1000);
        for_each(0, 4, &|_| panic!("no work")).unwrap();
    }
}
