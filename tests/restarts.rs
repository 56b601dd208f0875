//! A distributed crawl survives a RabbitMQ restart and a Redis restart.
//!
//! Redis: the test runs its own `redis-server` with an append-only file
//! (`appendfsync always`, as production should run it; the machine's shared
//! Redis keeps nothing on disk), kills it with SIGKILL mid-crawl and starts
//! it again on the same file. RabbitMQ: the machine's broker is stopped and
//! started (`rabbitmqctl stop_app` / `start_app`); its quorum queues keep
//! their messages. The two tests take turns: the broker restart would
//! disturb any other crawl using it.

mod support;

use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::Duration;

use support::{
    Cluster, Websim, assert_documents, have, require, run_with_timeout, services_available, wait_for,
};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn start_workers(cluster: &mut Cluster) {
    cluster.start("scheduler", &[]);
    for _ in 0..2 {
        cluster.start("fetcher", &["--allow-private", "--delay", "50"]);
    }
    cluster.start("parser", &[]);
    cluster.start("sink", &[]);
}

fn documents_written(cluster: &Cluster) -> u64 {
    cluster.status()["counters"]["documents_written"].as_u64().unwrap_or(0)
}

fn finish(cluster: &mut Cluster, site: &Websim, seeder: std::thread::JoinHandle<(bool, String)>) {
    let (ok, out) = seeder.join().unwrap();
    eprintln!("{out}");
    assert!(ok, "seed --wait failed");
    let audit = site.audit();
    eprintln!("duplicate fetches: {}", audit["duplicate_gets_same_canonical_url"]);
    assert_eq!(audit["coverage"], 1.0, "coverage");
    assert_eq!(audit["disallowed_fetched"], 0);
    assert_documents(site, &cluster.dir.join("out/documents.jsonl"));
    assert_eq!(cluster.status()["dead_letters"], 0);
    cluster.stop_all();
}

fn seed_in_background(cluster: &Cluster, site: &Websim) -> std::thread::JoinHandle<(bool, String)> {
    let mut cmd = cluster.command("seed");
    cmd.arg("--seeds").arg(site.seeds()).arg("--wait");
    std::thread::spawn(move || run_with_timeout(&mut cmd, Duration::from_secs(600)))
}

fn rabbitmqctl(arg: &str) {
    let ok = Command::new("rabbitmqctl").arg(arg).status().is_ok_and(|s| s.success());
    assert!(ok, "rabbitmqctl {arg} failed");
}

/// Starts the broker app again even if the test fails halfway.
struct BrokerBack;

impl Drop for BrokerBack {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl").arg("start_app").status();
    }
}

#[test]
fn crawl_survives_a_broker_restart() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    if !services_available() || !require(have("rabbitmqctl"), "rabbitmqctl is not installed") {
        return;
    }
    let Some(mut site) = Websim::generate(
        "brokerrestart",
        43,
        &["--hosts", "3", "--pages", "150", "--crawl-delay-hosts", "0"],
    ) else {
        return;
    };
    site.serve();
    let mut cluster = Cluster::new("brokerrestart");
    start_workers(&mut cluster);
    let seeder = seed_in_background(&cluster, &site);
    wait_for("100 documents", Duration::from_secs(300), || documents_written(&cluster) >= 100);
    {
        let _back = BrokerBack;
        rabbitmqctl("stop_app");
        std::thread::sleep(Duration::from_secs(3));
        rabbitmqctl("start_app");
    }
    finish(&mut cluster, &site, seeder);
}

/// A private Redis with an append-only file.
struct PrivateRedis {
    port: u16,
    dir: std::path::PathBuf,
    child: Option<Child>,
}

impl PrivateRedis {
    fn start(port: u16, dir: &std::path::Path) -> PrivateRedis {
        let mut r = PrivateRedis { port, dir: dir.to_path_buf(), child: None };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        std::fs::create_dir_all(&self.dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always", "--maxmemory-policy", "noeviction"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let addr = format!("127.0.0.1:{}", self.port);
        wait_for("the private Redis", Duration::from_secs(10), || {
            std::net::TcpStream::connect(&addr).is_ok()
        });
    }

    fn crash(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.crash();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn crawl_survives_a_redis_restart() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    if !services_available() || !require(have("redis-server"), "redis-server is not installed") {
        return;
    }
    let Some(mut site) =
        Websim::generate("redisrestart", 44, &["--hosts", "3", "--pages", "150", "--crawl-delay-hosts", "0"])
    else {
        return;
    };
    site.serve();
    let mut cluster = Cluster::new("redisrestart");
    let port = 16_400 + (std::process::id() % 1000) as u16;
    let mut redis = PrivateRedis::start(port, &cluster.dir.join("redis"));
    cluster.redis_url = format!("redis://127.0.0.1:{port}/");
    start_workers(&mut cluster);
    let seeder = seed_in_background(&cluster, &site);
    wait_for("100 documents", Duration::from_secs(300), || documents_written(&cluster) >= 100);
    redis.crash();
    std::thread::sleep(Duration::from_secs(3));
    redis.spawn();
    finish(&mut cluster, &site, seeder);
}
