//! The chat server of `examples/chat.rs`, also driven by `tests/chat.rs`: every line from
//! any client goes to every client through one tailcast stream.
//!
//! - One stream of `Arc<str>` lines, capacity [`CAPACITY`], retaining the last
//!   [`HISTORY`] lines for late joiners; the clients' tasks publish through one
//!   `SharedPublisher`.
//! - Each client's writer is a `Disconnect` subscriber: a client that reads too slowly
//!   falls `CAPACITY` lines behind and is evicted (its lines are freed at once), told why
//!   if its socket still takes a line, and disconnected. A write that cannot finish within
//!   [`WRITE_TIMEOUT`] disconnects it too.
//! - A line over [`MAX_LINE`] bytes, or one that is not UTF-8, gets the client told why
//!   and disconnected: the server never holds more than one line per client beyond the
//!   stream's bound.

use std::sync::Arc;
use std::time::Duration;

use tailcast::{Builder, LagPolicy, Position, RecvError, SharedPublisher};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

/// Lines a client may be behind before it is evicted.
pub(crate) const CAPACITY: usize = 256;
/// Lines a new client receives on joining.
pub(crate) const HISTORY: usize = 20;
/// The longest line accepted, without its newline.
pub(crate) const MAX_LINE: usize = 64 * 1024;
/// How long one write to a client may take.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Accepts clients on `listener` until the task is dropped.
pub(crate) async fn serve(listener: TcpListener) -> std::io::Result<()> {
    let publisher = Builder::new()
        .capacity(CAPACITY)
        .retain(HISTORY)
        .lag_policy(LagPolicy::Disconnect)
        .build_publisher::<Arc<str>>()
        .expect("a valid configuration")
        .into_shared();
    let mut next_id = 0u64;
    loop {
        let (socket, _) = listener.accept().await?;
        next_id += 1;
        tokio::spawn(client(socket, next_id, publisher.clone()));
    }
}

async fn client(socket: TcpStream, id: u64, publisher: SharedPublisher<Arc<str>>) {
    let name = format!("client {id}");
    let mut lines = publisher
        .subscribe_at_with(Position::Oldest, LagPolicy::Disconnect)
        .expect("the oldest retained line is in the window");
    let (read_half, write_half) = socket.into_split();
    let write_half = Arc::new(Mutex::new(write_half));
    let out = Arc::clone(&write_half);
    let mut writer = tokio::spawn(async move {
        loop {
            let line = match lines.recv_async().await {
                Ok(line) => line,
                Err(RecvError::Evicted) => {
                    let note = "server: you fell too far behind; disconnected\n";
                    let _ = send(&out, note.as_bytes()).await;
                    return;
                }
                Err(_) => return,
            };
            let mut bytes = Vec::with_capacity(line.len() + 1);
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
            if send(&out, &bytes).await.is_err() {
                return; // gone, or too slow to take one line
            }
        }
    });
    publisher
        .publish_async(format!("server: {name} joined").into())
        .await;
    let mut reader = BufReader::new(read_half);
    let mut buf = Vec::new();
    let why = loop {
        buf.clear();
        // At most one line and its newline: a longer one is refused unread.
        let mut limited = (&mut reader).take(MAX_LINE as u64 + 1);
        tokio::select! {
            read = limited.read_until(b'\n', &mut buf) => match read {
                Ok(0) => break None,
                Ok(_) => {}
                Err(e) => break Some(format!("read error: {e}")),
            },
            // The writer gave up (evicted, or a write timed out): so do we.
            _ = &mut writer => break Some("too slow".to_string()),
        }
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if line.len() > MAX_LINE {
            break Some(format!("line over {MAX_LINE} bytes"));
        }
        let Ok(text) = std::str::from_utf8(line) else {
            break Some("line is not UTF-8".to_string());
        };
        publisher
            .publish_async(format!("{name}: {text}").into())
            .await;
    };
    // The client closed its side (it leaves), or is refused: its writer stops.
    if !writer.is_finished() {
        writer.abort();
        let _ = writer.await;
        if let Some(why) = why {
            let _ = send(
                &write_half,
                format!("server: {why}; disconnected\n").as_bytes(),
            )
            .await;
        }
    }
    let _ = write_half.lock().await.shutdown().await;
    publisher
        .publish_async(format!("server: {name} left").into())
        .await;
}

/// Writes `bytes` to the client, within [`WRITE_TIMEOUT`].
async fn send(out: &Mutex<OwnedWriteHalf>, bytes: &[u8]) -> std::io::Result<()> {
    let mut out = out.lock().await;
    match tokio::time::timeout(WRITE_TIMEOUT, out.write_all(bytes)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}
