//! The control core as rvsd runs it: the control socket, the Prometheus endpoint, SIGHUP
//! reloads, the health and announcement ticks and the rate estimator, and VRRP on its
//! own thread ([`crate::ha_thread`]). The runtime starts it with a [`Control`] (whose
//! port listings it supplies) and ticks it from its main thread.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::metrics::{http, render};

use crate::ha_thread::HaThread;
use crate::server::{self, Server, ServerError};
use crate::stopping::StopLog;
use crate::Control;

/// How long the workers keep forwarding after the announced routes were withdrawn, so
/// the routing daemon's withdrawal reaches its peers through them.
const WITHDRAW_GRACE: Duration = Duration::from_millis(500);

/// Seconds between rate estimator runs (IPVS's 2-second estimator).
const ESTIMATOR_PERIOD: Duration = Duration::from_secs(2);
/// How often the neighbour failures and the ports' links are looked at.
const WATCH_PERIOD: Duration = Duration::from_secs(1);

/// How long a stopping director waits for its priority-0 advert to leave.
const HA_GRACE: std::time::Duration = std::time::Duration::from_millis(20);

/// What [`ControlCore::stop`] keeps of its deadline for closing the socket and the
/// metrics endpoint.
const CLOSE_RESERVE: Duration = Duration::from_millis(100);

/// Why the control core could not start. Every variant says what the operator can do.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The Prometheus endpoint could not be opened.
    #[error("metrics endpoint {addr} ([ctl] metrics): {source}")]
    Metrics {
        /// The configured address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The control socket could not be opened.
    #[error(transparent)]
    Socket(#[from] ServerError),
    /// The SIGHUP handler could not be installed.
    #[error("installing the SIGHUP handler: {0}")]
    Sighup(std::io::Error),
    /// The VRRP thread could not be started.
    #[error("starting the VRRP thread: {0}")]
    HaThread(std::io::Error),
}

/// The running control core.
pub struct ControlCore {
    control: Arc<Mutex<Control>>,
    server: Server,
    metrics_server: JoinHandle<()>,
    server_stop: Arc<AtomicBool>,
    hup: Arc<AtomicBool>,
    next_estimate: Instant,
    next_watch: Instant,
    ha: Option<HaThread>,
}

impl ControlCore {
    /// Serve `control` on `socket` and Prometheus metrics on `metrics`; SIGHUP reloads
    /// the configuration file.
    pub fn start(control: Control, socket: &Path, metrics: SocketAddr) -> Result<Self, StartError> {
        let hup = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hup))
            .map_err(StartError::Sighup)?;
        let metrics_err = |source| StartError::Metrics {
            addr: metrics,
            source,
        };
        let listener = TcpListener::bind(metrics).map_err(metrics_err)?;
        let ha = control
            .ha_runner()
            .map(|(runner, running)| HaThread::spawn(runner, running))
            .transpose()
            .map_err(StartError::HaThread)?;
        let control = Arc::new(Mutex::new(control));
        let server_stop = Arc::new(AtomicBool::new(false));
        let server = server::spawn(socket, Arc::clone(&control))?;
        let source = Arc::clone(&control);
        let text: http::Source = Arc::new(move || {
            let input = source
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .metrics_input();
            render(&input)
        });
        let metrics_server =
            http::spawn(listener, text, Arc::clone(&server_stop)).map_err(metrics_err)?;
        crate::info!(
            "control socket {}, metrics http://{metrics}/metrics",
            socket.display()
        );
        Ok(Self {
            control,
            server,
            metrics_server,
            server_stop,
            hup,
            next_estimate: Instant::now() + ESTIMATOR_PERIOD,
            next_watch: Instant::now() + WATCH_PERIOD,
            ha,
        })
    }

    /// Called every control poll: SIGHUP reloads, health check results, the
    /// announcements, the estimator every 2 seconds. (VRRP runs on its own thread.)
    pub fn tick(&mut self) {
        self.lock().tick_health();
        self.lock().tick_announce();
        if self.hup.swap(false, Ordering::SeqCst) {
            let mut control = self.lock();
            let file = control.config_file().to_path_buf();
            // An applied reload logs what it changed.
            if let Err(e) = control.reload(&file, crate::ReloadHow::default()) {
                crate::warn!("SIGHUP: reload refused: {e}");
            }
        }
        if Instant::now() >= self.next_estimate {
            self.next_estimate += ESTIMATOR_PERIOD;
            self.lock().tick_estimator();
            self.lock().retire_ids();
        }
        if Instant::now() >= self.next_watch {
            self.next_watch = Instant::now() + WATCH_PERIOD;
            self.lock().tick_watch();
        }
    }

    /// Stop VRRP (a master sends its priority-0 advert), withdraw the announced routes
    /// (a failed withdrawal is retried until `WITHDRAW_GRACE` and `CLOSE_RESERVE`
    /// before `deadline`, so that it still leaves through the workers), then stop
    /// serving the socket (removing it) and the metrics endpoint; each step goes in
    /// `log`, so that a bound over the stop can name the one that hangs. Returns what
    /// could not be done (a withdrawal the routing daemon did not confirm).
    pub fn stop(mut self, log: &StopLog, deadline: Instant) -> Vec<String> {
        if let Some(ha) = self.ha.take() {
            log.step("leaving VRRP (the priority-0 advert)", || ha.stop());
            // The priority-0 advert leaves through worker 0 at its next tick.
            std::thread::sleep(HA_GRACE);
        }
        let withdraw_by = deadline
            .checked_sub(WITHDRAW_GRACE + CLOSE_RESERVE)
            .unwrap_or_else(Instant::now);
        let (withdrew, failed) = {
            let mut control = log.step("taking the control lock from a request under way", || {
                self.lock()
            });
            log.step(
                "withdrawing the announced routes ([announce] reload)",
                || control.shutdown(withdraw_by),
            )
        };
        if withdrew {
            // The workers still run: give the routing daemon time to send the withdrawal.
            std::thread::sleep(WITHDRAW_GRACE);
        }
        self.server_stop.store(true, Ordering::SeqCst);
        log.step("closing the control socket", || self.server.stop());
        log.step("closing the metrics endpoint", || {
            let _ = self.metrics_server.join();
        });
        failed
            .into_iter()
            .map(|e| format!("withdrawing the announced routes: {e}"))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
