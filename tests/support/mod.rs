//! Support for the end-to-end tests: a websim site served by nginx on
//! loopback, the crawler binary, and the policy for missing prerequisites.
//!
//! Prerequisites (python3, nginx, the shared websim folder, RabbitMQ, Redis)
//! are checked up front. When one is missing the test says which and why,
//! and passes as skipped — unless `CRAWL_TEST_REQUIRE=1` (set by `.ci/run`),
//! where a missing prerequisite fails loudly instead.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Skip (or, in CI, fail) when a prerequisite is missing. Returns whether to go on.
pub fn require(ok: bool, what: &str) -> bool {
    if ok {
        return true;
    }
    if std::env::var("CRAWL_TEST_REQUIRE").is_ok_and(|v| v == "1") {
        panic!("prerequisite missing: {what} (CRAWL_TEST_REQUIRE=1)");
    }
    eprintln!("SKIPPED: {what}");
    false
}

/// `../shared` next to the checkout (or `$CRAWL_SHARED`).
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CRAWL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    dir.join("websim/generate.py").exists().then(|| dir.canonicalize().unwrap_or(dir))
}

pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd} || test -x /usr/sbin/{cmd}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The crawler binary built for these tests.
pub fn crawler() -> Command {
    Command::new(env!("CARGO_BIN_EXE_crawler"))
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        eprintln!("{cmd:?} exited with {}", out.status);
    }
    out
}

/// A generated websim site served by its own nginx, stopped and removed on drop.
pub struct Websim {
    pub dir: PathBuf,
    pub shared: PathBuf,
    served: bool,
}

impl Websim {
    /// Generate a site into a fresh temporary folder. `net` picks a private
    /// loopback range (127.0.<net>.x) and port (18000 + net) so tests can run
    /// side by side. `None` when prerequisites are missing (test skipped).
    pub fn generate(name: &str, net: u8, args: &[&str]) -> Option<Websim> {
        let shared = shared_dir();
        if !require(
            shared.is_some(),
            "the shared websim folder (../shared/websim or $CRAWL_SHARED) is missing",
        ) || !require(have("python3"), "python3 is not installed")
            || !require(have("nginx"), "nginx is not installed (apt-get install -y nginx)")
        {
            return None;
        }
        let shared = shared.expect("checked");
        let dir = std::env::temp_dir().join(format!("crawl-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let base_ip = format!("127.0.{net}.1");
        let port = (18000 + net as u32).to_string();
        let mut cmd = Command::new("python3");
        cmd.arg(shared.join("websim/generate.py"))
            .args(["--out", dir.to_str().expect("utf-8 temp dir"), "--base-ip", &base_ip, "--port", &port])
            .args(args);
        let out = run(&mut cmd);
        assert!(out.status.success(), "websim generate failed: {}", String::from_utf8_lossy(&out.stderr));
        Some(Websim { dir, shared, served: false })
    }

    pub fn serve(&mut self) {
        let out = run(Command::new(self.shared.join("websim/serve.sh")).arg("start").arg(&self.dir));
        assert!(out.status.success(), "websim serve failed: {}", String::from_utf8_lossy(&out.stderr));
        self.served = true;
        // serve.sh requested the first seed to check nginx is up: start the
        // log afresh so the audit sees only the crawler.
        self.rotate("startup");
    }

    /// Move the access log aside (and start a new one); returns the old log.
    pub fn rotate(&self, name: &str) -> PathBuf {
        let out =
            run(Command::new(self.shared.join("websim/serve.sh")).arg("rotate").arg(&self.dir).arg(name));
        assert!(out.status.success(), "websim rotate failed");
        self.dir.join(format!("nginx/logs/{name}.log"))
    }

    pub fn seeds(&self) -> PathBuf {
        self.dir.join("seeds.txt")
    }

    /// audit.py's JSON report of the current access log.
    pub fn audit(&self) -> serde_json::Value {
        let out = run(Command::new("python3")
            .arg(self.shared.join("websim/audit.py"))
            .arg(&self.dir)
            .arg("--json"));
        assert!(out.status.success(), "audit failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("audit prints JSON")
    }

    /// pages.jsonl: url → page record.
    pub fn pages(&self) -> std::collections::HashMap<String, serde_json::Value> {
        read_jsonl(&self.dir.join("pages.jsonl"))
            .into_iter()
            .map(|p| (p["url"].as_str().expect("url").to_string(), p))
            .collect()
    }
}

impl Drop for Websim {
    fn drop(&mut self) {
        if self.served {
            let _ = Command::new(self.shared.join("websim/serve.sh")).arg("stop").arg(&self.dir).output();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("keeping {} for inspection", self.dir.display());
        }
    }
}

pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines().map(|l| serde_json::from_str(l).expect("valid JSON line")).collect()
}

/// A fresh output folder for a crawl.
pub fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("crawl-e2e-out-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Can we reach RabbitMQ and Redis on loopback? (Skip or fail, see `require`.)
pub fn services_available() -> bool {
    let up = |addr: &str| {
        std::net::TcpStream::connect_timeout(&addr.parse().unwrap(), std::time::Duration::from_secs(1))
            .is_ok()
    };
    require(up("127.0.0.1:5672"), "RabbitMQ is not reachable on 127.0.0.1:5672")
        && require(up("127.0.0.1:6379"), "Redis is not reachable on 127.0.0.1:6379")
}

/// A distributed crawl as separate OS processes, in a namespace of its own.
/// Everything (processes, Redis keys, queues, folders) is removed on drop.
pub struct Cluster {
    pub namespace: String,
    pub dir: PathBuf,
    pub redis_url: String,
    workers: Vec<(String, std::process::Child)>,
}

impl Cluster {
    pub fn new(name: &str) -> Cluster {
        let namespace = format!("e2e-{name}-{}", std::process::id());
        let dir = std::env::temp_dir().join(format!("crawl-e2e-{namespace}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Cluster { namespace, dir, redis_url: "redis://127.0.0.1:6379/".into(), workers: Vec::new() }
    }

    /// A `crawler` command configured for this cluster.
    pub fn command(&self, role: &str) -> Command {
        let mut cmd = crawler();
        cmd.arg(role)
            .env("CRAWL_NAMESPACE", &self.namespace)
            .env("CRAWL_REDIS_URL", &self.redis_url)
            .env("CRAWL_BODIES", self.dir.join("bodies"))
            .env("CRAWL_OUT", self.dir.join("out"))
            .env("CRAWL_LOG", "info,lapin=warn");
        cmd
    }

    /// Start a worker; its log goes to DIR/<role>-<n>.log.
    pub fn start(&mut self, role: &str, args: &[&str]) -> usize {
        let n = self.workers.iter().filter(|(r, _)| r == role).count();
        let log = std::fs::File::create(self.dir.join(format!("{role}-{n}.log"))).unwrap();
        let child = self
            .command(role)
            .args(args)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {role}: {e}"));
        self.workers.push((role.to_string(), child));
        self.workers.len() - 1
    }

    /// SIGKILL a worker (no drain: what a crash looks like).
    pub fn kill(&mut self, index: usize) {
        let (role, mut child) = self.workers.remove(index);
        eprintln!("killing {role} (pid {})", child.id());
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM every worker and wait for them to drain and exit.
    pub fn stop_all(&mut self) {
        for (_, child) in &self.workers {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        }
        for (role, child) in &mut self.workers {
            let status = child.wait().unwrap();
            assert!(status.success(), "{role} did not exit cleanly after SIGTERM: {status}");
        }
        self.workers.clear();
    }

    pub fn status(&self) -> serde_json::Value {
        self.status_from(None)
    }

    /// Status with queue counts read live over AMQP (the management API's
    /// numbers lag by up to its refresh interval).
    pub fn status_live(&self) -> serde_json::Value {
        self.status_from(Some("http://127.0.0.1:1/"))
    }

    fn status_from(&self, management_url: Option<&str>) -> serde_json::Value {
        let mut cmd = self.command("status");
        cmd.arg("--json");
        if let Some(url) = management_url {
            cmd.env("CRAWL_MANAGEMENT_URL", url);
        }
        let out = run(&mut cmd);
        assert!(out.status.success(), "status failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("status prints JSON")
    }

    pub fn documents(&self) -> Vec<serde_json::Value> {
        read_jsonl(&self.dir.join("out/documents.jsonl"))
    }

    /// Print every worker's log (on failure, to see why).
    pub fn dump_logs(&self) {
        for entry in std::fs::read_dir(&self.dir).unwrap().flatten() {
            if entry.path().extension().is_some_and(|e| e == "log") {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                eprintln!("--- {} (last lines)", entry.path().display());
                for l in tail.into_iter().rev() {
                    eprintln!("{l}");
                }
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, child) in &mut self.workers {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            self.dump_logs();
        }
        let _ = self.command("purge").arg("--yes").output();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The audit points every polite, complete crawl of a websim site must meet.
pub fn assert_complete_and_polite(site: &Websim, audit: &serde_json::Value, min_gap_s: f64) {
    let hosts = std::fs::read_to_string(site.seeds()).unwrap().lines().count() as u64;
    assert_eq!(audit["coverage"], 1.0, "coverage of expected pages");
    assert_eq!(audit["disallowed_fetched"], 0, "robots.txt-disallowed URLs fetched");
    assert_eq!(audit["duplicate_gets_same_canonical_url"], 0, "duplicate GETs of one canonical URL");
    assert_eq!(audit["hosts_seen"], hosts, "only the site's hosts (never the unserved 127.0.200.x)");
    assert_eq!(audit["robots_txt_before_first_page_hosts"], hosts, "robots.txt first on every host");
    for (host, h) in audit["per_host"].as_object().unwrap() {
        assert!(h.get("unknown_host").is_none(), "request to a host outside the site: {host}");
        assert_eq!(h["robots_txt_fetched"], 1, "{host}: robots.txt once");
        let gap = h["min_gap_s"].as_f64().unwrap_or(f64::MAX);
        // nginx logs times in ms: allow a millisecond of rounding.
        assert!(gap >= min_gap_s - 0.002, "{host}: two requests {gap} s apart");
        if let Some(n) = h.get("gaps_below_crawl_delay") {
            assert_eq!(n, 0, "{host}: gaps shorter than its Crawl-delay");
        }
    }
}

/// Each expected page once in documents.jsonl, with the right title
/// (windows-1252 hosts included).
pub fn assert_documents(site: &Websim, documents: &Path) {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(site.dir.join("manifest.json")).unwrap()).unwrap();
    let expected: HashSet<&str> =
        manifest["expected_pages"].as_array().unwrap().iter().map(|u| u.as_str().unwrap()).collect();
    let docs = read_jsonl(documents);
    let mut seen = HashSet::new();
    for d in &docs {
        let url = d["final_url"].as_str().unwrap();
        assert!(seen.insert(url.to_string()), "{url} written twice");
    }
    let missing: Vec<_> = expected.iter().filter(|u| !seen.contains(**u)).collect();
    assert!(missing.is_empty(), "expected pages without a document: {missing:?}");

    let pages = site.pages();
    let mut wrong = Vec::new();
    let mut cp1252 = 0;
    for d in &docs {
        let Some(p) = pages.get(d["final_url"].as_str().unwrap()) else { continue };
        // websim's truth writes the em dash of listing-page headings as a hyphen
        let norm = |s: &str| s.replace('\u{2014}', "-");
        let got = norm(d["title"].as_str().unwrap_or(""));
        let want = norm(p["title"].as_str().unwrap());
        if got != want {
            wrong.push(format!("{}: {got:?} != {want:?}", d["final_url"]));
        }
        if p["charset"] == "windows-1252" {
            cp1252 += 1;
        }
    }
    assert!(cp1252 > 0, "the site has windows-1252 pages");
    assert!(wrong.is_empty(), "{} wrong titles, e.g. {:?}", wrong.len(), &wrong[..wrong.len().min(5)]);
}

/// Run a command, killing it after `limit`; returns its stdout.
pub fn run_with_timeout(cmd: &mut Command, limit: std::time::Duration) -> (bool, String) {
    let mut child =
        cmd.stdout(std::process::Stdio::piped()).spawn().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            use std::io::Read;
            child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
            return (status.success(), out);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Poll `f` until it is true or `limit` passes.
pub fn wait_for(what: &str, limit: std::time::Duration, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}
