//! Crawl scope: which discovered URLs the crawl follows.
//!
//! The default follows only the seeds' hosts, because a news crawl that
//! wanders off to every share button and ad server is useless and impolite.

use std::collections::HashSet;

use url::Url;

use crate::canon::HostKey;

/// How far from the seeds the crawl may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeMode {
    /// Only the exact hosts of the seeds (plus `--allow-host`).
    #[default]
    Host,
    /// Any host under a seed's registrable domain (`www.x.fr` → `*.x.fr`).
    Domain,
    /// Everything reachable (use with a page or depth limit).
    Any,
}

impl std::str::FromStr for ScopeMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "host" => Ok(ScopeMode::Host),
            "domain" => Ok(ScopeMode::Domain),
            "any" => Ok(ScopeMode::Any),
            _ => Err(format!("unknown scope {s:?}: expected host, domain or any")),
        }
    }
}

/// The set of hosts (or domains) a crawl may fetch from.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    mode: ScopeMode,
    hosts: HashSet<String>,
    domains: HashSet<String>,
}

impl Scope {
    pub fn new(mode: ScopeMode) -> Scope {
        Scope { mode, ..Scope::default() }
    }

    /// Admit a seed URL's host (and its registrable domain).
    pub fn add_seed(&mut self, seed: &Url) {
        self.allow_host(HostKey::of(seed).as_str());
    }

    /// Admit a host given on the command line (`--allow-host`).
    pub fn allow_host(&mut self, host: &str) {
        let key = HostKey::from(host);
        self.domains.insert(key.registrable_domain().to_string());
        self.hosts.insert(key.as_str().to_string());
    }

    pub fn mode(&self) -> ScopeMode {
        self.mode
    }

    /// Whether a canonical URL may be crawled.
    pub fn contains(&self, url: &Url) -> bool {
        let key = HostKey::of(url);
        match self.mode {
            ScopeMode::Any => true,
            ScopeMode::Host => self.hosts.contains(key.as_str()),
            ScopeMode::Domain => {
                self.hosts.contains(key.as_str()) || self.domains.contains(key.registrable_domain())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn host_scope_keeps_to_the_seed_hosts() {
        let mut s = Scope::new(ScopeMode::Host);
        s.add_seed(&u("http://www.lemonde.fr/"));
        s.allow_host("127.0.1.2");
        assert!(s.contains(&u("http://www.lemonde.fr/a")));
        assert!(s.contains(&u("https://www.lemonde.fr:8443/a")));
        assert!(!s.contains(&u("http://abonnes.lemonde.fr/a")));
        assert!(s.contains(&u("http://127.0.1.2:8080/")));
        assert!(!s.contains(&u("http://127.0.200.1:8080/")));
    }

    #[test]
    fn domain_scope_takes_the_registrable_domain() {
        let mut s = Scope::new(ScopeMode::Domain);
        s.add_seed(&u("http://www.bbc.co.uk/"));
        assert!(s.contains(&u("http://news.bbc.co.uk/a")));
        assert!(!s.contains(&u("http://other.co.uk/a")));
    }
}
