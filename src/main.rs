//! The `segmenter` command: serve, import, export, classify, rules, demo, config.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};

use segmenter::app::{App, ClassifyOptions, Clock, SnapshotChoice, SystemClock};
use segmenter::auth::{self as keys, Scope};
use segmenter::config::Config;
use segmenter::demo::{load_demo, load_demo_with, DemoConfig, LoadOptions};
use segmenter::domain::history::{CustomerRef, ExternalId};
use segmenter::domain::rules::RuleSet;
use segmenter::domain::validate::{normalize_email, normalize_phone};
use segmenter::import::{export_ndjson, import_file, Format, ImportOptions};
use segmenter::interchange::parse_instant;
use segmenter::server;

#[derive(Parser)]
#[command(
    name = "segmenter",
    version,
    about = "Customer segmentation over gRPC: history in, segments and actions out."
)]
struct Cli {
    /// Configuration file (TOML); environment SEGMENTER__* and --set override it.
    #[arg(long, short = 'c', global = true, env = "SEGMENTER_CONFIG")]
    config: Option<PathBuf>,
    /// Override one configuration key, e.g. --set database_url=sqlite://x.db (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gRPC server.
    Serve {
        /// Listen address, e.g. 0.0.0.0:50051.
        #[arg(long)]
        listen: Option<String>,
        /// Database URL, e.g. sqlite://segmenter.db.
        #[arg(long)]
        database_url: Option<String>,
        /// Rule-set file merged over the built-in rules.
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Fill an empty database with the synthetic demo population first.
        #[arg(long)]
        demo: bool,
        /// Turn authentication off (same as auth.enabled=false): for local trials only.
        #[arg(long)]
        no_auth: bool,
    },
    /// Manage API keys of calling systems.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Import customers and events from NDJSON or CSV files.
    Import {
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = FormatArg::Detect)]
        format: FormatArg,
        /// Events per stored batch.
        #[arg(long, default_value_t = 5_000)]
        batch_size: usize,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Write every customer and event as NDJSON to stdout or a file.
    Export {
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
    /// Classify one customer and print the classification as JSON.
    Classify(ClassifyArgs),
    /// Check or print rule sets.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Fill an empty database with the synthetic demo population (about 10,000 customers).
    Demo {
        #[arg(long, default_value_t = 10_000)]
        customers: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// The demo's "now" as an RFC 3339 instant; every event is at or before it. Default:
        /// the clock now.
        #[arg(long)]
        as_of: Option<String>,
        /// Also write every order as CSV: customer_id, order_id, ordered_at_micros, amount,
        /// refunded_amount (minor units; the order's refunds summed).
        #[arg(long, value_name = "PATH")]
        orders_csv: Option<PathBuf>,
    },
    /// Check configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Args)]
struct ClassifyArgs {
    /// Customer id (or use --phone, --email, --external).
    id: Option<String>,
    #[arg(long)]
    phone: Option<String>,
    #[arg(long)]
    email: Option<String>,
    /// External id as SYSTEM:KEY, e.g. erp:K-10442.
    #[arg(long)]
    external: Option<String>,
    /// Classify at this RFC 3339 instant instead of now.
    #[arg(long)]
    as_of: Option<String>,
    /// Use a population snapshot taken at --as-of instead of the current one.
    #[arg(long)]
    snapshot_at_as_of: bool,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; it is printed once and stored only as a hash.
    Create {
        /// The calling system, e.g. erp, shop, callcentre.
        #[arg(long)]
        name: String,
        /// Comma-separated: classify, write, admin.
        #[arg(long)]
        scopes: String,
    },
    /// List keys (never the keys themselves).
    List,
    /// Revoke every active key with this name or id.
    Revoke { name_or_id: String },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Validate a rule-set file (merged over the built-in rules); prints its version.
    Check { file: PathBuf },
    /// Print the built-in rule set.
    Default,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file and print the effective configuration.
    Check { file: PathBuf },
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Detect,
    Ndjson,
    Csv,
}

/// mimalloc rather than the system allocator: classification allocates many short-lived
/// strings on every core, and resident histories are millions of small blocks that the system
/// allocator fragments (measured in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

type AnyError = Box<dyn std::error::Error + Send + Sync>;

fn load_config(cli: &Cli, extra: Vec<String>) -> Result<Config, AnyError> {
    let mut overrides = cli.overrides.clone();
    overrides.extend(extra);
    Ok(Config::load(
        cli.config.as_deref(),
        std::env::vars(),
        &overrides,
    )?)
}

fn init_logging(config: &Config) -> Result<segmenter::telemetry::Telemetry, AnyError> {
    Ok(segmenter::telemetry::init(config)?)
}

/// A `--set` override for a dedicated flag; quoted so any string survives TOML reading.
fn flag(key: &str, value: &str) -> String {
    format!("{key}={}", toml::Value::String(value.to_owned()))
}

async fn run(cli: Cli) -> Result<ExitCode, AnyError> {
    match &cli.command {
        Command::Serve {
            listen,
            database_url,
            rules,
            demo,
            no_auth,
        } => {
            let mut extra = Vec::new();
            if *no_auth {
                extra.push("auth.enabled=false".to_owned());
            }
            if let Some(listen) = listen {
                extra.push(flag("listen", listen));
            }
            if let Some(url) = database_url {
                extra.push(flag("database_url", url));
            }
            if let Some(rules) = rules {
                extra.push(flag("rules_file", &rules.display().to_string()));
            }
            let config = load_config(&cli, extra)?;
            let _telemetry = init_logging(&config)?;
            let app = server::build_app(&config, Arc::new(SystemClock)).await?;
            if *demo {
                fill_demo(&app, DemoConfig::at(app.now())).await?;
            }
            server::serve(&config, app).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            customers,
            seed,
            as_of,
            orders_csv,
        } => {
            let config = load_config(&cli, vec![])?;
            let _telemetry = init_logging(&config)?;
            let as_of = match as_of {
                Some(text) => parse_instant(text)
                    .ok_or_else(|| format!("--as-of {text:?} is not an RFC 3339 instant"))?,
                None => SystemClock.now(),
            };
            let demo = DemoConfig {
                customers: *customers,
                seed: *seed,
                ..DemoConfig::at(as_of)
            };
            let options = LoadOptions {
                orders_csv: orders_csv.clone(),
                ..LoadOptions::default()
            };
            load_demo_command(&config, &demo, &options).await
        }
        Command::Import {
            files,
            format,
            batch_size,
            quiet,
        } => {
            let config = load_config(&cli, vec![])?;
            let store = segmenter::store::connect_for_loading(&config.database_url).await?;
            let mut options =
                ImportOptions::new(config.reporting_currency.clone(), SystemClock.now());
            options.batch_size = *batch_size;
            options.show_progress = !quiet;
            let format = match format {
                FormatArg::Detect => Format::Detect,
                FormatArg::Ndjson => Format::Ndjson,
                FormatArg::Csv => Format::Csv,
            };
            let mut rejected = 0;
            for file in files {
                let summary = import_file(store.as_ref(), file, format, &options).await?;
                eprintln!(
                    "{}: {} lines, {} profiles, {} events stored, {} duplicates, {} rejected in {:.1?}",
                    file.display(),
                    summary.lines_read,
                    summary.profiles_upserted,
                    summary.events_stored,
                    summary.duplicates,
                    summary.rejected,
                    summary.elapsed
                );
                for line in &summary.rejected_lines {
                    eprintln!("  rejected {line}");
                }
                rejected += summary.rejected;
            }
            Ok(if rejected > 0 {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Export { output } => {
            let config = load_config(&cli, vec![])?;
            let store = segmenter::store::connect(&config.database_url).await?;
            let summary = match output {
                Some(path) => {
                    let file = std::fs::File::create(path)?;
                    export_ndjson(store.as_ref(), file, &config.reporting_currency).await?
                }
                None => {
                    export_ndjson(
                        store.as_ref(),
                        std::io::stdout().lock(),
                        &config.reporting_currency,
                    )
                    .await?
                }
            };
            eprintln!(
                "exported {} customers, {} profiles, {} events",
                summary.customers, summary.profiles, summary.events
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Classify(args) => {
            let config = load_config(&cli, vec![])?;
            let reference = classify_reference(args)?;
            let as_of = match &args.as_of {
                Some(text) => Some(
                    parse_instant(text)
                        .ok_or_else(|| format!("--as-of {text:?} is not an RFC 3339 instant"))?,
                ),
                None => None,
            };
            let snapshot = if args.snapshot_at_as_of {
                SnapshotChoice::AtAsOf
            } else {
                SnapshotChoice::Current
            };
            let app = server::build_app(&config, Arc::new(SystemClock)).await?;
            let classified = app
                .classify(
                    &reference,
                    &ClassifyOptions {
                        as_of,
                        snapshot,
                        codes_only: false,
                    },
                )
                .await?;
            print_stdout(&format!(
                "{}\n",
                serde_json::to_string_pretty(&classified.classification)?
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys { command } => {
            let config = load_config(&cli, vec![])?;
            let store = segmenter::store::connect(&config.database_url).await?;
            manage_keys(store.as_ref(), command).await
        }
        Command::Rules { command } => match command {
            RulesCommand::Default => {
                print_stdout(RuleSet::builtin_toml())?;
                Ok(ExitCode::SUCCESS)
            }
            RulesCommand::Check { file } => check_rules(file),
        },
        Command::Config { command } => match command {
            ConfigCommand::Check { file } => {
                let config = Config::load(Some(file), std::env::vars(), &cli.overrides)?;
                server::load_rules(&config)?;
                print!("{}", toml::to_string(&config)?);
                eprintln!("{}: valid", file.display());
                Ok(ExitCode::SUCCESS)
            }
        },
    }
}

async fn manage_keys(
    store: &dyn segmenter::store::Store,
    command: &KeysCommand,
) -> Result<ExitCode, AnyError> {
    let now = SystemClock.now();
    match command {
        KeysCommand::Create { name, scopes } => {
            let scopes = Scope::parse_list(scopes)?;
            let (record, key) = keys::create_key(store, name, scopes, now).await?;
            eprintln!(
                "created key {} for {:?} with scopes {}; it is shown only now:",
                record.id,
                record.name,
                scope_list(&record.scopes)
            );
            print_stdout(&format!("{key}\n"))?;
        }
        KeysCommand::List => {
            let mut out = String::from("id        name                 scopes                 created                  revoked\n");
            for key in keys::list_keys(store).await? {
                out.push_str(&format!(
                    "{:<9} {:<20} {:<22} {:<24} {}\n",
                    key.id,
                    key.name,
                    scope_list(&key.scopes),
                    key.created_at.to_rfc3339(),
                    key.revoked_at.map_or("-".to_owned(), |t| t.to_rfc3339())
                ));
            }
            print_stdout(&out)?;
        }
        KeysCommand::Revoke { name_or_id } => {
            let revoked = keys::revoke_key(store, name_or_id, now).await?;
            if revoked == 0 {
                eprintln!("no active key named or with id {name_or_id:?}");
                return Ok(ExitCode::from(2));
            }
            eprintln!("revoked {revoked} key(s); servers stop accepting them within 5 seconds");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn scope_list(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.code())
        .collect::<Vec<_>>()
        .join(",")
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
fn print_stdout(text: &str) -> Result<(), AnyError> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(()),
    }
}

fn check_rules(file: &Path) -> Result<ExitCode, AnyError> {
    let text = std::fs::read_to_string(file)?;
    match RuleSet::from_toml_over_builtin(&text) {
        Ok(rules) => {
            println!("{}: valid, version {}", file.display(), rules.version);
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("{}: refused: {error}", file.display());
            Ok(ExitCode::from(2))
        }
    }
}

fn classify_reference(args: &ClassifyArgs) -> Result<CustomerRef, AnyError> {
    let given = [
        args.id.is_some(),
        args.phone.is_some(),
        args.email.is_some(),
        args.external.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err("name exactly one customer: an id, --phone, --email or --external".into());
    }
    if let Some(id) = &args.id {
        return Ok(CustomerRef::Id(id.clone()));
    }
    if let Some(phone) = &args.phone {
        return Ok(CustomerRef::Phone(normalize_phone(phone)?));
    }
    if let Some(email) = &args.email {
        return Ok(CustomerRef::Email(normalize_email(email)?));
    }
    let external = args.external.as_deref().unwrap_or_default();
    let (system, key) = external
        .split_once(':')
        .ok_or("--external takes SYSTEM:KEY, e.g. erp:K-10442")?;
    Ok(CustomerRef::External(ExternalId {
        system: system.to_owned(),
        key: key.to_owned(),
    }))
}

/// `segmenter demo`: loads straight into the store. No application is built, so no histories
/// are made resident and no snapshot is computed: a population of millions needs the memory of
/// a few chunks, and a server started on it computes its snapshot from the loaded data.
async fn load_demo_command(
    config: &Config,
    demo: &DemoConfig,
    options: &LoadOptions,
) -> Result<ExitCode, AnyError> {
    // A baseline computing RFM over the orders CSV needs the very same instant.
    eprintln!(
        "demo as_of: {} ({} microseconds since the Unix epoch)",
        demo.as_of.to_rfc3339(),
        demo.as_of.micros()
    );
    let store = segmenter::store::connect_for_loading(&config.database_url).await?;
    let existing = store.customer_count().await?;
    if existing > 0 {
        eprintln!(
            "the database already holds {existing} customers: demo not loaded{}",
            if options.orders_csv.is_some() {
                ", no orders CSV written"
            } else {
                ""
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    let summary = load_demo_with(store.as_ref(), demo, options).await?;
    eprintln!(
        "demo: {} customers, {} profiles, {} events stored ({} duplicates) in {:.1} s",
        summary.customers,
        summary.profiles,
        summary.events_stored,
        summary.duplicates,
        summary.elapsed.as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// Loads the demo population unless the database already holds customers, then refreshes the
/// snapshot so the first calls see it.
async fn fill_demo(app: &App, demo: DemoConfig) -> Result<(), AnyError> {
    let existing = app.store().customer_count().await?;
    if existing > 0 {
        tracing::info!(
            existing,
            "database already holds customers; demo data not loaded"
        );
        return Ok(());
    }
    let summary = load_demo(app.store().as_ref(), &demo).await?;
    tracing::info!(
        customers = summary.customers,
        events = summary.events_stored,
        elapsed_ms = summary.elapsed.as_millis() as u64,
        "demo population loaded"
    );
    // The demo was written straight to the store, past the resident histories.
    app.reload_histories().await?;
    app.refresh_snapshot().await?;
    Ok(())
}
