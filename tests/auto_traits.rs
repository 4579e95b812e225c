//! Auto traits of every public type, checked at compile time: with a `Send + Sync`
//! payload the handles and futures are `Send` (handles also `Sync`), and so are the
//! borrowed views `Ref`/`Batch` (they hold a node, not an epoch pin); error
//! and configuration types are `Send + Sync + 'static` errors. (`Subscriber<Cell<_>>` not
//! being `Send` and `Publisher` not being `Clone` are `compile_fail` doctests in `src/`.)

use std::fmt::Debug;

use tailcast::{
    Batch, Builder, ConfigError, Full, LagPolicy, Publish, Publisher, Recv, RecvError,
    RecvTimeoutError, Ref, Subscriber, TryRecvError,
};

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn unpin<T: Unpin>() {}
fn error<E: std::error::Error + Send + Sync + 'static>() {}
fn debug<T: Debug>() {}

/// Every `Send`/`Sync` claim for a `Send + Sync` payload `T`, instantiated for a few
/// concrete payloads below. Nothing runs: compiling is the test.
#[allow(dead_code)]
fn handles_are_send_and_sync<T: Send + Sync + 'static>() {
    send::<Publisher<T>>();
    sync::<Publisher<T>>();
    send::<Subscriber<T>>();
    sync::<Subscriber<T>>();
    // Futures must be `Send` to be spawned on a multi-threaded runtime.
    send::<Recv<'static, T>>();
    send::<Publish<'static, T>>();
    unpin::<Publish<'static, T>>();
    debug::<Publisher<T>>();
    debug::<Subscriber<T>>();
    debug::<Recv<'static, T>>();
    debug::<Publish<'static, T>>();
}

/// `Ref` and `Batch` hold a node (never an epoch pin), so they may cross threads with the
/// borrow of the subscriber they come from.
#[allow(dead_code)]
fn views_are_send_and_sync<T: Send + Sync + Debug + 'static>() {
    send::<Ref<'static, T>>();
    sync::<Ref<'static, T>>();
    send::<Batch<'static, T>>();
    sync::<Batch<'static, T>>();
    debug::<Ref<'static, T>>();
    debug::<Batch<'static, T>>();
}

#[test]
fn auto_traits_of_public_types() {
    handles_are_send_and_sync::<u64>();
    handles_are_send_and_sync::<String>();
    handles_are_send_and_sync::<std::sync::Arc<[u8]>>();
    handles_are_send_and_sync::<std::sync::Mutex<Vec<u8>>>();
    views_are_send_and_sync::<u64>();
    views_are_send_and_sync::<String>();

    error::<RecvError>();
    error::<TryRecvError>();
    error::<RecvTimeoutError>();
    error::<ConfigError>();
    error::<Full<u64>>();
    // `Full<T>` prints without `T: Debug` and is an error for any `Send + Sync` `T`.
    struct Opaque;
    error::<Full<Opaque>>();
    debug::<Full<Opaque>>();

    send::<Builder>();
    sync::<Builder>();
    send::<LagPolicy>();
    sync::<LagPolicy>();
    unpin::<Publisher<Opaque>>();
    unpin::<Subscriber<Opaque>>();
}

#[test]
fn handles_cross_threads_at_runtime() {
    // The same claims, exercised: a publisher and subscribers built on one thread and
    // used on others, a shared `&Subscriber` read from several threads.
    let (tx, rx) = tailcast::channel::<String>(4);
    let mut tx = std::thread::spawn(move || tx).join().unwrap();
    tx.publish("x".to_string());
    let rx = std::sync::Arc::new(rx);
    std::thread::scope(|s| {
        for _ in 0..2 {
            let rx = &rx;
            s.spawn(move || assert_eq!(rx.position(), 0));
        }
    });
    let mut rx = std::sync::Arc::into_inner(rx).unwrap();
    assert_eq!(
        std::thread::spawn(move || rx.recv())
            .join()
            .unwrap()
            .as_deref(),
        Ok("x")
    );
}
