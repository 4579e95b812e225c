//! A TCP chat server on one tailcast stream: every line from any client goes to every
//! client; a client that reads too slowly is disconnected (`LagPolicy::Disconnect`) and
//! told why; a new client gets the last 20 lines; a line over 64 KiB, or one that is not
//! UTF-8, gets its client told why and disconnected. See `chat/server.rs`.
//!
//! ```text
//! cargo run --release --example chat -- [PORT]     (default: an ephemeral port)
//! nc 127.0.0.1 PORT                               (in two other terminals)
//! ```

#[path = "chat/server.rs"]
mod server;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = match std::env::args().nth(1).map(|p| p.parse()) {
        None => 0,
        Some(Ok(port)) => port,
        Some(Err(_)) => {
            eprintln!("usage: chat [PORT]");
            std::process::exit(2);
        }
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("chat: listening on {}", listener.local_addr()?);
    server::serve(listener).await
}
