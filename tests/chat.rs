//! The chat example's server (`examples/chat/server.rs`) driven by real TCP clients on
//! loopback: lines to every client in order, the last 20 lines for a late joiner, a slow
//! client disconnected while the others go on, and an over-long or non-UTF-8 line refused
//! with the reason. Every read is bounded in time. (Not under miri: it has no sockets.)
#![cfg(not(miri))]

#[path = "../examples/chat/server.rs"]
#[allow(dead_code)]
mod server;

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);

/// Starts the server on an ephemeral loopback port; it stops with the test's runtime.
async fn start() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::serve(listener));
    addr
}

struct Client {
    lines: BufReader<OwnedReadHalf>,
    out: OwnedWriteHalf,
}

impl Client {
    async fn connect(addr: std::net::SocketAddr) -> Self {
        let (read, out) = TcpStream::connect(addr).await.unwrap().into_split();
        Self {
            lines: BufReader::new(read),
            out,
        }
    }

    /// The next line, or `None` at the end of the connection.
    async fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        let n = timeout(LIMIT, self.lines.read_line(&mut line))
            .await
            .expect("a line within the time limit")
            .unwrap_or(0);
        (n > 0).then(|| line.trim_end_matches('\n').to_string())
    }

    async fn expect(&mut self, expected: &[&str]) {
        for want in expected {
            assert_eq!(self.line().await.as_deref(), Some(*want));
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.out.write_all(bytes).await.unwrap();
    }

    /// Every line until the server closes the connection.
    async fn rest(&mut self) -> Vec<String> {
        let mut all = Vec::new();
        while let Some(line) = self.line().await {
            all.push(line);
        }
        all
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_reaches_every_client_in_order() {
    let addr = start().await;
    let mut a = Client::connect(addr).await;
    a.expect(&["server: client 1 joined"]).await;
    let mut b = Client::connect(addr).await;
    b.expect(&["server: client 1 joined", "server: client 2 joined"])
        .await;
    a.expect(&["server: client 2 joined"]).await;
    a.send(b"hello\n").await;
    b.send(b"hi\n").await;
    // Both see the two lines in the same order, whichever it is.
    let seen_a = [a.line().await.unwrap(), a.line().await.unwrap()];
    let seen_b = [b.line().await.unwrap(), b.line().await.unwrap()];
    assert_eq!(seen_a, seen_b);
    let mut sorted = seen_a.clone();
    sorted.sort();
    assert_eq!(sorted, ["client 1: hello", "client 2: hi"]);
    drop(b);
    a.expect(&["server: client 2 left"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_gets_the_last_20_lines() {
    let addr = start().await;
    let mut a = Client::connect(addr).await;
    a.expect(&["server: client 1 joined"]).await;
    for i in 0..30 {
        a.send(format!("line {i}\n").as_bytes()).await;
    }
    for i in 0..30 {
        a.expect(&[&format!("client 1: line {i}")]).await;
    }
    let mut late = Client::connect(addr).await;
    for i in 10..30 {
        late.expect(&[&format!("client 1: line {i}")]).await;
    }
    late.expect(&["server: client 2 joined"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_long_line_is_refused_with_the_reason() {
    let addr = start().await;
    let mut c = Client::connect(addr).await;
    c.expect(&["server: client 1 joined"]).await;
    let mut long = vec![b'a'; server::MAX_LINE + 100];
    long.push(b'\n');
    c.send(&long).await;
    assert_eq!(
        c.rest().await,
        [format!(
            "server: line over {} bytes; disconnected",
            server::MAX_LINE
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_that_is_not_utf8_is_refused_with_the_reason() {
    let addr = start().await;
    let mut c = Client::connect(addr).await;
    c.expect(&["server: client 1 joined"]).await;
    c.send(b"fine\n").await;
    c.expect(&["client 1: fine"]).await;
    c.send(&[0xff, 0xfe, b'\n']).await;
    assert_eq!(c.rest().await, ["server: line is not UTF-8; disconnected"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_is_disconnected_and_the_others_go_on() {
    let addr = start().await;
    let mut a = Client::connect(addr).await;
    a.expect(&["server: client 1 joined"]).await;
    let mut slow = Client::connect(addr).await; // never reads until the end
    a.expect(&["server: client 2 joined"]).await;
    // 16 MiB of lines: more than the loopback socket buffers hold, so the server's writes
    // to the slow client stop, and it falls behind. `a` reads its own lines back every 64,
    // so it stays well within the stream's capacity itself.
    let line = "x".repeat(32 * 1024 - 1);
    let echo = format!("client 1: {line}");
    let mut left = false;
    for _ in 0..8 {
        for _ in 0..64 {
            a.send(format!("{line}\n").as_bytes()).await;
        }
        let mut echoed = 0;
        while echoed < 64 {
            let got = a.line().await.expect("a stays connected");
            if got == echo {
                echoed += 1;
            } else {
                assert_eq!(got, "server: client 2 left");
                left = true;
            }
        }
    }
    // Told that the slow client left: above, or within the time limit of a line.
    while !left {
        assert_eq!(a.line().await.as_deref(), Some("server: client 2 left"));
        left = true;
    }
    // The slow client's connection ends: what the buffers held, then the end.
    let mut sink = Vec::new();
    let read = timeout(LIMIT, slow.lines.read_to_end(&mut sink)).await;
    assert!(read.is_ok(), "the slow client's connection was closed");
    assert!(sink.len() < 512 * line.len(), "it did not get everything");
}
