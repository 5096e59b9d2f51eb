//! Where a provider's local sandbox runs: on loopback, either on a thread and runtime of
//! its own (tests: usable from any thread, runtime or none, and it outlives its caller's
//! runtime) or on the current tokio runtime (`bank serve`). The provider builds its server
//! (its routes, its state) from the bound listener; this module owns the thread, the
//! runtime and the stop signal, the same for every provider.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

/// A sandbox's server: runs until its stop signal.
pub type Serve = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The stop signal a server listens to (resolves when the sandbox is stopped or dropped).
pub type StopSignal = tokio::sync::oneshot::Receiver<()>;

/// How a provider builds its server on the bound listener, inside the runtime that will
/// run it: its own handle (state shared with tests) and the server.
pub type Build<T> =
    Box<dyn FnOnce(std::net::TcpListener, StopSignal) -> Result<(T, Serve), String> + Send>;

/// A running sandbox server: its address, and what stops it (when dropped too).
#[derive(Debug)]
pub struct Hosted {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Hosted {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Hosted {
    /// The address it listens on (127.0.0.1, an ephemeral port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and waits for its thread, when it has one.
    pub fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn bind() -> Result<(std::net::TcpListener, SocketAddr), String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
    l.set_nonblocking(true).map_err(|e| e.to_string())?;
    let addr = l.local_addr().map_err(|e| e.to_string())?;
    Ok((l, addr))
}

/// Runs the server `build` makes on a thread `name` with a runtime of its own; returns
/// once it listens.
///
/// # Errors
/// In words, when it cannot listen, the thread or runtime cannot start, or `build` fails.
pub fn on_own_thread<T: Send + 'static>(
    name: &str,
    build: Build<T>,
) -> Result<(T, Hosted), String> {
    let (listener, addr) = bind()?;
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    return;
                }
            };
            rt.block_on(async move {
                match build(listener, stop_rx) {
                    Ok((handle, server)) => {
                        let _ = tx.send(Ok(handle));
                        server.await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        })
        .map_err(|e| e.to_string())?;
    let handle = rx.recv().map_err(|e| e.to_string())??;
    Ok((
        handle,
        Hosted {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        },
    ))
}

/// Runs the server `build` makes on the current tokio runtime; returns once it listens.
///
/// # Errors
/// In words, outside a runtime, when it cannot listen, or when `build` fails.
pub fn on_current_runtime<T>(build: Build<T>) -> Result<(T, Hosted), String> {
    let rt = tokio::runtime::Handle::try_current().map_err(|e| e.to_string())?;
    let (listener, addr) = bind()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let _guard = rt.enter();
    let (handle, server) = build(listener, stop_rx)?;
    rt.spawn(server);
    Ok((
        handle,
        Hosted {
            addr,
            stop: Some(stop_tx),
            thread: None,
        },
    ))
}
