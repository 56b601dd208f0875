//! Support for the end-to-end tests: a websim site served by nginx on
//! loopback, the crawler binary, and the policy for missing prerequisites.
//!
//! Prerequisites (python3, nginx, the shared websim folder, RabbitMQ, Redis)
//! are checked up front. When one is missing the test says which and why,
//! and passes as skipped — unless `CRAWL_TEST_REQUIRE=1` (set by `.ci/run`),
//! where a missing prerequisite fails loudly instead.

#![allow(dead_code)] // each test binary uses a different part of this module

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
