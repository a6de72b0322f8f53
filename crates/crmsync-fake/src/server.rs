//! The lifecycle every fake server shares: an axum router served on a bound listener until a
//! graceful shutdown, with `wait` for the CLI and `shutdown` for tests.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running fake server.
#[derive(Debug)]
pub(crate) struct Server {
    /// The bound address.
    addr: SocketAddr,
    /// Dropping (or sending on) this starts graceful shutdown of every connection.
    shutdown: Option<oneshot::Sender<()>>,
    /// The accept loop.
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `app` on `listener` in a task; `name` is for the log.
    pub(crate) fn spawn(
        listener: tokio::net::TcpListener,
        app: axum::Router,
        name: &'static str,
    ) -> std::io::Result<Server> {
        let addr = listener.local_addr()?;
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let signal = async move {
                // Either an explicit send or the sender being dropped ends the server.
                let _ = shutdown_rx.await;
            };
            if let Err(err) = axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await
            {
                tracing::warn!(error = %err, "{name} server stopped with an error");
            }
        });
        tracing::debug!(%addr, "{name} listening");
        Ok(Server {
            addr,
            shutdown: Some(shutdown_tx),
            task: Some(task),
        })
    }

    /// The bound address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until the server task ends (for a CLI that selects this against ctrl-c).
    pub(crate) async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Stops accepting, lets in-flight requests finish (up to 5 s), then returns.
    pub(crate) async fn shutdown(mut self) {
        self.shutdown.take();
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Dropping the sender starts graceful shutdown of open connections too; aborting the
        // accept loop alone would leave keep-alive connections being served.
        self.shutdown.take();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
