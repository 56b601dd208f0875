//! `crawler health`: exit 0 if the worker on this host answers on its
//! metrics port (for container HEALTHCHECKs: the runtime image has no curl).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

/// Check that a worker's /health endpoint answers.
#[derive(Args, Debug)]
pub struct HealthArgs {
    /// The worker's metrics address (its --metrics-addr); 0.0.0.0 means this host.
    #[arg(long, env = "CRAWL_METRICS_ADDR", default_value = "127.0.0.1:9090", value_name = "ADDR")]
    pub metrics_addr: SocketAddr,
}

pub async fn run(args: HealthArgs) -> anyhow::Result<()> {
    let mut addr = args.metrics_addr;
    if addr.ip().is_unspecified() {
        addr.set_ip([127, 0, 0, 1].into());
    }
    let client = reqwest::Client::builder().timeout(Duration::from_secs(3)).no_proxy().build()?;
    let resp = client.get(format!("http://{addr}/health")).send().await?;
    anyhow::ensure!(resp.status().is_success(), "health check answered {}", resp.status());
    Ok(())
}
