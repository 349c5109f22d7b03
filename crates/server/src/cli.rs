//! The command line: `serve` and the operator commands. Every command that
//! touches data takes `--data-dir` / `--database-url` (or their environment
//! variables), so that it works on a running installation.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use kernel::audit::Actor;
use kernel::mail::MailConfig;
use kernel::password::Hasher;
use kernel::{AppState, Db};

use crate::app::{self, Node, NodeConfig};
use crate::demo;

#[derive(Parser, Debug)]
#[command(
    name = "mutualis",
    version,
    about = "Mutualis: the platform of digital services shared by a metropolis and its communes"
)]
pub struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty, env = "MUTUALIS_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Args, Debug, Clone)]
pub struct DbArgs {
    /// Directory for the embedded SQLite database and local files.
    #[arg(long, env = "MUTUALIS_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (postgres://…); without it, SQLite in the data directory.
    #[arg(long, env = "MUTUALIS_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

impl DbArgs {
    pub async fn open(&self) -> anyhow::Result<Db> {
        let db = Db::open(self.database_url.as_deref(), &self.data_dir).await?;
        db.migrate().await?;
        Ok(db)
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the platform (HTTP server and background jobs).
    Serve(ServeArgs),
    /// Run the database migrations and exit.
    Migrate(DbArgs),
    /// Import reference data.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Administrator accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Inhabitants' accounts (ID-1).
    #[command(subcommand)]
    User(UserCommand),
    /// OpenID Connect clients (the shared services, ID-3).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Signing keys of the OpenID Connect provider (ID-3).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The audit journal (OPS-3).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Print every page of the platform as JSON (used by the browser tests).
    Pages,
    /// Contributions and revenue orders (FIN).
    #[command(subcommand)]
    Billing(BillingCommand),
}

#[derive(Subcommand, Debug)]
pub enum BillingCommand {
    /// Compute contributions from a JSON description, without a database,
    /// and print the lines and orders as JSON (docs/billing-simulate.md).
    /// Bad input exits with status 2 and one message per problem.
    Simulate {
        /// The input file (`-` for standard input).
        #[arg(long)]
        input: PathBuf,
        /// Last year to compute (inclusive).
        #[arg(long)]
        to: i32,
        /// Only read and check the input; print nothing on success.
        #[arg(long)]
        check: bool,
    },
    /// Issue the revenue orders of a year (FIN-5): one per commune, numbered
    /// in the year's gap-free series. Running it again issues nothing new.
    Run {
        #[arg(long)]
        year: i32,
        /// Name and capacity of the issuer printed on the orders.
        #[arg(long, default_value = agreements::domain::orders::DEFAULT_ISSUER)]
        issuer: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Print a year's revenue orders as CSV or JSON.
    Export {
        #[arg(long)]
        year: i32,
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "MUTUALIS_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Address people and services use (default: http:// + the bind address).
    #[arg(long, env = "MUTUALIS_PUBLIC_URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub db: DbArgs,
    /// Address of the Prometheus metrics listener.
    #[arg(long, env = "MUTUALIS_METRICS_BIND", default_value = "127.0.0.1:9464")]
    pub metrics_bind: SocketAddr,
    /// Do not start the metrics listener.
    #[arg(long)]
    pub no_metrics: bool,
    /// Seed demo data (idempotent) and print the demo accounts.
    #[arg(long)]
    pub demo: bool,
    /// SMTP server (smtp://host:port, smtps://user:pass@host); default: write
    /// messages as files in <data-dir>/mail.
    #[arg(long, env = "MUTUALIS_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// File holding the 32-byte master key that seals secrets at rest (every
    /// node must use the same); default <data-dir>/master.key, created there
    /// on a single-node SQLite installation when missing.
    #[arg(long, env = "MUTUALIS_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Sender of the platform's e-mails.
    #[arg(
        long,
        env = "MUTUALIS_MAIL_FROM",
        default_value = "Mutualis <ne-pas-repondre@mutualis.localhost>"
    )]
    pub mail_from: String,
    #[command(flatten)]
    pub franceconnect: FranceConnectArgs,
}

/// ID-5: the platform's registration with FranceConnect (docs/franceconnect.md).
/// Without an issuer, FranceConnect is off and its button hidden.
#[derive(Args, Debug)]
pub struct FranceConnectArgs {
    /// FranceConnect's issuer (its discovery document is read from there),
    /// e.g. https://oidc.franceconnect.gouv.fr/api/v2.
    #[arg(long, env = "MUTUALIS_FRANCECONNECT_ISSUER")]
    pub franceconnect_issuer: Option<String>,
    /// The client id FranceConnect gave.
    #[arg(long, env = "MUTUALIS_FRANCECONNECT_CLIENT_ID")]
    pub franceconnect_client_id: Option<String>,
    /// File holding the client secret FranceConnect gave (or the variable
    /// MUTUALIS_FRANCECONNECT_CLIENT_SECRET).
    #[arg(long, env = "MUTUALIS_FRANCECONNECT_CLIENT_SECRET_FILE")]
    pub franceconnect_client_secret_file: Option<PathBuf>,
    #[arg(
        long,
        env = "MUTUALIS_FRANCECONNECT_CLIENT_SECRET",
        hide_env_values = true,
        hide = true
    )]
    pub franceconnect_client_secret: Option<String>,
    /// The callback registered with FranceConnect (default: the public
    /// address + /franceconnect/retour).
    #[arg(long, env = "MUTUALIS_FRANCECONNECT_REDIRECT_URI")]
    pub franceconnect_redirect_uri: Option<String>,
    /// The post-logout address registered with FranceConnect (default: the
    /// public address + /franceconnect/deconnexion).
    #[arg(long, env = "MUTUALIS_FRANCECONNECT_POST_LOGOUT_REDIRECT_URI")]
    pub franceconnect_post_logout_redirect_uri: Option<String>,
    /// Scopes asked for.
    #[arg(long, env = "MUTUALIS_FRANCECONNECT_SCOPES", default_value = identity::franceconnect::DEFAULT_SCOPES)]
    pub franceconnect_scopes: String,
    /// Which FranceConnect platform: integration, sandbox or production
    /// (shown to staff).
    #[arg(long, env = "MUTUALIS_FRANCECONNECT_ENVIRONMENT")]
    pub franceconnect_environment: Option<String>,
}

impl FranceConnectArgs {
    /// The configuration, `None` when FranceConnect is off; an error names
    /// what is missing or wrong.
    pub fn config(
        &self,
        public_url: &str,
    ) -> anyhow::Result<Option<identity::franceconnect::Config>> {
        let Some(issuer) = self.franceconnect_issuer.clone() else {
            return Ok(None);
        };
        let client_id = self.franceconnect_client_id.clone().ok_or_else(|| {
            anyhow::anyhow!("--franceconnect-client-id is required with --franceconnect-issuer")
        })?;
        let client_secret = match (
            &self.franceconnect_client_secret_file,
            &self.franceconnect_client_secret,
        ) {
            (Some(path), _) => std::fs::read_to_string(path)
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot read the FranceConnect client secret file {}: {e}",
                        path.display()
                    )
                })?
                .trim()
                .to_string(),
            (None, Some(secret)) => secret.trim().to_string(),
            (None, None) => anyhow::bail!(
                "--franceconnect-client-secret-file (or MUTUALIS_FRANCECONNECT_CLIENT_SECRET) is required with --franceconnect-issuer"
            ),
        };
        if client_secret.is_empty() {
            anyhow::bail!("the FranceConnect client secret is empty");
        }
        let environment = self
            .franceconnect_environment
            .as_deref()
            .and_then(identity::franceconnect::Environment::parse)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "--franceconnect-environment must be integration, sandbox or production"
                )
            })?;
        let base = public_url.trim_end_matches('/');
        Ok(Some(identity::franceconnect::Config {
            issuer,
            client_id,
            client_secret,
            redirect_uri: self
                .franceconnect_redirect_uri
                .clone()
                .unwrap_or_else(|| format!("{base}/franceconnect/retour")),
            post_logout_redirect_uri: self
                .franceconnect_post_logout_redirect_uri
                .clone()
                .unwrap_or_else(|| format!("{base}/franceconnect/deconnexion")),
            scopes: self.franceconnect_scopes.clone(),
            environment,
        }))
    }
}

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// Load or update communes and their population series from a CSV file
    /// (insee_code,siren,name,population_in_force_YYYY…). Nothing is written
    /// if any row is bad.
    Communes {
        file: PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create a metropolis administrator. The password is read from standard
    /// input with --password-stdin, otherwise generated and printed once.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// ID-7: remove a staff member's second factor (lost phone and recovery
    /// codes); they enrol again at their next sign-in.
    #[command(name = "reset-2fa")]
    ResetSecondFactor {
        #[arg(long)]
        email: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create an inhabitant's account; the password is read from standard
    /// input and must follow the password policy.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        given_name: Option<String>,
        #[arg(long)]
        family_name: Option<String>,
        /// INSEE code of the commune of residence (one of the platform's).
        #[arg(long)]
        commune: Option<String>,
        /// Mark the e-mail address as already verified.
        #[arg(long)]
        verified: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Register a service; prints its client id and, once, its secret.
    Create {
        #[arg(long)]
        name: String,
        /// Exact redirect URI (repeat for several).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
        /// Space-separated scopes the service may ask for.
        #[arg(long, default_value = "openid profile email")]
        scope: String,
        /// A public client (no secret; PKCE required).
        #[arg(long)]
        public: bool,
        #[arg(long)]
        require_pkce: bool,
        /// Sector for pairwise subjects (a service or a named group).
        #[arg(long)]
        sector: Option<String>,
        /// RS256 (default) or ES256.
        #[arg(long)]
        id_token_alg: Option<String>,
        #[arg(long)]
        consent_lifetime_days: Option<i64>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// New signing keys become active; the old ones stay in the JWKS for the
    /// overlap window.
    Rotate {
        #[arg(long, env = "MUTUALIS_MASTER_KEY_FILE")]
        master_key_file: Option<PathBuf>,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the whole hash chain; exits non-zero at the first broken entry.
    Verify(DbArgs),
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MUTUALIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    init_logs(cli.log_format);
    app::register_personal_data();
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Migrate(db) => {
            db.open().await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Import(ImportCommand::Communes { file, db }) => import_communes(&file, &db).await,
        Command::Admin(AdminCommand::Create {
            email,
            name,
            password_stdin,
            db,
        }) => admin_create(&email, &name, password_stdin, &db).await,
        Command::Admin(AdminCommand::ResetSecondFactor { email, db }) => {
            let address =
                identity::domain::EmailAddress::parse(&email).map_err(anyhow::Error::msg)?;
            let db = db.open().await?;
            let Some(account) = identity::store::account_by_email(&db, &address).await? else {
                eprintln!("no account with the address {email}");
                return Ok(ExitCode::FAILURE);
            };
            identity::store::second_factor::reset(&db, Actor::Cli, account.id).await?;
            println!("second factor removed for {email}; they enrol again at their next sign-in");
            Ok(ExitCode::SUCCESS)
        }
        Command::User(UserCommand::Create {
            email,
            password_stdin,
            given_name,
            family_name,
            commune,
            verified,
            db,
        }) => {
            user_create(
                &email,
                password_stdin,
                given_name,
                family_name,
                commune,
                verified,
                &db,
            )
            .await
        }
        Command::Client(ClientCommand::Create {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            backchannel_logout_uri,
            scope,
            public,
            require_pkce,
            sector,
            id_token_alg,
            consent_lifetime_days,
            json,
            db,
        }) => {
            let new = identity::oidc::clients::NewClient {
                client_id: None,
                name,
                redirect_uris,
                post_logout_redirect_uris,
                backchannel_logout_uri,
                scopes: scope.split_whitespace().map(str::to_string).collect(),
                public,
                require_pkce,
                sector,
                id_token_alg,
                consent_lifetime_days,
                purpose: None,
            };
            if let Err(problems) = new.check() {
                for p in &problems {
                    eprintln!("{p}");
                }
                return Ok(ExitCode::from(2));
            }
            let db = db.open().await?;
            let (id, secret) = identity::oidc::clients::create(&db, Actor::Cli, &new)
                .await?
                .ok_or_else(|| anyhow::anyhow!("client id taken"))?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "client_id": id, "client_secret": secret })
                );
            } else {
                println!("client_id: {id}");
                if let Some(secret) = secret {
                    // Shown once: only its SHA-256 is stored.
                    println!("client_secret: {secret}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(KeysCommand::Rotate {
            master_key_file,
            db,
        }) => {
            let master = master_key(master_key_file.as_deref(), &db, false)?;
            let db = db.open().await?;
            identity::oidc::keys::ensure_keys(&db, &master).await?;
            let kids = identity::oidc::keys::rotate(&db, &master).await?;
            println!(
                "new signing keys: {} (the previous ones stay published for 7 days)",
                kids.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCommand::Verify(db)) => {
            let db = db.open().await?;
            match kernel::audit::verify(&db).await? {
                Ok(n) => {
                    println!("audit journal intact: {n} entries verified");
                    Ok(ExitCode::SUCCESS)
                }
                Err(broken) => {
                    eprintln!("{broken}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Billing(BillingCommand::Simulate { input, to, check }) => {
            simulate(&input, to, check)
        }
        Command::Billing(BillingCommand::Run { year, issuer, db }) => {
            billing_run(year, &issuer, &db).await
        }
        Command::Billing(BillingCommand::Export { year, format, db }) => {
            let db = db.open().await?;
            let text = match format {
                ExportFormat::Csv => {
                    agreements::exports::orders_csv(&db, &kernel::web::Scope::All, year).await?
                }
                ExportFormat::Json => {
                    agreements::exports::orders_json(&db, &kernel::web::Scope::All, year).await?
                }
            };
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Pages => {
            let pages: Vec<_> = crate::pages::all_pages()
                .into_iter()
                .map(|(path, staff)| serde_json::json!({ "path": path, "staff": staff }))
                .collect();
            println!("{}", serde_json::to_string_pretty(&pages)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn import_communes(file: &std::path::Path, db: &DbArgs) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let records = match agreements::domain::communes_csv::parse(&bytes) {
        Ok(r) => r,
        Err(errors) => {
            for e in &errors {
                eprintln!("{}: {e}", file.display());
            }
            eprintln!("{} bad row(s): nothing was imported", errors.len());
            return Ok(ExitCode::FAILURE);
        }
    };
    let db = db.open().await?;
    let source = format!("file:{}", file.display());
    let outcome = agreements::store::import_communes(&db, Actor::Cli, &source, &records).await?;
    println!(
        "{} communes read: {} created, {} updated, {} unchanged",
        records.len(),
        outcome.created,
        outcome.updated,
        outcome.unchanged
    );
    Ok(ExitCode::SUCCESS)
}

/// ID-1's length floor applies to administrators too.
pub const MIN_PASSWORD_CHARS: usize = 10;

async fn admin_create(
    email: &str,
    name: &str,
    password_stdin: bool,
    db: &DbArgs,
) -> anyhow::Result<ExitCode> {
    let email = identity::domain::EmailAddress::parse(email)
        .map_err(|e| anyhow::anyhow!("invalid e-mail address {email:?}: {e}"))?;
    let (password, generated) = if password_stdin {
        let mut input = String::new();
        std::io::stdin().read_to_string(&mut input)?;
        let password = input.trim_end_matches(['\r', '\n']).to_string();
        if password.chars().count() < MIN_PASSWORD_CHARS {
            anyhow::bail!("the password must have at least {MIN_PASSWORD_CHARS} characters");
        }
        (password, false)
    } else {
        (kernel::random::token(15), true)
    };
    let db = db.open().await?;
    let metropolis = agreements::store::ensure_metropolis(&db, demo::METROPOLIS_NAME).await?;
    let hash = Hasher::new(1).hash(password.clone()).await;
    let created = identity::store::create_account(
        &db,
        Actor::Cli,
        &email,
        name,
        Some(&hash),
        Some((kernel::web::Role::MetropolisAdmin, metropolis)),
    )
    .await?;
    match created {
        Some(id) => {
            println!("administrator account {id} created for {email}");
            if generated {
                // Printed once, never stored in clear nor logged.
                println!("password: {password}");
            }
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("an account already exists for {email}: nothing was changed");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| app::default_public_url(&args.bind));
    if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
        anyhow::bail!("--public-url must start with http:// or https://");
    }
    let franceconnect = args.franceconnect.config(&public_url)?;
    let db = args.db.open().await?;
    let mail = MailConfig::new(args.smtp_url.as_deref(), &args.mail_from, &args.db.data_dir)?;
    if !args.no_metrics {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(args.metrics_bind)
            .install()
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot start the metrics listener on {}: {e}",
                    args.metrics_bind
                )
            })?;
    }
    let state = AppState {
        db: db.clone(),
        site: app::site(&public_url),
        hasher: Hasher::per_core(),
        master_key: master_key(args.master_key_file.as_deref(), &args.db, args.demo)?,
        extensions: Default::default(),
    };
    let mut state = app::compose(state).await?;
    if let Some(config) = franceconnect {
        tracing::info!(issuer = %config.issuer, environment = config.environment.name(), "FranceConnect on");
        std::sync::Arc::make_mut(&mut state.extensions)
            .insert(identity::franceconnect::FranceConnect::new(config));
    }
    let accounts = if args.demo {
        let accounts = demo::seed(&state).await?;
        demo::seed_usage_history(&state).await?;
        Some(accounts)
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.bind))?;
    let node = Node::start(
        listener,
        NodeConfig {
            state,
            mail,
            jobs: true,
        },
    )
    .await?;
    println!(
        "Mutualis listening on {} (public address {public_url})",
        node.addr
    );
    if let Some(accounts) = accounts {
        demo::print_accounts(&accounts, &public_url);
    }
    let stopper = node.stopper();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests and jobs");
        stopper.cancel();
    });
    node.wait().await?;
    db.close().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// Exit status of `billing simulate` for bad input.
const BAD_INPUT: u8 = 2;

fn simulate(input: &std::path::Path, to: i32, check: bool) -> anyhow::Result<ExitCode> {
    let bytes = if input.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        buf
    } else {
        match std::fs::read(input) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("input: cannot read {}: {e}", input.display());
                return Ok(ExitCode::from(BAD_INPUT));
            }
        }
    };
    if !(1900..=2200).contains(&to) {
        eprintln!("--to: {to} is not a year between 1900 and 2200");
        return Ok(ExitCode::from(BAD_INPUT));
    }
    let value: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("input: not valid JSON: {e}");
            return Ok(ExitCode::from(BAD_INPUT));
        }
    };
    let plan = match agreements::simulate::Plan::parse(&value, to) {
        Ok(plan) => plan,
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            return Ok(ExitCode::from(BAD_INPUT));
        }
    };
    drop(value);
    if check {
        return Ok(ExitCode::SUCCESS);
    }
    let stdout = std::io::stdout().lock();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout);
    agreements::simulate::write_json(&plan, &mut out)?;
    std::io::Write::flush(&mut out)?;
    Ok(ExitCode::SUCCESS)
}

async fn billing_run(year: i32, issuer: &str, db: &DbArgs) -> anyhow::Result<ExitCode> {
    if !(2000..=2200).contains(&year) {
        anyhow::bail!("--year: {year} is not a year between 2000 and 2200");
    }
    if issuer.trim().is_empty() {
        anyhow::bail!("--issuer must name the issuer and their capacity");
    }
    let db = db.open().await?;
    match agreements::billing::run(&db, Actor::Cli, year, issuer).await? {
        Ok(report) => {
            println!(
                "{year}: {} revenue order(s) issued, {} already issued",
                report.issued.len(),
                report.already_issued
            );
            for reference in &report.issued {
                println!("  {reference}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => {
            for p in &problems {
                eprintln!("{}", p.en);
            }
            eprintln!("{} problem(s): nothing was issued", problems.len());
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn user_create(
    email: &str,
    password_stdin: bool,
    given_name: Option<String>,
    family_name: Option<String>,
    commune: Option<String>,
    verified: bool,
    db: &DbArgs,
) -> anyhow::Result<ExitCode> {
    use identity::domain::sheet::Field;
    let email = identity::domain::EmailAddress::parse(email)
        .map_err(|e| anyhow::anyhow!("invalid e-mail address {email:?}: {e}"))?;
    if !password_stdin {
        anyhow::bail!("--password-stdin is required: pipe the password on standard input");
    }
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let password = input.trim_end_matches(['\r', '\n']).to_string();
    if let Err(w) = identity::domain::password::check(&password, email.as_str()) {
        anyhow::bail!("{}", w.en());
    }
    let today = kernel::clock::today();
    let mut fields = Vec::new();
    for (field, value) in [
        (Field::GivenNames, given_name),
        (Field::FamilyName, family_name),
        (Field::Commune, commune),
    ] {
        if let Some(v) = value {
            let checked = field.check(&v, today).map_err(|(_, en)| {
                anyhow::anyhow!("--{}: expected {en}", field.code().replace('_', "-"))
            })?;
            fields.push((field, checked));
        }
    }
    let db = db.open().await?;
    if let Some((_, code)) = fields.iter().find(|(f, _)| *f == Field::Commune)
        && code != "hors"
        && agreements::store::commune(&db, &kernel::web::Scope::All, code)
            .await?
            .is_none()
    {
        anyhow::bail!(
            "--commune: {code} is not one of the platform's communes (import them first)"
        );
    }
    let hash = Hasher::new(1).hash(password).await;
    match identity::store::create_inhabitant(&db, &email, &hash, verified, &fields).await? {
        Some(id) => {
            println!("account {id} created for {email}");
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("an account already exists for {email}: nothing was changed");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The master key: the configured file, or `<data-dir>/master.key`, created
/// when missing on a single-node SQLite installation or in demo mode (with
/// PostgreSQL every node needs the same key, so it must be given).
pub fn master_key(
    file: Option<&std::path::Path>,
    db: &DbArgs,
    demo: bool,
) -> anyhow::Result<kernel::secrets::MasterKey> {
    let default = db.data_dir.join("master.key");
    let path = file.unwrap_or(&default);
    let create = file.is_none() && (db.database_url.is_none() || demo);
    kernel::secrets::MasterKey::load(path, create)
}
