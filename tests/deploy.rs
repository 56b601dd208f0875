//! The deployment files checked without Docker or Kubernetes (CI has
//! neither): docker-compose.yml against the Compose Specification's schema,
//! the Kubernetes manifests against the Kubernetes and KEDA schemas, the
//! Dockerfile through BuildKit's parser (all by deploy/validate.py), and all
//! of them against the binary: every subcommand they run exists, every
//! CRAWL_* variable they set is one that subcommand reads, and every metric
//! the dashboard and the autoscalers query is one that real workers and a
//! real RabbitMQ export.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{Cluster, crawler, have, require, services_available, wait_for};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Run `deploy/validate.py ARGS` and parse what it prints. `None` (the test
/// skips, or fails in CI) when python3 or a validator package is missing;
/// a validation error fails the test with the validator's reasons.
fn validate(args: &[&str]) -> Option<Value> {
    if !require(have("python3"), "python3 is not installed") {
        return None;
    }
    let out = Command::new("python3")
        .arg(repo().join("deploy/validate.py"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run deploy/validate.py");
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => Some(serde_json::from_slice(&out.stdout).expect("validate.py prints JSON")),
        Some(3) => {
            require(false, stderr.trim());
            None
        }
        _ => panic!("deploy/validate.py {args:?} failed:\n{stderr}"),
    }
}

/// What the binary reads: each subcommand's CRAWL_* variables and their
/// defaults, from `crawler <sub> --help` (`[env: CRAWL_X=] [default: v]`).
struct Cli {
    env: BTreeMap<String, BTreeSet<String>>,
    defaults: HashMap<String, String>,
    help: HashMap<String, String>,
}

fn help_of(args: &[&str]) -> String {
    let out = crawler().args(args).arg("--help").output().expect("run crawler --help");
    assert!(out.status.success(), "crawler {args:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

fn cli() -> Cli {
    let top = help_of(&[]);
    let commands = top.split("Commands:").nth(1).expect("a Commands: section");
    let subs: Vec<String> = commands
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // Continuation lines of a wrapped description are indented further.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|s| *s != "help")
        .map(str::to_string)
        .collect();
    assert!(subs.len() >= 8, "subcommands of crawler --help: {subs:?}");
    let mut cli = Cli { env: BTreeMap::new(), defaults: HashMap::new(), help: HashMap::new() };
    for sub in subs {
        let help = help_of(&[&sub]);
        // clap wraps lines anywhere between words: join them first.
        let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut vars = BTreeSet::new();
        for piece in flat.split("[env: ").skip(1) {
            let (var, rest) = piece.split_once("=]").expect("[env: NAME=]");
            if let Some(default) = rest.strip_prefix(" [default: ") {
                let default = default.split_once(']').expect("[default: v]").0;
                cli.defaults.insert(var.to_string(), default.trim_matches('"').to_string());
            }
            vars.insert(var.to_string());
        }
        cli.env.insert(sub.clone(), vars);
        cli.help.insert(sub, help);
    }
    cli
}

impl Cli {
    /// Panics unless `sub` exists and reads `var`.
    fn assert_reads(&self, sub: &str, var: &str, context: &str) {
        let vars = self.env.get(sub).unwrap_or_else(|| panic!("{context}: `crawler {sub}` does not exist"));
        assert!(vars.contains(var), "{context}: `crawler {sub}` does not read {var} (it reads {vars:?})");
    }

    /// Panics unless `args` is a subcommand followed by flags it accepts.
    fn assert_command(&self, args: &[String], context: &str) -> String {
        let sub = args.first().unwrap_or_else(|| panic!("{context}: no command"));
        let help = self.help.get(sub).unwrap_or_else(|| panic!("{context}: `crawler {sub}` does not exist"));
        for flag in args.iter().filter(|a| a.starts_with("--")) {
            let name = flag.split('=').next().unwrap();
            assert!(help.contains(&format!("{name} ")), "{context}: `crawler {sub}` has no {name}");
        }
        sub.clone()
    }

    fn default_seconds(&self, var: &str) -> u64 {
        let d = &self.defaults[var];
        d.strip_suffix('s').and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{var} default {d:?}"))
    }
}

/// `.env.example`: the variables set, and the commented `# NAME=value` ones.
fn env_example() -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let text = std::fs::read_to_string(repo().join(".env.example")).unwrap();
    let (mut set, mut commented) = (BTreeMap::new(), BTreeMap::new());
    for line in text.lines() {
        let (target, line) = match line.strip_prefix("# ") {
            Some(rest) => (&mut commented, rest),
            None => (&mut set, line),
        };
        if let Some((k, v)) = line.split_once('=')
            && !k.is_empty()
            && k.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            target.insert(k.to_string(), v.trim_matches('"').to_string());
        }
    }
    (set, commented)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect()).unwrap_or_default()
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).unwrap_or_else(|| panic!("no port in {addr}"))
}

/// Compose's `90s` / `1m30s` durations, in seconds.
fn compose_seconds(d: &str) -> u64 {
    let (mut total, mut n) = (0, 0);
    for c in d.chars() {
        match c {
            '0'..='9' => n = n * 10 + c.to_digit(10).unwrap() as u64,
            'h' => (total, n) = (total + n * 3600, 0),
            'm' => (total, n) = (total + n * 60, 0),
            's' => (total, n) = (total + n, 0),
            _ => panic!("duration {d:?}"),
        }
    }
    total + n
}

#[test]
fn compose_file_is_valid_and_agrees_with_the_binary() {
    let Some(out) =
        validate(&["compose", "docker-compose.yml", ".env.example", "deploy/compose-spec/compose-spec.json"])
    else {
        return;
    };
    let cli = cli();
    let (model, used) = (&out["model"], strings(&out["variables"]));
    let services = model["services"].as_object().unwrap();

    // .env.example lists every setting the compose file uses, and only those;
    // the commented crawler defaults are the binary's.
    let (set, commented) = env_example();
    let listed: BTreeSet<&String> = set.keys().chain(commented.keys()).collect();
    let used_set: BTreeSet<&String> = used.iter().collect();
    assert_eq!(listed, used_set, ".env.example vs the variables docker-compose.yml uses");
    for (var, value) in &commented {
        if let Some(default) = cli.defaults.get(var) {
            assert_eq!(value, default, ".env.example: # {var}= is not the binary's default");
        }
    }

    let prometheus = &validate(&["yaml", "deploy/prometheus/prometheus.yml"]).unwrap()[0];
    let jobs = prometheus["scrape_configs"].as_array().unwrap();
    let crawler_job = jobs.iter().find(|j| j["job_name"] == "crawler").expect("a crawler scrape job");
    let sd = &crawler_job["dns_sd_configs"][0];
    let scraped: BTreeSet<String> = strings(&sd["names"]).into_iter().collect();

    let mut workers = BTreeSet::new();
    for (name, s) in services {
        let bind_sources = s["volumes"].as_array().into_iter().flatten().filter_map(|v| v.as_str());
        for source in bind_sources.filter_map(|v| v.strip_prefix("./")) {
            let path = source.split(':').next().unwrap();
            assert!(repo().join(path).exists(), "{name}: mounts ./{path}, which does not exist");
        }
        if s["build"]["dockerfile"] != "deploy/Dockerfile" {
            continue;
        }
        let context = format!("docker-compose.yml: service {name}");
        let sub = cli.assert_command(&strings(&s["command"]), &context);
        let env = s["environment"].as_object().expect("environment as a mapping");
        for var in env.keys() {
            cli.assert_reads(&sub, var, &context);
        }
        assert!(env.contains_key("CRAWL_AMQP_URL") && env.contains_key("CRAWL_REDIS_URL"), "{context}");
        for dep in ["rabbitmq", "redis"] {
            assert_eq!(s["depends_on"][dep]["condition"], "service_healthy", "{context}: depends_on {dep}");
        }
        if s["profiles"].is_array() {
            // A one-off tool: no metrics, so no health check.
            assert_eq!(s["healthcheck"]["disable"], true, "{context}");
            continue;
        }
        // A worker: replicas must be able to coexist and drain.
        workers.insert(name.clone());
        assert!(s.get("container_name").is_none() && s.get("ports").is_none(), "{context}: blocks --scale");
        assert_eq!(s["restart"], "unless-stopped", "{context}");
        let grace = compose_seconds(s["stop_grace_period"].as_str().expect("stop_grace_period"));
        assert!(grace > cli.default_seconds("CRAWL_TIMEOUT"), "{context}: stop_grace_period below a fetch");
        let metrics = env["CRAWL_METRICS_ADDR"].as_str().expect("CRAWL_METRICS_ADDR");
        assert!(metrics.starts_with("0.0.0.0:"), "{context}: metrics must be reachable from Prometheus");
        assert_eq!(
            Some(port_of(metrics) as u64),
            sd["port"].as_u64(),
            "{context}: the port Prometheus scrapes"
        );
    }
    assert_eq!(workers, scraped, "Prometheus scrapes every worker service");
    for role in ["scheduler", "fetcher", "parser", "sink"] {
        assert!(workers.contains(role), "no {role} service");
    }

    // The body store is one volume shared by fetchers and parsers, at the
    // path they are told; the sink's output is a volume too.
    let stores = [
        ("fetcher", "CRAWL_BODIES", "bodies"),
        ("parser", "CRAWL_BODIES", "bodies"),
        ("sink", "CRAWL_OUT", "output"),
    ];
    for (role, var, volume) in stores {
        let path = services[role]["environment"][var].as_str().unwrap();
        let mounts = strings(&services[role]["volumes"]);
        assert!(mounts.contains(&format!("{volume}:{path}")), "{role}: {volume} not mounted at {var}={path}");
        assert!(model["volumes"].get(volume).is_some(), "volume {volume} is not declared");
    }

    let redis = strings(&services["redis"]["command"]).join(" ");
    assert!(redis.contains("--appendonly yes") && redis.contains("--maxmemory-policy noeviction"), "{redis}");
    let rabbit = &services["rabbitmq"];
    assert!(rabbit["hostname"].is_string(), "RabbitMQ needs a fixed hostname (its node name)");
    assert!(strings(&rabbit["healthcheck"]["test"]).contains(&"rabbitmq-diagnostics".to_string()));
    for profile in ["prometheus", "grafana"] {
        assert_eq!(strings(&services[profile]["profiles"]), ["monitoring"], "{profile}");
    }
}

#[test]
fn dockerfile_builds_the_one_binary_and_runs_it_as_a_non_root_worker() {
    let Some(instructions) = validate(&["dockerfile", "deploy/Dockerfile"]) else { return };
    let cli = cli();
    let all = instructions.as_array().unwrap();
    let find =
        |cmd: &'static str| all.iter().filter(move |i| i["cmd"].as_str().unwrap().eq_ignore_ascii_case(cmd));
    let last =
        |cmd: &'static str| find(cmd).next_back().unwrap_or_else(|| panic!("no {cmd} in deploy/Dockerfile"));
    let values = |i: &Value| strings(&i["value"]);

    assert!(find("FROM").count() >= 2, "a multi-stage build");
    assert!(
        find("RUN").any(|r| values(r)[0].contains("cargo build --release --locked -p crawler")),
        "the builder builds the crawler package from Cargo.lock"
    );
    let entrypoint = last("ENTRYPOINT");
    assert_eq!((entrypoint["json"].as_bool(), values(entrypoint)), (Some(true), vec!["crawler".to_string()]));
    let user = values(last("USER"))[0].clone();
    assert!(!["root", "0"].contains(&user.split(':').next().unwrap()), "runs as root: USER {user}");
    assert_eq!(values(last("STOPSIGNAL")), ["SIGTERM"]);

    // HEALTHCHECK [options] CMD ["crawler", "health"], in exec form (the
    // runtime image needs no shell for it).
    let health = last("HEALTHCHECK");
    let cmd = values(health);
    assert_eq!(
        (health["json"].as_bool(), &cmd[..2]),
        (Some(true), &["CMD".to_string(), "crawler".to_string()][..])
    );
    cli.assert_command(&cmd[2..], "HEALTHCHECK");

    // ENV: name value pairs, each read by a worker role; the exposed port is
    // the metrics port the health check asks.
    let env: BTreeMap<String, String> = find("ENV")
        .flat_map(|e| values(e).chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect::<Vec<_>>())
        .collect();
    for var in env.keys() {
        let readers: Vec<&String> = cli.env.iter().filter(|(_, v)| v.contains(var)).map(|(s, _)| s).collect();
        assert!(!readers.is_empty(), "Dockerfile ENV {var}: no subcommand reads it");
    }
    cli.assert_reads("health", "CRAWL_METRICS_ADDR", "HEALTHCHECK");
    let port = port_of(&env["CRAWL_METRICS_ADDR"]);
    assert_eq!(values(last("EXPOSE")), [port.to_string()]);

    // The build context (.dockerignore) keeps the workspace, drops the rest.
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    let patterns: Vec<&str> = ignore.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect();
    for must in ["target/", ".git/"] {
        assert!(patterns.contains(&must), ".dockerignore must exclude {must}");
    }
    for keep in ["Cargo.toml", "Cargo.lock", "crates", "crates/"] {
        assert!(!patterns.contains(&keep), ".dockerignore excludes {keep}, which the build needs");
    }
}

#[test]
fn kubernetes_manifests_are_valid_and_agree_with_the_binary() {
    if !require(have("kubectl"), "kubectl is not installed (it renders the kustomization)") {
        return;
    }
    let out = Command::new("kubectl").args(["kustomize", "deploy/k8s"]).current_dir(repo()).output().unwrap();
    assert!(out.status.success(), "kubectl kustomize deploy/k8s: {}", String::from_utf8_lossy(&out.stderr));
    let dir = tempdir("k8s");
    let rendered = dir.0.join("rendered.yaml");
    std::fs::write(&rendered, &out.stdout).unwrap();
    // The oldest Kubernetes release still commonly supported, and the newest
    // the validator knows.
    let Some(docs) = validate(&["k8s", rendered.to_str().unwrap(), "1.30.0", "1.37.0"]) else { return };
    let cli = cli();
    let docs = docs.as_array().unwrap();
    let of_kind = |kind: &'static str| docs.iter().filter(move |d| d["kind"] == kind);
    let named = |kind: &'static str, name: &str| {
        of_kind(kind).find(|d| d["metadata"]["name"] == name).unwrap_or_else(|| panic!("no {kind} {name}"))
    };

    let configs: HashMap<&str, &serde_json::Map<String, Value>> = of_kind("ConfigMap")
        .map(|c| (c["metadata"]["name"].as_str().unwrap(), c["data"].as_object().unwrap()))
        .collect();
    let setting = |var: &str| {
        configs
            .values()
            .find_map(|c| c.get(var))
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| cli.defaults[var].clone())
    };
    // Each ConfigMap key must be read by at least one role that receives it.
    let mut unread: BTreeSet<(String, String)> =
        configs.iter().flat_map(|(c, d)| d.keys().map(|k| (c.to_string(), k.clone()))).collect();

    for role in ["scheduler", "fetcher", "parser", "sink"] {
        let d = named("Deployment", role);
        let pod = &d["spec"]["template"]["spec"];
        let context = format!("Deployment {role}");
        let grace = pod["terminationGracePeriodSeconds"].as_u64().expect("terminationGracePeriodSeconds");
        assert!(grace > cli.default_seconds("CRAWL_TIMEOUT"), "{context}: grace period below a fetch");
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{context}");
        let c = &pod["containers"][0];
        let sub = cli.assert_command(&strings(&c["args"]), &context);
        assert_eq!(sub, role, "{context} runs `crawler {sub}`");
        for var in c["env"].as_array().unwrap() {
            cli.assert_reads(&sub, var["name"].as_str().unwrap(), &context);
        }
        for from in c["envFrom"].as_array().into_iter().flatten() {
            let name = from["configMapRef"]["name"].as_str().expect("envFrom a ConfigMap");
            assert!(configs.contains_key(name), "{context}: no ConfigMap {name}");
            unread.retain(|(c, k)| !(c == name && cli.env[&sub].contains(k)));
        }
        let port =
            c["ports"].as_array().unwrap().iter().find(|p| p["name"] == "metrics").expect("a metrics port");
        assert_eq!(port["containerPort"].as_u64(), Some(port_of(&setting("CRAWL_METRICS_ADDR")) as u64));
        for probe in ["startupProbe", "livenessProbe"] {
            assert_eq!(c[probe]["httpGet"]["path"], "/health", "{context}: {probe}");
        }
        assert!(c["resources"]["requests"].is_object(), "{context}: resources");
    }
    assert!(unread.is_empty(), "ConfigMap keys no role reads: {unread:?}");

    // Parsers scale on their queue, fetchers on the frontier (the query's
    // metric names are checked against real workers in the scrape test).
    let parser = named("ScaledObject", "parser");
    assert_eq!(parser["spec"]["scaleTargetRef"]["name"], "parser");
    let trigger = &parser["spec"]["triggers"][0];
    assert_eq!(trigger["type"], "rabbitmq");
    assert_eq!(trigger["metadata"]["queueName"], format!("{}.parse.q", setting("CRAWL_NAMESPACE")));
    let auth = trigger["authenticationRef"]["name"].as_str().unwrap();
    named("TriggerAuthentication", auth);
    let fetcher = named("ScaledObject", "fetcher");
    assert_eq!(fetcher["spec"]["scaleTargetRef"]["name"], "fetcher");
    let trigger = &fetcher["spec"]["triggers"][0];
    assert_eq!(trigger["type"], "prometheus");
    let query = trigger["metadata"]["query"].as_str().unwrap();
    assert!(query.contains("crawler_frontier_hosts") && query.contains("due"), "{query}");
    assert_eq!(
        trigger["metadata"]["threshold"],
        setting("CRAWL_CONCURRENCY"),
        "one fetcher serves CONCURRENCY hosts"
    );
}

/// A temporary folder, removed on drop.
struct TempDir(PathBuf);

fn tempdir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("crawl-deploy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// GET over plain HTTP/1.0 (the server closes the connection after the
/// body, so no chunking to undo); the body, if the answer is 200.
fn get(addr: &str, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?;
    (status == "200").then(|| body.to_string())
}

/// Metric names in Prometheus text, each with the label names its series carry.
fn exposition(text: &str, into: &mut BTreeMap<String, BTreeSet<String>>) {
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let end = line.find(['{', ' ']).unwrap_or(line.len());
        let labels = into.entry(line[..end].to_string()).or_default();
        let Some(mut rest) = line[end..].strip_prefix('{') else { continue };
        // name="value" pairs; values may hold escaped quotes, commas, braces.
        while let Some((name, after)) = rest.split_once("=\"") {
            labels.insert(name.trim_start_matches(',').to_string());
            let mut escaped = false;
            let close = after
                .char_indices()
                .find(|&(_, c)| {
                    let end = c == '"' && !escaped;
                    escaped = c == '\\' && !escaped;
                    end
                })
                .map(|(i, _)| i)
                .expect("closed label value");
            rest = &after[close + 1..];
            if rest.starts_with('}') {
                break;
            }
        }
    }
}

/// What a PromQL expression reads: each metric name with the label names
/// its matchers use, and the labels it groups by (by/without/on/ignoring).
fn promql(expr: &str) -> (Vec<(String, Vec<String>)>, Vec<String>) {
    const GROUPING: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];
    const KEYWORDS: &[&str] = &["and", "or", "unless", "bool", "offset"];
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let labels_in = |s: &str| -> Vec<String> {
        // `a="x", b=~"y"`: drop the quoted values, keep the names.
        let mut names = Vec::new();
        for part in s.split('"').step_by(2) {
            let name = part.trim_matches(|c: char| !ident(c) && c != '=').trim_end_matches(['=', '~', '!']);
            let name = name.trim_start_matches(|c: char| !ident(c));
            if !name.is_empty() {
                names.push(name.to_string());
            }
        }
        names
    };
    let (mut metrics, mut grouping) = (Vec::new(), Vec::new());
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '[' || c == '"' {
            // A range or a string: skip to its end.
            let close = if c == '[' { ']' } else { '"' };
            i += 1 + chars[i + 1..].iter().position(|&x| x == close).expect("closed");
        } else if c == '$' || c.is_ascii_digit() || c == '.' {
            i += 1;
            while i < chars.len() && (ident(chars[i]) || chars[i] == '.') {
                i += 1;
            }
            continue;
        } else if ident(c) {
            let start = i;
            while i < chars.len() && ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j] == ' ' {
                j += 1;
            }
            let next = chars.get(j).copied();
            let rest: String = chars[j..].iter().take(8).collect();
            let aggregation = ["by ", "by(", "without ", "without("].iter().any(|k| rest.starts_with(k));
            if GROUPING.contains(&word.as_str()) {
                let close = j + chars[j..].iter().position(|&x| x == ')').expect("closed grouping");
                grouping.extend(labels_in(&chars[j + 1..close].iter().collect::<String>()));
                i = close + 1;
            } else if next == Some('(') || aggregation || KEYWORDS.contains(&word.as_str()) {
                // A function or an aggregation, or an operator word.
            } else if next == Some('{') {
                let close = j + chars[j..].iter().position(|&x| x == '}').expect("closed matchers");
                metrics.push((word, labels_in(&chars[j + 1..close].iter().collect::<String>())));
                i = close + 1;
            } else {
                metrics.push((word, Vec::new()));
            }
            continue;
        }
        i += 1;
    }
    (metrics, grouping)
}

#[test]
fn promql_reading() {
    let (m, g) = promql(
        r#"histogram_quantile(0.95, sum by (le) (rate(crawler_fetch_duration_seconds_bucket[$__rate_interval])))"#,
    );
    assert_eq!(
        (m, g),
        (vec![("crawler_fetch_duration_seconds_bucket".into(), vec![])], vec!["le".to_string()])
    );
    let (m, g) =
        promql(r#"sum(max by (state) (crawler_frontier_hosts{state=~"due|leased", role!="x"})) / 2"#);
    assert_eq!(m, vec![("crawler_frontier_hosts".into(), vec!["state".to_string(), "role".to_string()])]);
    assert_eq!(g, ["state"]);
    let mut seen = BTreeMap::new();
    exposition("# HELP x\nx_total{role=\"a,b\",q=\"say \\\"}\\\"\"} 1\ny 2\n", &mut seen);
    assert_eq!(seen["x_total"], BTreeSet::from(["role".to_string(), "q".to_string()]));
    assert!(seen["y"].is_empty());
}

/// Every query of the Grafana dashboard and of the fetchers' autoscaler
/// reads metrics (and labels) that exist: scraped from real workers after a
/// small crawl, and from the local RabbitMQ the way prometheus.yml scrapes it.
#[test]
fn dashboard_and_autoscaler_query_only_metrics_that_exist() {
    if !services_available() {
        return;
    }
    let Some(prometheus) = validate(&["yaml", "deploy/prometheus/prometheus.yml"]) else { return };
    let Some(keda) = validate(&["yaml", "deploy/k8s/keda.yaml"]) else { return };
    let dashboard: Value = serde_json::from_slice(
        &std::fs::read(repo().join("deploy/grafana/dashboards/crawler.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    let datasources = validate(&["yaml", "deploy/grafana/provisioning/datasources/prometheus.yml"]).unwrap();
    let uid = datasources[0]["datasources"][0]["uid"].clone();

    // The dashboard's queries, each with where it is.
    let mut queries = Vec::new();
    let mut ids = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        let title = panel["title"].as_str().unwrap();
        assert!(ids.insert(panel["id"].as_u64().unwrap()), "panel id of {title} used twice");
        let grid = &panel["gridPos"];
        assert!(
            grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap() <= 24,
            "{title} is wider than the grid"
        );
        if panel["type"] == "row" {
            continue;
        }
        assert!(!panel["description"].as_str().unwrap_or("").is_empty(), "{title}: say what it means");
        assert_eq!(panel["datasource"]["uid"], uid, "{title}: not the provisioned datasource");
        for target in panel["targets"].as_array().unwrap() {
            queries.push((format!("panel {title:?}"), target["expr"].as_str().unwrap().to_string()));
        }
    }
    for object in keda.as_array().unwrap().iter().filter(|d| d["kind"] == "ScaledObject") {
        for t in object["spec"]["triggers"].as_array().unwrap().iter().filter(|t| t["type"] == "prometheus") {
            let name = object["metadata"]["name"].as_str().unwrap();
            queries
                .push((format!("ScaledObject {name}"), t["metadata"]["query"].as_str().unwrap().to_string()));
        }
    }

    // A tiny site on loopback, and the four roles in a namespace of their own.
    let site = tempdir("site");
    let page = |links: &[&str]| {
        let links: String = links.iter().map(|l| format!("<p><a href=\"{l}\">{l}</a></p>")).collect();
        format!(
            "<!doctype html><html><head><title>Page</title></head><body><h1>News</h1><p>{}</p>{links}</body></html>",
            "Text. ".repeat(40)
        )
    };
    std::fs::write(site.0.join("robots.txt"), "User-agent: *\nAllow: /\n").unwrap();
    std::fs::write(site.0.join("index.html"), page(&["a.html", "b.html"])).unwrap();
    std::fs::write(site.0.join("a.html"), page(&["b.html"])).unwrap();
    std::fs::write(site.0.join("b.html"), page(&["./"])).unwrap();
    let site_port = unused_port();
    let _server = Killed(
        Command::new("python3")
            .args(["-m", "http.server", &site_port.to_string(), "--bind", "127.0.0.1"])
            .current_dir(&site.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m http.server"),
    );
    let mut cluster = Cluster::new("deploy");
    let mut ports = BTreeMap::new();
    for (role, extra) in [
        ("scheduler", &[][..]),
        ("fetcher", &["--allow-private", "--delay", "50ms"][..]),
        ("parser", &[][..]),
        ("sink", &[][..]),
    ] {
        let addr = format!("127.0.0.1:{}", unused_port());
        let mut args = vec!["--metrics-addr", &addr];
        args.extend_from_slice(extra);
        cluster.start(role, &args);
        ports.insert(role, addr);
    }
    let site_url = format!("http://127.0.0.1:{site_port}/");
    wait_for("the site", Duration::from_secs(10), || get(&format!("127.0.0.1:{site_port}"), "/").is_some());
    wait_for("the workers' metrics", Duration::from_secs(20), || {
        ports.values().all(|a| get(a, "/metrics").is_some())
    });
    let seeded = cluster.command("seed").arg(&site_url).output().unwrap();
    assert!(seeded.status.success(), "seed: {}", String::from_utf8_lossy(&seeded.stderr));

    // Wait until every histogram has observations and the sink has written
    // the three pages (/, a.html, b.html).
    let mut exported = BTreeMap::new();
    wait_for("the crawl of the tiny site", Duration::from_secs(30), || {
        exported.clear();
        for addr in ports.values() {
            exposition(&get(addr, "/metrics").unwrap_or_default(), &mut exported);
        }
        let sink = get(&ports["sink"], "/metrics").unwrap_or_default();
        let written = sink
            .lines()
            .filter(|l| l.starts_with("crawler_documents_written_total"))
            .any(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()).is_some_and(|v| v >= 3.0));
        written
            && [
                "crawler_fetch_duration_seconds",
                "crawler_politeness_delay_seconds",
                "crawler_parse_duration_seconds",
            ]
            .iter()
            .all(|h| exported.contains_key(&format!("{h}_bucket")))
    });
    cluster.stop_all();

    // RabbitMQ, the way each rabbitmq job of prometheus.yml scrapes it.
    for job in prometheus[0]["scrape_configs"].as_array().unwrap() {
        let Some(targets) = job["static_configs"][0]["targets"].as_array() else { continue };
        assert!(targets.iter().all(|t| t.as_str().unwrap().ends_with(":15692")), "{job}");
        let mut path = job["metrics_path"].as_str().unwrap_or("/metrics").to_string();
        for (k, values) in job["params"].as_object().into_iter().flatten() {
            for v in values.as_array().unwrap() {
                path.push(if path.contains('?') { '&' } else { '?' });
                path.push_str(&format!("{k}={}", v.as_str().unwrap()));
            }
        }
        if !require(
            get("127.0.0.1:15692", &path).is_some(),
            "RabbitMQ's prometheus plugin does not answer on 127.0.0.1:15692",
        ) {
            return;
        }
        // The plugin reports a queue only after the broker's next statistics
        // emission (every 5 s by default): on a broker with no other queues,
        // a scrape right after the crawl has no per-queue series at all.
        let ours = format!("queue=\"{}.", cluster.namespace);
        let mut text = String::new();
        wait_for("RabbitMQ to report the namespace's queues", Duration::from_secs(30), || {
            text = get("127.0.0.1:15692", &path).unwrap_or_default();
            !path.contains("queue") || text.contains(&ours)
        });
        exposition(&text, &mut exported);
    }

    let mut wrong = Vec::new();
    for (place, expr) in &queries {
        let (metrics, grouping) = promql(expr);
        assert!(!metrics.is_empty(), "{place}: no metric in {expr}");
        let mut labels_here = BTreeSet::new();
        for (name, labels) in metrics {
            let Some(known) = exported.get(&name) else {
                wrong.push(format!("{place}: no metric {name}"));
                continue;
            };
            labels_here.extend(known.iter().cloned());
            for l in labels.iter().filter(|l| !known.contains(*l)) {
                wrong.push(format!("{place}: {name} has no label {l}"));
            }
        }
        for l in grouping.iter().filter(|l| !labels_here.contains(*l)) {
            wrong.push(format!("{place}: groups by {l}, which its metrics do not have"));
        }
    }
    assert!(wrong.is_empty(), "queries of metrics that do not exist:\n{}", wrong.join("\n"));
}

/// The `crawler` command lines in a text: what follows a `crawler` word
/// that is the image's command (not `-n crawler` or `namespace crawler`),
/// up to a comment.
fn crawler_commands(text: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    for line in text.lines() {
        let line = line.trim_start_matches(['#', ' ']);
        let line = line.split(" #").next().unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            if *w == "crawler" && i > 0 && !["-n", "namespace", "--namespace"].contains(&words[i - 1]) {
                commands.push(words[i + 1..].iter().map(|s| s.to_string()).collect());
            }
        }
    }
    commands
}

/// The commands deploy/README.md and docker-compose.yml tell people to run
/// exist, with the flags they give.
#[test]
fn documented_commands_exist() {
    let cli = cli();
    let readme = std::fs::read_to_string(repo().join("deploy/README.md")).unwrap();
    let shell: String =
        readme.split("```sh").skip(1).map(|block| block.split("```").next().unwrap()).collect();
    let compose = std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap();
    let comments: String = compose
        .lines()
        .filter(|l| l.trim_start().starts_with('#') && l.contains("docker compose"))
        .collect::<Vec<_>>()
        .join("\n");
    let commands: Vec<_> = crawler_commands(&shell).into_iter().chain(crawler_commands(&comments)).collect();
    assert!(commands.len() >= 8, "found only {commands:?}");
    for args in commands.into_iter().filter(|a| !a.is_empty()) {
        cli.assert_command(&args, &format!("documented command `crawler {}`", args.join(" ")));
    }
}
