//! The `oncelink` command line: `serve` runs the gateway; `issue`, `status`, `revoke` and `put`
//! talk to a running one over its API; `keys rotate` changes the data dir's key set; `demo` tells the whole
//! story on a throwaway data dir. Errors are one line on stderr and exit code 1.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};

use crate::client::Api;
use crate::datadir::DataDir;
use crate::settings::{CommonArgs, ServeArgs, Settings, format_duration, parse_duration};
use crate::wiring;

/// One-time (or N-time) download and upload links for S3 objects, enforced at the edge.
///
/// Start with `oncelink serve` (no flags needed), or `oncelink demo` to see a link used twice.
#[derive(Debug, Parser)]
#[command(name = "oncelink", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum MethodArg {
    Get,
    Put,
}

#[derive(Debug, clap::Args)]
struct GatewayArgs {
    /// The gateway to talk to [default: the public URL or listen address of the configuration]
    #[arg(long, env = "ONCELINK_GATEWAY")]
    gateway: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway: links at /<key>, the issue API and a web page under /_oncelink/
    Serve(Box<ServeArgs>),
    /// Issue a link to an object and print it
    Issue {
        /// Object key, e.g. reports/q3.pdf
        key: String,
        /// What the link allows
        #[arg(long, value_enum, default_value = "get")]
        method: MethodArg,
        /// Lifetime, e.g. 90s, 10m, 2h, 7d [default: the gateway's default]
        #[arg(long, value_parser = parse_duration)]
        expires: Option<Duration>,
        /// How many times the link may be used
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// Range requests from the first user within this window do not spend a use, e.g. 30s
        #[arg(long, value_parser = parse_duration)]
        grace: Option<Duration>,
        /// Name the browser saves a download under
        #[arg(long)]
        filename: Option<String>,
        /// Your own reference for the link, e.g. order-1234: shown by `oncelink status` (1-64 of A-Z a-z 0-9 . _ - : / # @ + =; not a secret)
        #[arg(long)]
        tag: Option<String>,
        /// Print the whole answer as JSON
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gateway: GatewayArgs,
    },
    /// Show a link's state and trail: uses, revocation, and each use, resume and refused attempt
    Status {
        /// The link id printed by `issue` (22 characters)
        link_id: String,
        /// Print the gateway's JSON answer as it is
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gateway: GatewayArgs,
    },
    /// Revoke a link by its id: later uses get 403
    Revoke {
        /// The link id printed by `issue` (22 characters)
        link_id: String,
        #[command(flatten)]
        gateway: GatewayArgs,
    },
    /// Store a file in the origin, through a one-time PUT link
    Put {
        /// The file to upload
        file: PathBuf,
        /// Object key [default: the file's name]
        #[arg(long)]
        key: Option<String>,
        #[command(flatten)]
        gateway: GatewayArgs,
    },
    /// Manage the sealed-link signing keys in the data dir
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Start a gateway on a free port, store a sample file, issue a link, fetch it twice (200, then 403)
    Demo,
    /// Ask the gateway of this configuration for /_oncelink/healthz: exit 0 if healthy (a container's HEALTHCHECK)
    Healthcheck(crate::healthcheck::HealthcheckArgs),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Add a new signing key and make it active; older keys keep verifying live links
    Rotate,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("oncelink: error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("oncelink: error: {}", format!("{error:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn init_logs(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().json().with_env_filter(filter).with_current_span(false).with_writer(std::io::stderr).try_init();
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => {
            init_logs("info");
            let settings = Settings::resolve(&cli.common, &args)?;
            serve(settings).await?;
        }
        Command::Issue { key, method, expires, uses, grace, filename, tag, json, gateway } => {
            let api = api(&cli.common, &gateway)?;
            let mut request = serde_json::json!({"key": key, "method": match method { MethodArg::Get => "GET", MethodArg::Put => "PUT" }});
            if let Some(e) = expires {
                request["expires_in"] = e.as_secs().into();
            }
            if uses != 1 {
                request["max_uses"] = uses.into();
            }
            if let Some(g) = grace {
                request["grace_seconds"] = g.as_secs().into();
            }
            if let Some(f) = filename {
                request["filename"] = f.into();
            }
            if let Some(t) = tag {
                request["tag"] = t.into();
            }
            let link = api.issue(&request).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&link)?);
            } else {
                println!("{}", link.url);
                eprintln!(
                    "link id {}  {} {}  expires {}  uses {}{}{}",
                    link.link_id,
                    link.method.as_str(),
                    link.key,
                    link.expires_at,
                    link.max_uses,
                    if link.grace_seconds > 0 {
                        format!("  grace {}", format_duration(Duration::from_secs(link.grace_seconds.into())))
                    } else {
                        String::new()
                    },
                    link.tag.as_deref().map(|t| format!("  tag {t}")).unwrap_or_default()
                );
            }
        }
        Command::Status { link_id, json, gateway } => {
            let answer = api(&cli.common, &gateway)?.state(&link_id).await?;
            if json {
                println!("{}", answer.trim_end());
            } else {
                let state: crate::status::LinkState =
                    serde_json::from_str(&answer).context("the gateway's answer is not a link's state")?;
                print!("{}", crate::status::render(&state));
            }
        }
        Command::Revoke { link_id, gateway } => {
            api(&cli.common, &gateway)?.revoke(&link_id).await?;
            println!("revoked {link_id}");
        }
        Command::Put { file, key, gateway } => {
            let key = match key {
                Some(k) => k,
                None => file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .map(str::to_owned)
                    .context("cannot take a key from the file name; pass --key")?,
            };
            let api = api(&cli.common, &gateway)?;
            let link = api.issue(&serde_json::json!({"key": key, "method": "PUT"})).await?;
            let bytes = api.upload(&link.url, &file).await?;
            println!("stored {key} ({bytes} bytes)");
            eprintln!("next: oncelink issue {key}");
        }
        Command::Keys { command: KeysCommand::Rotate } => {
            if std::env::var_os("ONCELINK_KEYS").is_some() {
                bail!("the keys come from ONCELINK_KEYS; rotate them where that variable is set");
            }
            let data = DataDir::existing(&cli.common.data_dir()?)?;
            let keys = data.rotate_keys()?;
            let kids: Vec<&str> = keys.kids().collect();
            println!(
                "active key is now {} (all keys: {}); a running gateway picks it up within a second",
                keys.active_kid(),
                kids.join(", ")
            );
        }
        Command::Demo => return crate::demo::run().await,
        Command::Healthcheck(args) => crate::healthcheck::run(&cli.common, &args).await?,
    }
    Ok(ExitCode::SUCCESS)
}

fn api(common: &CommonArgs, gateway: &GatewayArgs) -> anyhow::Result<Api> {
    let base = match &gateway.gateway {
        Some(url) => url.clone(),
        None => common.gateway_url()?,
    };
    let token = match std::env::var("ONCELINK_API_TOKEN").ok().filter(|t| !t.trim().is_empty()) {
        Some(t) => t.trim().to_owned(),
        None => {
            let dir = common.data_dir()?;
            DataDir::existing(&dir)?
                .read_api_token()?
                .with_context(|| format!("no API token in {} (set ONCELINK_API_TOKEN)", dir.display()))?
        }
    };
    Api::new(&base, token)
}

/// The banner's `api token:` line. The token itself is shown only when this start made it and a
/// person is reading (stdout is a terminal); otherwise stdout may be a log file (systemd, a
/// container's log), and the line says where the token is instead.
fn token_line(token: &str, from_env: bool, generated: bool, dir: &str, terminal: bool) -> String {
    match (from_env, generated, terminal) {
        (true, _, _) => "**** (from ONCELINK_API_TOKEN)".to_owned(),
        (false, true, true) => format!("{token} (generated now, stored in {dir}/api-token)"),
        (false, true, false) => format!("**** (generated now, in {dir}/api-token; not shown: stdout is not a terminal)"),
        (false, false, _) => format!("**** (in {dir}/api-token)"),
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let mut running = wiring::start(&settings).await?;
    let mut out = String::new();
    out.push_str(&format!("oncelink gateway {}\n", env!("CARGO_PKG_VERSION")));
    for (name, value) in settings.describe(&running.public_url) {
        out.push_str(&format!("  {name:<22} {value}\n"));
    }
    let dir = settings.data_dir.display();
    let from_env = settings.api_token.is_some();
    out.push_str(&format!(
        "\nlistening on {url}\n\
         web page:  {url}/_oncelink/\n\
         api token: {token_line}\n\n\
         next:\n  \
         open the web page and log in with the API token (it is in {token_place})\n  \
         oncelink put ./some-file.pdf                 # store a file (through a one-time PUT link)\n  \
         oncelink issue some-file.pdf --expires 10m   # print a one-time download link\n  \
         curl -H \"Authorization: Bearer {bearer}\" -d '{{\"key\":\"some-file.pdf\"}}' {url}/_oncelink/links\n\
         stop with Ctrl-C or SIGTERM (in-flight transfers finish first)\n",
        url = running.public_url,
        token_line = token_line(&running.api_token, from_env, running.token_generated, &dir.to_string(), std::io::stdout().is_terminal()),
        token_place = if from_env { "ONCELINK_API_TOKEN".to_owned() } else { format!("{dir}/api-token") },
        bearer = if from_env { "$ONCELINK_API_TOKEN".to_owned() } else { format!("$(cat {dir}/api-token)") },
    ));
    print!("{out}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    tracing::info!(listen = %running.addr, public_url = %running.public_url, origin = %running.origin_endpoint, "gateway started");

    let stop = running.shutdown_handle();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
    }
    if let Some(stop) = stop {
        let _ = stop.send(());
    }
    running.wait().await;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::token_line;

    #[test]
    fn the_token_is_shown_only_when_made_now_for_a_terminal() {
        let token = "exFwCi8ifxIAO1n2b0yr2SvgaCLTWLZu";
        assert_eq!(token_line(token, false, true, ".oncelink", true), format!("{token} (generated now, stored in .oncelink/api-token)"));
        for (from_env, generated, terminal) in
            [(false, true, false), (false, false, true), (false, false, false), (true, false, true), (true, false, false)]
        {
            let line = token_line(token, from_env, generated, ".oncelink", terminal);
            assert!(!line.contains(token) && line.starts_with("****"), "{line}");
            let place = if from_env { "from ONCELINK_API_TOKEN" } else { "in .oncelink/api-token" };
            assert!(line.contains(place), "{line}");
        }
    }
}
