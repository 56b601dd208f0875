//! RabbitMQ's management API, when it is reachable: it knows what AMQP
//! cannot tell a client (unacknowledged messages, message rates, memory and
//! disk alarms). `crawler status` says which source it used.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

pub struct Management {
    client: reqwest::Client,
    base: Url,
    user: String,
    password: String,
    vhost: String,
}

/// One queue as the management API reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiQueue {
    pub name: String,
    #[serde(default)]
    pub messages_ready: u64,
    #[serde(default)]
    pub messages_unacknowledged: u64,
    #[serde(default)]
    pub consumers: u64,
    #[serde(default)]
    pub message_stats: Option<MessageStats>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MessageStats {
    #[serde(default)]
    pub publish_details: Option<Rate>,
    #[serde(default)]
    pub ack_details: Option<Rate>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Rate {
    pub rate: f64,
}

#[derive(Deserialize)]
struct Node {
    name: String,
    #[serde(default)]
    mem_alarm: bool,
    #[serde(default)]
    disk_free_alarm: bool,
}

impl Management {
    /// The API of the broker at `amqp_url` (same host and credentials, port
    /// 15672), or at `api_url` when given.
    pub fn new(amqp_url: &str, api_url: Option<&str>) -> anyhow::Result<Management> {
        let amqp = Url::parse(amqp_url)?;
        let base = match api_url {
            Some(u) => Url::parse(u)?,
            None => Url::parse(&format!("http://{}:15672/", amqp.host_str().unwrap_or("127.0.0.1")))?,
        };
        let vhost = match amqp.path().trim_start_matches('/') {
            "" => "/".to_string(),
            v => percent_decode(v),
        };
        Ok(Management {
            client: reqwest::Client::builder().timeout(Duration::from_secs(3)).no_proxy().build()?,
            base,
            user: percent_decode(if amqp.username().is_empty() { "guest" } else { amqp.username() }),
            password: percent_decode(amqp.password().unwrap_or("guest")),
            vhost,
        })
    }

    async fn get<T: for<'de> Deserialize<'de>>(&self, path: &str) -> anyhow::Result<T> {
        let url = self.base.join(path)?;
        let resp = self.client.get(url).basic_auth(&self.user, Some(&self.password)).send().await?;
        anyhow::ensure!(resp.status().is_success(), "management API answered {}", resp.status());
        Ok(serde_json::from_slice(&resp.bytes().await?)?)
    }

    /// The queues whose name starts with `prefix`.
    pub async fn queues(&self, prefix: &str) -> anyhow::Result<Vec<ApiQueue>> {
        let vhost = percent_encode(&self.vhost);
        let all: Vec<ApiQueue> = self
            .get(&format!(
                "api/queues/{vhost}?columns=name,messages_ready,messages_unacknowledged,consumers,\
                 message_stats.publish_details,message_stats.ack_details"
            ))
            .await?;
        Ok(all.into_iter().filter(|q| q.name.starts_with(prefix)).collect())
    }

    /// Active memory and disk alarms (while one is on, publishers are blocked).
    pub async fn alarms(&self) -> anyhow::Result<Vec<String>> {
        let nodes: Vec<Node> = self.get("api/nodes?columns=name,mem_alarm,disk_free_alarm").await?;
        let mut out = Vec::new();
        for n in nodes {
            if n.mem_alarm {
                out.push(format!("memory alarm on {}", n.name));
            }
            if n.disk_free_alarm {
                out.push(format!("disk alarm on {}", n.name));
            }
        }
        Ok(out)
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vhost_and_credentials_from_the_amqp_url() {
        let m = Management::new("amqp://crawler:s%40cret@rabbit:5672/%2f", None).unwrap();
        assert_eq!((m.user.as_str(), m.password.as_str(), m.vhost.as_str()), ("crawler", "s@cret", "/"));
        assert_eq!(m.base.as_str(), "http://rabbit:15672/");
        assert_eq!(percent_encode("/"), "%2F");
        let m = Management::new("amqp://127.0.0.1", Some("http://mgmt:8080/")).unwrap();
        assert_eq!((m.user.as_str(), m.vhost.as_str(), m.base.as_str()), ("guest", "/", "http://mgmt:8080/"));
    }
}
