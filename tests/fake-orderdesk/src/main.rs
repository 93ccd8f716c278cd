//! Runs the fake OrderDesk API standalone on `127.0.0.1`.
//!
//! Prints the `ORDERDESK_*` variables a client needs on stdout, logs to stderr, and serves
//! until Ctrl-C.

use std::io::Write;

use clap::Parser;
use fake_orderdesk::{FakeConfig, FakeOrderDesk};
use tracing_subscriber::EnvFilter;

/// A fake OrderDesk API v2 server with deterministic seed data.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Port to listen on at 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Number of orders to seed (ids from 100001).
    #[arg(long, default_value_t = FakeConfig::default().orders)]
    orders: usize,
    /// Number of inventory items to seed (ids from 5001).
    #[arg(long, default_value_t = FakeConfig::default().products)]
    products: usize,
    /// Store id clients must send in the ORDERDESK-STORE-ID header.
    #[arg(long, default_value_t = FakeConfig::default().store_id)]
    store_id: String,
    /// API key clients must send in the ORDERDESK-API-KEY header.
    #[arg(long, default_value_t = FakeConfig::default().api_key)]
    api_key: String,
    /// Turn off the leaky-bucket rate limiter (answers still carry X-Tokens-Remaining).
    #[arg(long)]
    no_rate_limit: bool,
    /// Serve request bodies sent without Content-Length (Transfer-Encoding: chunked)
    /// instead of refusing them with 411 Length Required.
    #[arg(long)]
    allow_chunked: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let config = FakeConfig {
        store_id: args.store_id,
        api_key: args.api_key,
        orders: args.orders,
        products: args.products,
        rate_limit: !args.no_rate_limit,
        reject_chunked: !args.allow_chunked,
        ..FakeConfig::default()
    };
    let fake = FakeOrderDesk::start_on(config, args.port).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "ORDERDESK_API_URL={}", fake.base_url())?;
    writeln!(stdout, "ORDERDESK_STORE_ID={}", fake.store_id())?;
    writeln!(stdout, "ORDERDESK_API_KEY={}", fake.api_key())?;
    // Whoever launched us reads these lines to connect; don't leave them in a buffer.
    stdout.flush()?;
    drop(stdout);
    tokio::signal::ctrl_c().await?;
    tracing::info!("shutting down");
    drop(fake);
    Ok(())
}
