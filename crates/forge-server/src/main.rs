//! `forge-server`: the registry server and its admin command line.

use std::process::ExitCode;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use forge_server::config::{self, Loaded};
use forge_server::password_input::PasswordArgs;
use forge_server::{admin, sweep, Config};
use packages_core::Visibility;
use packages_db::CleanupRule;
use packages_service::cleanup_rules::{Removal, RuleInput};

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
    /// Manage package cleanup rules (one per owner and package type) and apply them.
    CleanupRules {
        #[command(subcommand)]
        command: RulesCommand,
    },
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
enum RulesCommand {
    /// List an owner's rules.
    List {
        #[arg(long)]
        owner: String,
    },
    /// Add a rule for an owner's packages of one type.
    Add {
        #[arg(long)]
        owner: String,
        /// Package type, e.g. generic
        #[arg(long = "type")]
        package_type: String,
        #[command(flatten)]
        fields: RuleArgs,
    },
    /// Change the given fields of a rule.
    Edit {
        #[arg(long)]
        id: i64,
        /// Package type, e.g. generic
        #[arg(long = "type")]
        package_type: Option<String>,
        #[command(flatten)]
        fields: RuleArgs,
    },
    /// Delete a rule.
    Remove {
        #[arg(long)]
        id: i64,
    },
    /// List the versions a rule would remove now (nothing is changed).
    Preview {
        #[arg(long)]
        id: i64,
    },
    /// Apply one rule now (enabled or not), or without --id every enabled rule, as the
    /// background job does. Removed versions' content is freed by the next sweep.
    Run {
        #[arg(long)]
        id: Option<i64>,
    },
}

/// The settings of a rule; those left out keep their value (a new rule's defaults: disabled,
/// 0, empty).
#[derive(Args)]
struct RuleArgs {
    #[arg(long, value_name = "true|false")]
    enabled: Option<bool>,
    /// Versions of each package always kept, newest first.
    #[arg(long)]
    keep_count: Option<i32>,
    /// Versions matching this regular expression are kept.
    #[arg(long)]
    keep_pattern: Option<String>,
    /// Only versions older than this many days are removed (0: any age).
    #[arg(long)]
    remove_days: Option<i32>,
    /// Only versions matching this regular expression are removed (empty: all).
    #[arg(long)]
    remove_pattern: Option<String>,
    /// Match the patterns against "package/version" instead of the version.
    #[arg(long, value_name = "true|false")]
    match_full_name: Option<bool>,
}

impl RuleArgs {
    fn input(self, package_type: Option<String>) -> RuleInput {
        RuleInput {
            enabled: self.enabled,
            package_type,
            keep_count: self.keep_count,
            keep_pattern: self.keep_pattern,
            remove_days: self.remove_days,
            remove_pattern: self.remove_pattern,
            match_full_name: self.match_full_name,
        }
    }
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
            AdminCommand::CleanupRules { command } => run_rules(command, &config)?,
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

fn print_rule(rule: &CleanupRule) {
    println!(
        "{:<6} {:<10} {:<8} {:<10} {:<20} {:<11} {:<20} {}",
        rule.id,
        rule.package_type,
        rule.enabled,
        rule.keep_count,
        rule.keep_pattern,
        rule.remove_days,
        rule.remove_pattern,
        rule.match_full_name
    );
}

fn print_rule_header() {
    println!(
        "{:<6} {:<10} {:<8} {:<10} {:<20} {:<11} {:<20} FULL_NAME",
        "ID", "TYPE", "ENABLED", "KEEP_COUNT", "KEEP_PATTERN", "REMOVE_DAYS", "REMOVE_PATTERN"
    );
}

fn print_removals(removals: &[Removal]) {
    for r in removals {
        println!(
            "{} {} {} (created {})",
            r.package_type,
            r.package,
            r.version,
            packages_core::clock::rfc3339(r.created_unix)
        );
    }
}

fn run_rules(command: RulesCommand, config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        RulesCommand::List { owner } => {
            print_rule_header();
            for rule in admin::cleanup_rules(config, &owner)? {
                print_rule(&rule);
            }
        }
        RulesCommand::Add {
            owner,
            package_type,
            fields,
        } => {
            let rule = admin::add_cleanup_rule(config, &owner, fields.input(Some(package_type)))?;
            println!("added cleanup rule {}", rule.id);
            print_rule_header();
            print_rule(&rule);
        }
        RulesCommand::Edit {
            id,
            package_type,
            fields,
        } => {
            let rule = admin::edit_cleanup_rule(config, id, fields.input(package_type))?;
            print_rule_header();
            print_rule(&rule);
        }
        RulesCommand::Remove { id } => {
            admin::remove_cleanup_rule(config, id)?;
            println!("removed cleanup rule {id}");
        }
        RulesCommand::Preview { id } => {
            let removals = admin::preview_cleanup_rule(config, id)?;
            print_removals(&removals);
            println!("would remove {} versions", removals.len());
        }
        RulesCommand::Run { id } => {
            let report = admin::run_cleanup_rules(config, id)?;
            print_removals(&report.removed);
            println!(
                "applied {} rules, removed {} versions",
                report.rules,
                report.removed.len()
            );
            if !report.failed.is_empty() {
                for (id, reason) in &report.failed {
                    eprintln!("rule {id} failed: {reason}");
                }
                return Err(format!("{} rules failed", report.failed.len()).into());
            }
        }
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
