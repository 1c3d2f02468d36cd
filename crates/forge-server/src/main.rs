//! `forge-server`: the registry server and its admin command line.

use std::process::ExitCode;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use forge_server::config::{self, Loaded};
use forge_server::password_input::PasswordArgs;
use forge_server::{admin, sweep, Config};
use packages_core::Visibility;

#[derive(Parser)]
#[command(
    name = "forge-server",
    version,
    about = "A Forgejo-compatible package registry"
)]
struct Cli {
    /// TOML configuration file; FORGE_* environment variables override its values.
    #[arg(long, global = true, env = "FORGE_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve,
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Administration of users and stored data.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print the effective values, secrets redacted, each
    /// with its environment variable and where it came from (default, file, environment).
    Check,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage organisations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Remove unreferenced content older than the grace period now.
    Cleanup,
    /// Check that every file's content is stored, with its recorded size (and digests), and
    /// that no unreferenced content outlives the grace period; exits non-zero on a problem.
    Verify {
        /// Only this owner's files.
        #[arg(long)]
        owner: Option<String>,
        /// Read every file and compare all four digests.
        #[arg(long)]
        rehash: bool,
        /// Remove the rows of files whose content is missing (each is listed first).
        #[arg(long)]
        repair: bool,
    },
    /// Write a consistent backup (database and content) of the running registry into DIR.
    Backup {
        /// A new or empty directory.
        dir: PathBuf,
    },
    /// Restore a backup from DIR into the configured (fresh) data directory and database,
    /// then verify every file.
    Restore { dir: PathBuf },
    /// Move stored content between stores.
    Storage {
        #[command(subcommand)]
        command: StorageCommand,
    },
}

#[derive(Subcommand)]
enum StorageCommand {
    /// Copy the local store (storage.path) into the bucket of the [storage.s3] settings,
    /// checking each object's SHA-256 and recording it in the database; running it again
    /// copies only what is missing. The local files are kept. Exits non-zero if any blob
    /// could not be moved.
    Migrate {
        /// The store to copy into.
        #[arg(long, value_enum)]
        to: MigrateTarget,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum MigrateTarget {
    S3,
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organisation; the owner joins its Owners team.
    Create {
        #[arg(long)]
        name: String,
        /// User who owns the organisation.
        #[arg(long)]
        owner: String,
        /// public, limited or private
        #[arg(long, default_value = "public")]
        visibility: Visibility,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user.
    Create(CreateUser),
    /// List users.
    List,
    /// Set a user's password.
    ChangePassword {
        #[arg(long)]
        username: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Create a personal access token and print it.
    GenerateAccessToken {
        #[arg(long)]
        username: String,
        #[arg(long)]
        token_name: String,
        /// Comma-separated scopes, e.g. write:package
        #[arg(long, default_value = "all")]
        scopes: String,
    },
}

#[derive(Args)]
struct CreateUser {
    #[arg(long)]
    username: String,
    #[command(flatten)]
    password: PasswordArgs,
    #[arg(long)]
    email: String,
    /// Make the user a site administrator.
    #[arg(long)]
    admin: bool,
    /// public, limited or private
    #[arg(long, default_value = "public")]
    visibility: Visibility,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let loaded = match config::load(cli.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("configuration error:\n{e}");
            return ExitCode::from(2);
        }
    };
    forge_server::logging::init(&loaded.config.log);
    for var in &loaded.unknown_variables {
        log::warn!("{var} is set but is not a configuration variable");
    }
    if let Command::Config {
        command: ConfigCommand::Check,
    } = cli.command
    {
        print!("{}", config::render_check(&loaded));
        return ExitCode::SUCCESS;
    }
    let Loaded { config, .. } = loaded;
    match run(cli.command, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command, config: Config) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        Command::Serve => {
            let running = forge_server::server::start_with(config, true)?;
            running.wait()?;
            log::info!("stopped");
        }
        Command::Config { .. } => {}
        Command::Migrate => {
            forge_server::server::open_backends(&config)?;
            println!("migrations applied");
        }
        Command::Admin { command } => match command {
            AdminCommand::User { command } => run_user(command, &config)?,
            AdminCommand::Org {
                command:
                    OrgCommand::Create {
                        name,
                        owner,
                        visibility,
                    },
            } => {
                let org = admin::create_org(&config, &name, &owner, visibility)?;
                println!("created organisation {} (id {})", org.name, org.id);
            }
            AdminCommand::Cleanup => {
                let (db, store) = forge_server::server::open_backends(&config)?;
                let report = sweep::run_once(&db, &*store, config.cleanup.blob_grace_period)?;
                println!("{report:?}");
            }
            AdminCommand::Verify {
                owner,
                rehash,
                repair,
            } => {
                let options = forge_server::verify::VerifyOptions {
                    owner,
                    rehash,
                    repair,
                    grace: config.cleanup.blob_grace_period,
                };
                let report = admin::verify(&config, &options, &mut std::io::stdout())?;
                let unrepaired = report.problems.len() as u64 - report.rows_removed;
                if unrepaired > 0 {
                    return Err(format!("{unrepaired} problems found").into());
                }
            }
            AdminCommand::Backup { dir } => {
                let report = forge_server::backup::backup(&config, &dir)?;
                println!(
                    "backed up the database and {} blobs ({} bytes) into {}",
                    report.blobs,
                    report.bytes,
                    dir.display()
                );
            }
            AdminCommand::Restore { dir } => {
                forge_server::backup::restore(&config, &dir, &mut std::io::stdout())?;
            }
            AdminCommand::Storage {
                command:
                    StorageCommand::Migrate {
                        to: MigrateTarget::S3,
                    },
            } => {
                let report = admin::migrate_to_s3(&config, &mut std::io::stdout())?;
                if !report.failed.is_empty() {
                    return Err(format!(
                        "{} blobs could not be moved (listed above); run the command again \
                         once their cause is fixed",
                        report.failed.len()
                    )
                    .into());
                }
            }
        },
    }
    Ok(())
}

fn run_user(command: UserCommand, config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        UserCommand::Create(c) => {
            let password = c.password.read()?;
            let user = admin::create_user_with_visibility(
                config,
                &c.username,
                &password,
                &c.email,
                c.admin,
                c.visibility,
            )?;
            println!("created user {} (id {})", user.name, user.id);
        }
        UserCommand::List => {
            println!(
                "{:<8} {:<24} {:<32} {:<6} {:<8}",
                "ID", "NAME", "EMAIL", "ADMIN", "VISIBILITY"
            );
            for u in admin::list_users(config)? {
                println!(
                    "{:<8} {:<24} {:<32} {:<6} {:<8}",
                    u.id, u.name, u.email, u.is_admin, u.visibility
                );
            }
        }
        UserCommand::ChangePassword { username, password } => {
            admin::change_password(config, &username, &password.read()?)?;
            println!("password changed for {username}");
        }
        UserCommand::GenerateAccessToken {
            username,
            token_name,
            scopes,
        } => {
            println!(
                "{}",
                admin::generate_access_token(config, &username, &token_name, &scopes)?
            );
        }
    }
    Ok(())
}
