//! The `gatehouse` command line (SPEC §11): parses arguments and calls into
//! the library. Exit status 0 on success; on bad input a one-line reason on
//! stderr and status 2, having written nothing.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use gatehouse::commands::{self, CommandError, Report};
use gatehouse::config::{Config, LogFormat};
use gatehouse::model::SettingsPatch;
use gatehouse::saml::config::Options as SamlOptions;
use gatehouse::saml::setup::IdpSource;
use gatehouse::store::catalog::Directory;
use gatehouse::store::Db;
use gatehouse::user_input::NewUserRequest;
use gatehouse::App;

#[derive(Parser)]
#[command(name = "gatehouse", version, about = "Multi-tenant single-sign-on service provider")]
struct Cli {
    /// TOML configuration file (GATEHOUSE_* environment variables override it).
    #[arg(long, global = true, env = "GATEHOUSE_CONFIG")]
    config: Option<PathBuf>,
    /// Print results as JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum OnOff {
    On,
    Off,
}

impl From<OnOff> for bool {
    fn from(v: OnOff) -> bool {
        matches!(v, OnOff::On)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve,
    /// Run a demo: a fresh SQLite database with a seeded organization.
    Demo {
        /// Address to listen on (default: the configured listen address).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Apply database migrations and exit.
    Migrate,
    #[command(subcommand)]
    Org(OrgCommand),
    #[command(subcommand)]
    User(UserCommand),
    /// List an organization's users.
    Users {
        #[arg(long)]
        org: String,
    },
    /// List login events, newest first.
    Events {
        #[arg(long)]
        org: String,
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        outcome: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// Print a one-time sign-in link for a user (single use, 15 minutes).
    #[command(name = "recovery-link")]
    RecoveryLink {
        #[arg(long)]
        org: String,
        #[arg(long)]
        user: String,
    },
    #[command(subcommand, name = "role-map")]
    RoleMap(RoleMapCommand),
    #[command(subcommand)]
    Connection(ConnectionCommand),
    #[command(subcommand)]
    Location(DirectoryCommand),
    #[command(subcommand)]
    Group(DirectoryCommand),
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organization.
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
    },
    /// Change an organization's settings.
    Settings {
        #[arg(long)]
        org: String,
        #[arg(long)]
        jit: Option<OnOff>,
        #[arg(long)]
        hide_password_login: Option<OnOff>,
        #[arg(long)]
        default_sso_role: Option<i32>,
        #[arg(long)]
        profile_sync: Option<String>,
        #[arg(long)]
        ms_id_as_external_id: Option<OnOff>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user (role 40 makes an administrator).
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        first_name: Option<String>,
        #[arg(long)]
        last_name: Option<String>,
        #[arg(long)]
        role: Option<i32>,
        /// Read the password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Create an API key; the secret is printed once.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        scope: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// Revoke an API key by id.
    Revoke {
        #[arg(long)]
        org: String,
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
enum RoleMapCommand {
    /// Map an external role name (case-sensitive) to a role code.
    Set {
        #[arg(long)]
        org: String,
        external_role: String,
        code: i32,
    },
    List {
        #[arg(long)]
        org: String,
    },
    Remove {
        #[arg(long)]
        org: String,
        external_role: String,
    },
}

#[derive(Subcommand)]
enum ConnectionCommand {
    /// Add a SAML connection from IdP metadata (file or URL) or from fields.
    #[command(name = "add-saml")]
    AddSaml {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        #[arg(long, conflicts_with_all = ["metadata_url", "entity_id"])]
        metadata_file: Option<PathBuf>,
        #[arg(long, conflicts_with = "entity_id")]
        metadata_url: Option<String>,
        #[arg(long)]
        entity_id: Option<String>,
        #[arg(long)]
        sso_url: Option<String>,
        #[arg(long)]
        slo_url: Option<String>,
        /// IdP signing certificate (PEM); repeat for rollover.
        #[arg(long, num_args = 1..)]
        cert_file: Vec<PathBuf>,
        #[arg(long)]
        idp_initiated: Option<OnOff>,
        #[arg(long)]
        relay_state_roles: Option<OnOff>,
        #[arg(long)]
        relay_state_ceiling: Option<i32>,
        #[arg(long)]
        allow_sha1: Option<OnOff>,
        #[arg(long)]
        clock_skew_seconds: Option<i64>,
        #[arg(long)]
        sign_requests: Option<OnOff>,
    },
    /// Add an OpenID Connect connection (discovery from the issuer URL).
    #[command(name = "add-oidc")]
    AddOidc {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        /// The issuer exactly as the provider names it (Entra ID:
        /// https://login.microsoftonline.com/TENANT-ID/v2.0).
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        client_id: String,
        /// Read the client secret from standard input (first line);
        /// required unless --client-auth private_key_jwt.
        #[arg(long)]
        client_secret_stdin: bool,
        #[arg(long, default_value = "openid profile email")]
        scopes: String,
        /// client_secret_basic (default), client_secret_post, or
        /// private_key_jwt (prints a certificate to register at the provider).
        #[arg(long)]
        client_auth: Option<String>,
        /// entra or generic; detected from the issuer when absent.
        #[arg(long)]
        profile: Option<String>,
        /// Fetch userinfo after the token exchange.
        #[arg(long)]
        userinfo: Option<OnOff>,
        /// Email domain this connection vouches for (matching by email); repeatable.
        #[arg(long = "verified-domain")]
        verified_domains: Vec<String>,
        #[arg(long)]
        clock_skew_seconds: Option<i64>,
    },
    /// List an organization's connections.
    List {
        #[arg(long)]
        org: String,
    },
}

#[derive(Subcommand)]
enum DirectoryCommand {
    Add {
        #[arg(long)]
        org: String,
        #[arg(long)]
        external_id: String,
        #[arg(long)]
        name: String,
    },
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

fn read_password_stdin() -> Result<String, CommandError> {
    read_secret_stdin("password")
}

/// The first line of standard input: secrets never go on the command line,
/// where `ps` and shell history would keep them.
fn read_secret_stdin(what: &str) -> Result<String, CommandError> {
    let mut buf = String::new();
    std::io::stdin()
        .read_to_string(&mut buf)
        .map_err(|e| CommandError(format!("cannot read {what} from stdin: {e}")))?;
    let line = buf.lines().next().unwrap_or("").to_string();
    if line.is_empty() {
        return Err(CommandError(format!("{what}: nothing on standard input")));
    }
    Ok(line)
}

async fn open_db(config: &Config) -> Result<Db, CommandError> {
    let db = Db::connect(&config.database_url, &Default::default())
        .await
        .map_err(|e| CommandError(format!("database: {e}")))?;
    db.migrate()
        .await
        .map_err(|e| CommandError(format!("database migration: {e}")))?;
    Ok(db)
}

async fn run(cli: Cli) -> Result<Option<Report>, CommandError> {
    let config = Config::load(cli.config.as_deref()).map_err(|e| CommandError(e.to_string()))?;
    init_logging(&config);
    match cli.command {
        Command::Serve => {
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .map_err(|e| CommandError(format!("listen {}: {e}", config.listen)))?;
            let app = App::build(config.clone())
                .await
                .map_err(|e| CommandError(e.to_string()))?;
            tracing::info!(listen = %config.listen, base_url = %config.base_url, backend = app.db().backend(), "serving");
            app.serve(listener, gatehouse::app::shutdown_signal())
                .await
                .map_err(|e| CommandError(format!("server: {e}")))?;
            Ok(None)
        }
        Command::Demo { listen } => gatehouse::demo::run(config, listen).await.map(|()| None),
        Command::Migrate => {
            let db = open_db(&config).await?;
            Ok(Some(Report {
                text: vec![format!("migrations applied ({})", db.backend())],
                json: serde_json::json!({ "migrated": true, "backend": db.backend() }),
            }))
        }
        other => {
            let db = open_db(&config).await?;
            let report = admin_command(&db, &config, other).await;
            db.close().await;
            report.map(Some)
        }
    }
}

async fn admin_command(db: &Db, config: &Config, command: Command) -> Result<Report, CommandError> {
    match command {
        Command::Org(OrgCommand::Create { slug, name }) => commands::org_create(db, config, &slug, &name).await,
        Command::Org(OrgCommand::Settings {
            org,
            jit,
            hide_password_login,
            default_sso_role,
            profile_sync,
            ms_id_as_external_id,
        }) => {
            let patch = SettingsPatch {
                jit_creation: jit.map(Into::into),
                hide_password_login: hide_password_login.map(Into::into),
                default_sso_role,
                profile_sync,
                ms_id_as_external_id: ms_id_as_external_id.map(Into::into),
            };
            commands::org_settings(db, &org, patch).await
        }
        Command::User(UserCommand::Create {
            org,
            username,
            email,
            first_name,
            last_name,
            role,
            password_stdin,
        }) => {
            let password = if password_stdin {
                Some(read_password_stdin()?)
            } else {
                None
            };
            let req = NewUserRequest {
                username,
                email,
                first_name,
                last_name,
                display_name: None,
                external_id: None,
                job_title: None,
                language: None,
                role,
                staff_group: None,
                locations: Vec::new(),
                password,
            };
            commands::user_create(db, &org, req).await
        }
        Command::Users { org } => commands::users(db, &org).await,
        Command::Events {
            org,
            user,
            outcome,
            limit,
        } => commands::events(db, &org, user.as_deref(), outcome.as_deref(), limit).await,
        Command::ApiKey(ApiKeyCommand::Create { org, scope, name }) => {
            commands::api_key_create(db, &org, &scope, &name).await
        }
        Command::ApiKey(ApiKeyCommand::Revoke { org, id }) => commands::api_key_revoke(db, &org, &id).await,
        Command::RecoveryLink { org, user } => commands::recovery_link(db, config, &org, &user).await,
        Command::RoleMap(RoleMapCommand::Set {
            org,
            external_role,
            code,
        }) => commands::role_map_set(db, &org, &external_role, code).await,
        Command::RoleMap(RoleMapCommand::List { org }) => commands::role_map_list(db, &org).await,
        Command::RoleMap(RoleMapCommand::Remove { org, external_role }) => {
            commands::role_map_remove(db, &org, &external_role).await
        }
        Command::Connection(ConnectionCommand::AddSaml {
            org,
            name,
            metadata_file,
            metadata_url,
            entity_id,
            sso_url,
            slo_url,
            cert_file,
            idp_initiated,
            relay_state_roles,
            relay_state_ceiling,
            allow_sha1,
            clock_skew_seconds,
            sign_requests,
        }) => {
            let read = |p: &PathBuf| {
                std::fs::read_to_string(p).map_err(|e| CommandError(format!("cannot read {}: {e}", p.display())))
            };
            let source = match (metadata_file, metadata_url, entity_id) {
                (Some(f), None, None) => IdpSource::MetadataXml(read(&f)?),
                (None, Some(u), None) => IdpSource::MetadataUrl(u),
                (None, None, Some(entity_id)) => IdpSource::Fields {
                    entity_id,
                    sso_url: sso_url.unwrap_or_default(),
                    slo_url,
                    certificates: cert_file.iter().map(read).collect::<Result<_, _>>()?,
                },
                _ => {
                    return Err(CommandError(
                        "give one of --metadata-file, --metadata-url or --entity-id".into(),
                    ))
                }
            };
            let defaults = SamlOptions::default();
            let options = SamlOptions {
                idp_initiated: idp_initiated.map_or(defaults.idp_initiated, Into::into),
                relay_state_roles: relay_state_roles.map_or(defaults.relay_state_roles, Into::into),
                relay_state_ceiling: relay_state_ceiling.unwrap_or(defaults.relay_state_ceiling),
                allow_sha1: allow_sha1.map_or(defaults.allow_sha1, Into::into),
                clock_skew_seconds: clock_skew_seconds.unwrap_or(defaults.clock_skew_seconds),
                sign_authn_requests: sign_requests.map_or(defaults.sign_authn_requests, Into::into),
            };
            commands::connection_add_saml(db, config, &org, &name, source, options).await
        }
        Command::Connection(ConnectionCommand::AddOidc {
            org,
            name,
            issuer,
            client_id,
            client_secret_stdin,
            scopes,
            client_auth,
            profile,
            userinfo,
            verified_domains,
            clock_skew_seconds,
        }) => {
            let profile = match profile.as_deref() {
                None => None,
                Some("entra") => Some(gatehouse::oidc::config::Profile::Entra),
                Some("generic") => Some(gatehouse::oidc::config::Profile::Generic),
                Some(other) => return Err(CommandError(format!("profile: {other:?} is not entra or generic"))),
            };
            let new = gatehouse::oidc::setup::NewOidc {
                name,
                issuer,
                client_id,
                client_secret: if client_secret_stdin {
                    Some(read_secret_stdin("client secret")?)
                } else {
                    None
                },
                scopes: Some(scopes),
                client_auth,
                profile,
                userinfo: userinfo.map(Into::into),
                verified_domains,
                trusted_audiences: Vec::new(),
                clock_skew_seconds,
                attribute_overrides: Default::default(),
            };
            commands::connection_add_oidc(db, config, &org, new).await
        }
        Command::Connection(ConnectionCommand::List { org }) => commands::connection_list(db, config, &org).await,
        Command::Location(DirectoryCommand::Add { org, external_id, name }) => {
            commands::directory_add(db, &org, Directory::Locations, &external_id, &name).await
        }
        Command::Group(DirectoryCommand::Add { org, external_id, name }) => {
            commands::directory_add(db, &org, Directory::StaffGroups, &external_id, &name).await
        }
        Command::Serve | Command::Demo { .. } | Command::Migrate => Err(CommandError("not an admin command".into())),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli).await {
        Ok(Some(report)) => {
            if json {
                println!("{}", report.json);
            } else {
                for line in report.text {
                    println!("{line}");
                }
            }
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse: {e}");
            ExitCode::from(2)
        }
    }
}
