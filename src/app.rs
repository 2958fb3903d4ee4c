//! Application assembly: state, router, middleware, serving. Used by the
//! CLI (`serve`, `demo`), the integration tests and the benches alike.

use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::store::pool::PoolOptions;
use crate::store::Db;
use crate::web::session::SessionBackend;
use crate::web::templates::Templates;
use crate::web::{admin_api, auth, console, ops, session};

pub struct Shared {
    pub db: Db,
    pub config: Config,
    pub templates: Templates,
    pub metrics: PrometheusHandle,
    /// OIDC discovery documents and keys, per issuer.
    pub providers: crate::oidc::provider::Providers,
}

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The process-wide metrics recorder: installed once, shared by every App in
/// the process (tests run many).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first, in which
            // case our handle renders an empty registry rather than crash.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("database {url}: {source}")]
    Database { url: String, source: crate::store::Error },
    #[error("session store: {0}")]
    Sessions(String),
}

pub struct App {
    state: AppState,
    sessions: SessionBackend,
}

impl App {
    /// Connects to the database, applies migrations, prepares the session store.
    pub async fn build(config: Config) -> Result<App, BuildError> {
        App::build_with(config, PoolOptions::default()).await
    }

    pub async fn build_with(config: Config, opts: PoolOptions) -> Result<App, BuildError> {
        let db_err = |source| BuildError::Database {
            url: crate::store::pool::redact_url(&config.database_url),
            source,
        };
        let db = Db::connect(&config.database_url, &opts).await.map_err(db_err)?;
        db.migrate().await.map_err(db_err)?;
        let sessions = SessionBackend::for_db(&db, opts.pg_schema.as_deref()).map_err(BuildError::Sessions)?;
        sessions
            .migrate()
            .await
            .map_err(|e| BuildError::Sessions(e.to_string()))?;
        if config.session_secret.is_none() {
            tracing::warn!("no session_secret configured: cookies are signed with a random per-process key, so sessions end at restart and are not shared between instances");
        }
        let state = AppState(Arc::new(Shared {
            db,
            templates: Templates::new(),
            metrics: metrics_handle(),
            providers: crate::oidc::provider::Providers::new(Duration::from_secs(
                config.oidc_jwks_refetch_seconds.unsigned_abs(),
            )),
            config,
        }));
        Ok(App { state, sessions })
    }

    pub fn db(&self) -> &Db {
        &self.state.db
    }

    pub fn config(&self) -> &Config {
        &self.state.config
    }

    pub fn router(&self) -> Router {
        let pages = Router::new()
            .route("/o/{org}/", get(auth::home))
            .route("/o/{org}/login", get(auth::login_page).post(auth::login_submit))
            .route("/o/{org}/logout", post(auth::logout))
            .route(
                "/o/{org}/recover/{token}",
                get(auth::recover_page).post(auth::recover_submit),
            )
            .route("/o/{org}/sso/{connection}/login", get(crate::web::sso::login))
            .route("/oidc/{connection}/callback", get(crate::oidc::routes::callback))
            .route("/oidc/{connection}/certificate", get(crate::oidc::routes::certificate))
            .route("/saml/{connection}/metadata", get(crate::saml::routes::metadata))
            .route(
                "/saml/{connection}/acs",
                // Room above the ACS's own 192 KiB cap, so an oversize
                // response is refused with a login event, not a bare 413.
                post(crate::saml::routes::acs).layer(DefaultBodyLimit::max(512 * 1024)),
            )
            .route("/saml/{connection}/slo", get(crate::saml::routes::slo))
            .route("/o/{org}/admin", get(console::page))
            .route("/o/{org}/admin/settings", post(console::save_settings))
            .merge(admin_api::routes())
            .layer(session::layer(self.sessions.clone(), &self.state.config));
        Router::new()
            .merge(pages)
            .route("/healthz", get(ops::healthz))
            .route("/readyz", get(ops::readyz))
            .route("/metrics", get(ops::metrics))
            .layer(DefaultBodyLimit::max(256 * 1024))
            .layer(axum::middleware::from_fn(ops::track))
            .layer(TraceLayer::new_for_http())
            .with_state(self.state.clone())
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = self.router();
        let sessions = self.sessions.clone();
        let db = self.state.db.clone();
        let cleanup = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(600));
            loop {
                every.tick().await;
                if let Err(e) = sessions.delete_expired().await {
                    tracing::warn!(error = %e, "expired-session cleanup failed");
                }
                if let Err(e) = db.sweep_saml_state(crate::clock::now()).await {
                    tracing::warn!(error = %e, "expired AuthnRequest cleanup failed");
                }
            }
        });
        let db = self.state.db.clone();
        let refresh_every =
            Duration::from_secs(u64::try_from(self.state.config.metadata_refresh_minutes).unwrap_or(720) * 60);
        let metadata = tokio::spawn(async move {
            let mut every = tokio::time::interval(refresh_every);
            every.tick().await; // the first tick is immediate; connections were just saved
            loop {
                every.tick().await;
                match crate::saml::setup::refresh_all_metadata(&db, crate::clock::now()).await {
                    Ok(n) => tracing::info!(refreshed = n, "SAML metadata refresh"),
                    Err(e) => tracing::warn!(error = %e, "SAML metadata refresh failed"),
                }
            }
        });
        let result = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await;
        cleanup.abort();
        metadata.abort();
        self.state.db.close().await;
        result
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
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
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
