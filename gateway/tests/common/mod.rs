//! Starting the real `oncelink` binary on a loopback port, and talking to it over HTTP.

#![allow(dead_code)]

pub mod fake_origin;
pub mod receiver;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_oncelink");

/// Which ledger the gateway runs with.
#[derive(Debug, Clone)]
pub enum Backend {
    File,
    /// DynamoDB Local at this endpoint, with this table.
    Dynamodb {
        endpoint: String,
        table: String,
    },
    /// PostgreSQL at this URL (every test shares the database: link keys never collide).
    Postgres {
        url: String,
    },
}

/// Which ledger a case runs on (each but the file ledger only where its stand-in is up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ledgers {
    File,
    Dynamodb,
    Postgres,
}

impl Ledgers {
    pub const ALL: [Ledgers; 3] = [Ledgers::File, Ledgers::Dynamodb, Ledgers::Postgres];
}

pub struct Gateway {
    pub child: Child,
    pub base: String,
    pub port: u16,
    pub token: String,
    pub dir: PathBuf,
    pub backend: Backend,
    pub http: reqwest::Client,
    printed: Arc<Mutex<String>>,
    /// The flags it was started with (a restart keeps them).
    args: Vec<String>,
}

impl Gateway {
    /// Starts `oncelink serve` with `dir` as data dir on `port` (0: any free port), waits for
    /// its banner, and reads the API token from `<dir>/api-token` (or the `ONCELINK_API_TOKEN`
    /// it was given).
    pub fn start(dir: &Path, backend: &Backend, port: u16, extra: &[&str]) -> Self {
        Self::start_with_env(dir, backend, port, extra, &[])
    }

    /// Same, with extra environment variables for the gateway process.
    pub fn start_with_env(dir: &Path, backend: &Backend, port: u16, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve").arg("--data-dir").arg(dir).arg("--listen").arg(format!("127.0.0.1:{port}"));
        if let Backend::Dynamodb { endpoint, table } = backend {
            cmd.args(["--ledger", "dynamodb", "--table", table, "--dynamodb-endpoint", endpoint]);
            cmd.env("AWS_ACCESS_KEY_ID", "testing").env("AWS_SECRET_ACCESS_KEY", "testing").env("AWS_EC2_METADATA_DISABLED", "true");
        }
        if let Backend::Postgres { url } = backend {
            cmd.args(["--ledger", "postgres", "--database-url", url]);
        }
        cmd.args(extra);
        cmd.env_remove("ONCELINK_API_TOKEN").env_remove("ONCELINK_KEYS").env_remove("ONCELINK_CONFIG").env("RUST_LOG", "info");
        cmd.envs(env.iter().copied());
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.with_extension("log")).expect("log file");
        cmd.stdout(Stdio::piped()).stderr(Stdio::from(log));
        let mut child = cmd.spawn().expect("start oncelink serve");
        let stdout = child.stdout.take().expect("stdout");
        let printed = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let keep = printed.clone();
        std::thread::spawn(move || {
            // Keep draining stdout so the gateway never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                keep.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        let mut base = None;
        // The banner's last line: everything before it has been printed.
        let mut banner_done = false;
        while base.is_none() || !banner_done {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("listening on ") {
                        base = Some(url.trim().to_owned());
                    }
                    banner_done |= line.starts_with("stop with Ctrl-C");
                }
                Err(_) => {
                    let _ = child.kill();
                    let logs = std::fs::read_to_string(dir.with_extension("log")).unwrap_or_default();
                    panic!("oncelink serve did not start; its log:\n{logs}");
                }
            }
        }
        // The banner does not show the token (stdout is a pipe): it is where the banner says.
        let token = match env.iter().find(|(name, _)| *name == "ONCELINK_API_TOKEN") {
            Some((_, token)) => token.to_string(),
            None => std::fs::read_to_string(dir.join("api-token")).expect("the API token in <data dir>/api-token").trim().to_owned(),
        };
        // The banner names the public URL; with a fixed port, that port on loopback is where it listens.
        let base = if port != 0 { format!("http://127.0.0.1:{port}") } else { base.unwrap() };
        let port = base.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port in the URL");
        let http = reqwest::Client::builder().user_agent("oncelink-blackbox/1").build().unwrap();
        let args = extra.iter().map(|a| a.to_string()).collect();
        Self { child, base, port, token, dir: dir.to_owned(), backend: backend.clone(), http, printed, args }
    }

    /// Everything the gateway printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.printed.lock().unwrap().clone()
    }

    /// The log file (stderr: JSON lines) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.with_extension("log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    /// SIGTERM, then wait for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().expect("kill -TERM");
        assert!(status.success());
        self.child.wait().expect("wait")
    }

    /// Restarts on the same data dir and port (sealed links are bound to host:port).
    pub fn restart(mut self) -> Self {
        if self.child.try_wait().ok().flatten().is_none() {
            self.kill9();
        }
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        Self::start(&self.dir.clone(), &self.backend.clone(), self.port, &args)
    }

    /// `POST /_oncelink/links` with the token; returns (status, JSON).
    pub async fn issue_raw(&self, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/_oncelink/links", self.base))
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("issue request");
        let status = r.status().as_u16();
        (status, serde_json::from_slice(&r.bytes().await.unwrap_or_default()).unwrap_or(Value::Null))
    }

    /// Issues a link; panics unless 201. Returns the JSON answer (url, link_id, …).
    pub async fn issue(&self, body: Value) -> Value {
        let (status, answer) = self.issue_raw(&body).await;
        assert_eq!(status, 201, "issue {body}: {answer}");
        answer
    }

    pub async fn url(&self, body: Value) -> String {
        self.issue(body).await["url"].as_str().unwrap().to_owned()
    }

    /// Stores `bytes` at `key` through a one-time PUT link.
    pub async fn store(&self, key: &str, bytes: Vec<u8>) {
        let url = self.url(json!({"key": key, "method": "PUT"})).await;
        let r = self.http.put(url).body(bytes).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "PUT: {}", r.text().await.unwrap_or_default());
    }

    /// `GET /_oncelink/links/{id}` with the token: the link's ledger state.
    pub async fn state(&self, link_id: &str) -> Value {
        let r = self
            .http
            .get(format!("{}/_oncelink/links/{link_id}", self.base))
            .header("authorization", format!("Bearer {}", self.token))
            .send()
            .await
            .expect("link state request");
        assert_eq!(r.status().as_u16(), 200, "link state of {link_id}");
        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
    }

    /// The gateway's own origin, as its page would send it in `Origin`.
    pub fn origin(&self) -> String {
        self.base.clone()
    }

    /// Logs in as the web page would (`POST /_oncelink/login`, own `Origin`); returns the
    /// `Cookie` header value to send (`oncelink_session=…`).
    pub async fn login(&self) -> String {
        let r = self
            .http
            .post(format!("{}/_oncelink/login", self.base))
            .header("origin", self.origin())
            .header("content-type", "application/json")
            .body(json!({"token": self.token}).to_string())
            .send()
            .await
            .expect("login request");
        assert_eq!(r.status().as_u16(), 200, "login");
        let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
        set_cookie.split(';').next().unwrap().to_owned()
    }

    pub async fn get(&self, url: &str) -> (u16, Vec<u8>) {
        let r = self.http.get(url).send().await.unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `error` code of a JSON error body.
pub fn code(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("<not a JSON error: {}>", String::from_utf8_lossy(&body[..body.len().min(200)])))
}

/// Deterministic pseudo-random bytes (xorshift).
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The backend for `ledgers`, or `None` (and a SKIPPED line for `name`) when its stand-in is
/// not up.
pub async fn backend(name: &str, ledgers: Ledgers) -> Option<Backend> {
    let backend = match ledgers {
        Ledgers::File => Some(Backend::File),
        Ledgers::Dynamodb => dynamodb_backend().await,
        Ledgers::Postgres => postgres_backend(),
    };
    if backend.is_none() {
        let variable = if ledgers == Ledgers::Dynamodb { "ONCELINK_TEST_DDB_LOCAL_URL" } else { "ONCELINK_TEST_POSTGRES_URL" };
        eprintln!("SKIPPED {name} on {ledgers:?}: {variable} is not set (run through tests/with-emulators.sh)");
    }
    backend
}

/// Runs `case` against a fresh gateway started with `args` and `env` on `ledgers` (a case
/// reports itself skipped when that ledger's stand-in is not up).
pub async fn with_gateway<F, Fut>(name: &str, ledgers: Ledgers, args: &[&str], env: &[(&str, &str)], case: F)
where
    F: FnOnce(Gateway) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(backend) = backend(name, ledgers).await else { return };
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start_with_env(&tmp.path().join("data"), &backend, 0, args, env);
    case(gw).await;
}

/// One test per case and ledger: `mod file_ledger { … }`, `mod dynamodb_ledger { … }` and
/// `mod postgres_ledger { … }`, each case a fresh default gateway.
#[macro_export]
macro_rules! both_ledgers {
    ($($case:ident),* $(,)?) => {
        $crate::both_ledgers!(@on file_ledger, File; $($case),*);
        $crate::both_ledgers!(@on dynamodb_ledger, Dynamodb; $($case),*);
        $crate::both_ledgers!(@on postgres_ledger, Postgres; $($case),*);
    };
    (@on $module:ident, $ledgers:ident; $($case:ident),*) => {
        mod $module {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::common::with_gateway(stringify!($case), $crate::common::Ledgers::$ledgers, &[], &[], super::$case).await
            })*
        }
    };
}

/// The DynamoDB backend when DynamoDB Local is up (`ONCELINK_TEST_DDB_LOCAL_URL`), with a fresh table.
pub async fn dynamodb_backend() -> Option<Backend> {
    let endpoint = std::env::var("ONCELINK_TEST_DDB_LOCAL_URL").ok().filter(|v| !v.is_empty())?;
    let client = aws_sdk_dynamodb::Client::new(&oncelink_testkit::sdk(&endpoint).await);
    let table = oncelink_testkit::create_ledger_table(&client).await;
    Some(Backend::Dynamodb { endpoint, table })
}

/// The PostgreSQL backend when the stand-in is up (`ONCELINK_TEST_POSTGRES_URL`).
pub fn postgres_backend() -> Option<Backend> {
    let url = std::env::var("ONCELINK_TEST_POSTGRES_URL").ok().filter(|v| !v.is_empty())?;
    Some(Backend::Postgres { url })
}
