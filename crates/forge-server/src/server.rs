//! Starting and stopping the HTTP server.

use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use std::time::Duration;

use actix_http::HttpService;
use actix_server::ServerBuilder;
use actix_service::{map_config, IntoServiceFactory, ServiceFactoryExt};
use actix_web::dev::{AppConfig, ServerHandle};
use actix_web::{web, App};
use packages_api::expect::ExpectGate;
use packages_api::{AppState, Formats, LinkSettings, Settings};
use packages_core::BlobStore;
use packages_db::{ChangeFeed, Database};

use crate::config::Config;
use crate::periodic::Periodic;
use crate::sweep::start_sweeper;

pub use crate::error::ServerError;

fn io_context(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
    let context = context.into();
    move |source| ServerError::Io { context, source }
}

/// Opens the database (running migrations) and the blob store.
pub fn open_backends(config: &Config) -> Result<(Database, Arc<dyn BlobStore>), ServerError> {
    let db = open_database(config)?;
    let store = crate::storage::open_store(config)?;
    Ok((db, store))
}

/// Connects to the configured database and applies pending migrations.
pub fn open_database(config: &Config) -> Result<Database, ServerError> {
    std::fs::create_dir_all(&config.server.data_dir).map_err(io_context(format!(
        "cannot create data directory {}",
        config.server.data_dir.display()
    )))?;
    let db = Database::connect(&config.effective_database_url(), config.database.pool_size)?;
    db.run_migrations()?;
    Ok(db)
}

/// A running server. Dropping it leaves the server running; call [`Running::stop`].
pub struct Running {
    addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<JoinHandle<std::io::Result<()>>>,
    /// Background jobs, stopped after the HTTP server so that work of the last requests
    /// (gathered download counts) is still written.
    background: Vec<Periodic>,
    /// Other instances' changes on the same PostgreSQL database, for the read cache.
    feed: Option<ChangeFeed>,
    db: Database,
}

impl Running {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's database pool; writes through it reach the server's read cache.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Stops gracefully: in-flight requests finish (or are cut after the shutdown timeout,
    /// which discards their partial uploads).
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Blocks until the server stops (on SIGTERM or SIGINT when signals are handled).
    pub fn wait(mut self) -> std::io::Result<()> {
        let result = match self.thread.take() {
            Some(t) => t.join().unwrap_or(Ok(())),
            None => Ok(()),
        };
        self.stop_background();
        result
    }

    fn shutdown(&mut self) {
        if let Some(thread) = self.thread.take() {
            // `stop` returns a future that completes once the server is down; the server's
            // own system thread drives it.
            let handle = self.handle.clone();
            let stopper = std::thread::spawn(move || {
                actix_web::rt::System::new().block_on(handle.stop(true));
            });
            let _ = stopper.join();
            let _ = thread.join();
        }
        self.stop_background();
    }

    fn stop_background(&mut self) {
        for job in self.background.drain(..) {
            job.stop();
        }
        if let Some(feed) = self.feed.take() {
            feed.stop();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The HTTP service over one connection, before its transport (TCP or TLS) is chosen.
/// Records the connection's TCP socket, under TLS too, so a stalled download can be cut.
fn record_socket<T: 'static>(io: &T, ext: &mut actix_web::dev::Extensions) {
    use actix_web::rt::net::TcpStream;
    use std::os::fd::AsRawFd;
    let io: &dyn std::any::Any = io;
    let tcp = if let Some(tcp) = io.downcast_ref::<TcpStream>() {
        tcp
    } else if let Some(tls) =
        io.downcast_ref::<actix_tls::accept::rustls_0_23::TlsStream<TcpStream>>()
    {
        ext.insert(packages_api::urls::Tls);
        tls.get_ref().0
    } else {
        return;
    };
    packages_api::idle::on_connect(tcp.as_raw_fd(), ext);
}

macro_rules! http_service {
    ($state:expr, $shutdown:expr, $local_addr:expr) => {{
        let state = $state.clone();
        let shutdown = $shutdown.clone();
        let formats = state.formats.clone();
        let app = App::new()
            .app_data(state.clone())
            .wrap(actix_web::middleware::from_fn(
                packages_api::observe::middleware,
            ))
            .configure(move |cfg| packages_api::configure(cfg, &formats))
            // After the API, so no page can shadow an API route.
            .configure(packages_web::configure)
            .default_service(actix_web::web::to(packages_web::not_found));
        HttpService::build()
            // Small responses would otherwise wait for delayed ACKs (Nagle).
            .tcp_nodelay(true)
            // Lets a stalled download's timer shut its connection down.
            .on_connect_ext(|io, ext| record_socket(io, ext))
            .client_request_timeout(Duration::from_secs(5))
            .client_disconnect_timeout(Duration::from_secs(1))
            .local_addr($local_addr)
            // Idle keep-alive connections close at once on a graceful stop.
            .graceful_shutdown_signal(move || {
                let signal = shutdown.clone();
                async move { signal.notified().await }
            })
            .expect(ExpectGate::new(state))
            .finish(map_config(
                app.into_factory()
                    .map_err(|e: actix_web::Error| e.error_response()),
                |_| AppConfig::default(),
            ))
    }};
}

/// The HTTP server: actix-web's `App` on actix-http's service, assembled here rather than by
/// `HttpServer` so that `Expect: 100-continue` goes through [`ExpectGate`]; over TLS when
/// `tls` is given.
fn build_server(
    listener: TcpListener,
    state: web::Data<AppState>,
    workers: usize,
    handle_signals: bool,
    tls: Option<rustls::ServerConfig>,
) -> std::io::Result<actix_web::dev::Server> {
    let mut builder = ServerBuilder::default()
        .workers(workers)
        .shutdown_timeout(30);
    if !handle_signals {
        builder = builder.disable_signals();
    }
    let shutdown = builder.graceful_shutdown_signal();
    let local_addr = listener.local_addr()?;
    let builder = match tls {
        None => builder.listen("forge-http", listener, move || {
            http_service!(state, shutdown, local_addr).tcp()
        })?,
        Some(config) => builder.listen("forge-https", listener, move || {
            http_service!(state, shutdown, local_addr).rustls_0_23(config.clone())
        })?,
    };
    Ok(builder.run())
}

/// Starts the server with the production formats on background threads; signals are left
/// to the caller.
pub fn start(config: Config) -> Result<Running, ServerError> {
    start_with(config, false)
}

/// Starts the server with the production formats; with `handle_signals`, SIGTERM and
/// SIGINT stop it gracefully.
pub fn start_with(config: Config, handle_signals: bool) -> Result<Running, ServerError> {
    serve(config, crate::formats::production(), handle_signals)
}

/// Starts the server with the given formats (a test harness adds its own) on background
/// threads; signals are left to the caller.
pub fn start_with_formats(config: Config, formats: Formats) -> Result<Running, ServerError> {
    serve(config, formats, false)
}

fn serve(config: Config, formats: Formats, handle_signals: bool) -> Result<Running, ServerError> {
    if let Some(t) = config
        .limits
        .size_types()
        .find(|t| formats.find(t).is_none())
    {
        return Err(ServerError::UnknownFormat(t.to_owned()));
    }
    let (db, store) = open_backends(&config)?;
    let settings = Settings {
        limits: config.limits.clone(),
        require_signin_view: config.auth.require_signin_view,
        bcrypt_cost: config.auth.bcrypt_cost,
        batch_download_counts: !config.database.download_count_flush.is_zero(),
        read_cache_ttl: config.cache.read_ttl,
        // Checked when the configuration was loaded.
        trusted_proxies: packages_service::client_addr::TrustedProxies::parse(
            &config.server.all_trusted_proxies(&config.log),
        )
        .unwrap_or_default(),
        max_concurrent_uploads: config.server.max_concurrent_uploads,
        login_limits: packages_service::limiter::LoginLimits {
            per_account: config.auth.login_failures_per_account,
            per_address: config.auth.login_failures_per_address,
            window: config.auth.login_failure_window,
        },
        root_url: Some(config.server.root_url.trim())
            .filter(|u| !u.is_empty())
            .and_then(|u| packages_service::public_url::RootUrl::parse(u).ok()),
        metrics_enabled: config.metrics.enabled,
        metrics_token: config.metrics.token.clone(),
        serve_direct: config
            .storage
            .serve_direct
            .then_some(config.storage.serve_direct_ttl),
        links: LinkSettings {
            keys: Arc::new(crate::link_keys::load(&config)?),
            max_ttl_secs: config.links.max_ttl.as_secs().max(1),
        },
        allow_replace: config.packages.allow_replace,
        idle_timeout: config.server.idle_timeout,
        resumable_expiry: config.packages.resumable_expiry,
    };
    let state = web::Data::new(
        AppState::new(db.clone(), store.clone(), settings, formats)
            .map_err(|e| ServerError::Auth(e.to_string()))?,
    );
    // The read cache hears this process's writes directly and other instances' through
    // the feed (PostgreSQL); on PostgreSQL it keeps nothing until the feed is connected.
    let feed = db
        .start_change_feed(state.cache.clone())
        .map_err(io_context("cannot start the change feed"))?;
    let downloads = state.downloads.clone();
    let metrics = state.metrics.clone();
    // The store as the handlers see it, so the sweep's operations are counted too.
    let store = state.store.clone();
    let leftover_store = store.clone();
    let state_token_uses = state.token_uses.clone();
    let leftovers = state.leftovers.clone();
    let state_db = db.clone();
    let listen = &config.server.listen;
    let listener =
        TcpListener::bind(listen).map_err(io_context(format!("cannot listen on {listen}")))?;
    let addr = listener
        .local_addr()
        .map_err(io_context("cannot read the listening address"))?;
    let workers = config.workers();
    let certificates = if config.tls.enabled() {
        Some(crate::tls::Certificates::open(
            &config.tls.cert,
            &config.tls.key,
        )?)
    } else {
        None
    };
    let tls = certificates
        .as_ref()
        .map(|c| c.server_config())
        .transpose()?;
    let reload = certificates.clone().filter(|_| handle_signals);
    let (ready_tx, ready_rx) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("forge-http".to_owned())
        .spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = build_server(listener, state, workers, handle_signals, tls)?;
                if let Some(certificates) = reload {
                    actix_web::rt::spawn(reload_on_sighup(certificates));
                }
                let _ = ready_tx.send(server.handle());
                server.await
            })
        })
        .map_err(io_context("cannot start the server thread"))?;
    let handle = ready_rx.recv().map_err(|_| ServerError::ThreadDied)?;
    let mut background = vec![start_sweeper(
        db.clone(),
        store,
        config.cleanup.blob_grace_period,
        config.cleanup.interval,
        metrics.clone(),
    )
    .map_err(io_context("cannot start the sweep"))?];
    background.push(
        crate::retention::start_rule_runner(
            db.clone(),
            config.cleanup.rules_interval,
            metrics.clone(),
        )
        .map_err(io_context("cannot start the cleanup rules job"))?,
    );
    let inventory_db = db.clone();
    background.push(
        Periodic::start(
            "forge-inventory",
            config.metrics.inventory_interval,
            true,
            false,
            move || {
                let started = std::time::Instant::now();
                match inventory_db.stored_totals() {
                    Ok(t) => metrics.set_inventory(packages_api::metrics::Inventory {
                        owners: t.owners,
                        packages: t.packages,
                        versions: t.versions,
                        files: t.files,
                        stored_bytes: t.stored_bytes,
                    }),
                    Err(e) => log::warn!("could not count stored packages: {e}"),
                }
                metrics.job_ran("inventory", started.elapsed().as_secs_f64(), 0);
            },
        )
        .map_err(io_context("cannot start the inventory job"))?,
    );
    let stats_db = db.clone();
    background.push(
        Periodic::start(
            "forge-db-stats",
            // Often enough that plans made for a tiny table do not outlive its first burst
            // of uploads for long; a look costs one catalog query when nothing grew.
            Duration::from_secs(10),
            true,
            false,
            move || {
                if let Err(e) = stats_db.optimize() {
                    log::warn!("could not refresh planner statistics: {e}");
                }
            },
        )
        .map_err(io_context("cannot start the statistics job"))?,
    );
    // Bookkeeping of the request path (download counts when batched, token uses) is
    // written here, so requests never wait for a database write of their own for it.
    let token_uses = state_token_uses;
    let flush_every = if config.database.download_count_flush.is_zero() {
        Duration::from_secs(1)
    } else {
        config.database.download_count_flush
    };
    background.push(
        Periodic::start("forge-bookkeeping", flush_every, false, true, move || {
            if let Err(e) = downloads.flush(&db) {
                log::warn!("could not write download counts: {e}");
            }
            if let Err(e) = token_uses.flush(&db) {
                log::warn!("could not record token uses: {e}");
            }
            leftovers.retry(&*leftover_store, &db);
        })
        .map_err(io_context("cannot start the bookkeeping job"))?,
    );
    let scheme = if certificates.is_some() {
        "https"
    } else {
        "http"
    };
    log::info!("listening on {scheme}://{addr}");
    Ok(Running {
        addr,
        handle,
        thread: Some(thread),
        background,
        feed,
        db: state_db,
    })
}

/// Reloads the certificate on every SIGHUP; a failed reload keeps the one in use.
async fn reload_on_sighup(certificates: std::sync::Arc<crate::tls::Certificates>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            log::warn!("cannot watch for SIGHUP, certificates will not be reloaded: {e}");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        match certificates.reload() {
            Ok(()) => log::info!("TLS certificate reloaded"),
            Err(e) => log::error!("TLS certificate not reloaded, the previous one stays: {e}"),
        }
    }
}
