#![cfg(loom)]
//! Probe.
#[test]
fn probe() {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    loom::model(|| {
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (mut tx, mut rx) = tailcast::Builder::new()
            .capacity(2)
            .chunk_len(1)
            .build::<u32>()
            .unwrap();
        let t = loom::thread::spawn(move || {
            tx.publish(1);
            tx.publish(2);
        });
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.recv(), Ok(2));
        assert_eq!(rx.recv(), Err(tailcast::RecvError::Closed));
        t.join().unwrap();
    });
    println!(
        "executions: {}",
        N.load(std::sync::atomic::Ordering::Relaxed)
    );
}
