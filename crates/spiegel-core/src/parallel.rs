//! Work spread over the machine's cores.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `f` applied to every item, on up to `max_workers` threads (at most one per core); results
/// in the order of the items, whatever order the work finishes in.
pub fn map<T: Send, R: Send>(
    items: Vec<T>,
    max_workers: usize,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, max_workers.max(1))
        .min(items.len().max(1));
    // Each slot is taken by exactly one worker and filled by exactly one.
    let inputs: Vec<Mutex<Option<T>>> = items.into_iter().map(|i| Mutex::new(Some(i))).collect();
    let outputs: Vec<Mutex<Option<R>>> = inputs.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(slot) = inputs.get(index) else { break };
                    let taken = slot.lock().map(|mut s| s.take()).unwrap_or_default();
                    if let Some(item) = taken {
                        let result = f(item);
                        if let Ok(mut out) = outputs[index].lock() {
                            *out = Some(result);
                        }
                    }
                }
            });
        }
    });
    // A worker that panicked has re-raised its panic when the scope ended, so every slot is
    // filled here.
    outputs
        .into_iter()
        .filter_map(|o| o.into_inner().ok().flatten())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_the_order_of_the_items() {
        let squares = super::map((0..1000u64).collect(), 4, |i| i * i);
        assert_eq!(squares, (0..1000u64).map(|i| i * i).collect::<Vec<_>>());
        assert!(super::map(Vec::<u8>::new(), 4, |i| i).is_empty());
    }
}
