//! The system under test as a child process: the `segmenter` executable next to this one,
//! run with its own command line for loading, key creation and serving.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::rpc::Connection;

/// The reporting currency the bench configures and writes its events in.
pub const CURRENCY: &str = "CNY";

/// Configuration of the served bench server: nothing may shed, rate-limit or time out the
/// bench's own load, and no snapshot is recomputed behind its back (the refresh phase asks
/// for one explicitly, and a scheduled one would land in some other phase's figures).
const SERVE_SETTINGS: &[&str] = &[
    "auth.enabled=true",
    "auth.rate_limit_per_second=0",
    "max_in_flight=1000000",
    "concurrency_limit_per_connection=4096",
    "request_timeout_seconds=86400",
    "snapshot_interval_seconds=86400",
    "snapshot_refresh_events=0",
    "metrics.listen=\"\"",
];

/// The `segmenter` executable built beside this one.
pub struct Segmenter {
    bin: PathBuf,
}

impl Segmenter {
    pub fn locate() -> Result<Segmenter> {
        let me = std::env::current_exe().context("cannot find this executable")?;
        let dir = me
            .parent()
            .ok_or_else(|| anyhow!("{} has no directory", me.display()))?;
        let bin = dir.join(format!("segmenter{}", std::env::consts::EXE_SUFFIX));
        if !bin.is_file() {
            bail!(
                "{} is missing: build it first with `cargo build --release --bins`",
                bin.display()
            );
        }
        Ok(Segmenter { bin })
    }

    /// A command on `database_url` that ignores the caller's SEGMENTER_* environment, so the
    /// bench measures the configuration it states.
    pub fn command(&self, database_url: &str) -> Command {
        let mut command = Command::new(&self.bin);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SEGMENTER") {
                command.env_remove(name);
            }
        }
        command
            .arg("--set")
            .arg(format!("database_url={database_url}"))
            .arg("--set")
            .arg(format!("reporting_currency={CURRENCY}"));
        command
    }

    /// Runs `args` to the end with its log on our stderr, for long loads worth watching.
    pub fn run_visible(&self, database_url: &str, args: &[String]) -> Result<()> {
        let status = self
            .command(database_url)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .status()
            .with_context(|| format!("cannot run {}", self.bin.display()))?;
        if !status.success() {
            bail!("`segmenter {}` failed: {status}", args.join(" "));
        }
        Ok(())
    }

    /// Creates an admin API key and returns it (the command prints it once on stdout).
    pub fn create_admin_key(&self, database_url: &str) -> Result<String> {
        let output = self
            .command(database_url)
            .args(["keys", "create", "--name", "bench", "--scopes", "admin"])
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", self.bin.display()))?;
        if !output.status.success() {
            bail!(
                "`segmenter keys create` failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let stdout = String::from_utf8(output.stdout).context("the key is not UTF-8")?;
        let key = stdout.trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            bail!("`segmenter keys create` printed no single key: {stdout:?}");
        }
        Ok(key.to_owned())
    }
}

/// A running `segmenter serve`; killed when dropped.
pub struct ServerProcess {
    child: Child,
    pub addr: String,
    /// From spawn to the first SERVING health answer.
    pub startup: Duration,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts a server on a free loopback port, logging to `log`, and waits until it serves.
    pub async fn start(
        segmenter: &Segmenter,
        database_url: &str,
        log: &Path,
        timeout: Duration,
    ) -> Result<ServerProcess> {
        let addr = format!("127.0.0.1:{}", free_port()?);
        let log_file =
            File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let mut command = segmenter.command(database_url);
        command.arg("--set").arg(format!("listen={addr}"));
        for setting in SERVE_SETTINGS {
            command.arg("--set").arg(setting);
        }
        let started = Instant::now();
        let child = command
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .context("cannot start `segmenter serve`")?;
        let mut server = ServerProcess {
            child,
            addr,
            startup: Duration::ZERO,
            log: log.to_owned(),
        };
        server.wait_serving(started, timeout).await?;
        server.startup = started.elapsed();
        Ok(server)
    }

    async fn wait_serving(&mut self, started: Instant, timeout: Duration) -> Result<()> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the server exited ({status}) before serving; its log ends:\n{}",
                    self.log_tail()
                );
            }
            // A connection attempt fails fast until the server listens.
            if let Ok(mut connection) = Connection::open(&self.addr, "-").await {
                if connection.is_serving().await {
                    return Ok(());
                }
            }
            if started.elapsed() > timeout {
                bail!(
                    "the server did not report SERVING within {} s; its log ends:\n{}",
                    timeout.as_secs(),
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's peak resident set size (VmHWM), bytes.
    pub fn peak_rss_bytes(&self) -> Result<u64> {
        let path = format!("/proc/{}/status", self.pid());
        let file = File::open(&path).with_context(|| format!("cannot read {path}"))?;
        for line in BufReader::new(file).lines() {
            let line = line?;
            if let Some(rest) = line.strip_prefix("VmHWM:") {
                let kib: u64 = rest
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .with_context(|| format!("unexpected VmHWM line {line:?}"))?;
                return Ok(kib * 1024);
            }
        }
        bail!("{path} has no VmHWM line")
    }

    /// The last lines of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        read_tail(&self.log, 4_000).unwrap_or_else(|e| format!("(log unreadable: {e})"))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // The database is a per-run copy, so no graceful shutdown is needed.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port the OS reports free now; the server binds it a moment later.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

fn read_tail(path: &Path, bytes: u64) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(bytes)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
