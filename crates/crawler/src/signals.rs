//! Signals: SIGINT and SIGTERM start a graceful drain; a second one exits
//! at once (an operator who presses Ctrl-C twice means it).

use tokio_util::sync::CancellationToken;

pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::warn!("signal received: finishing the work in flight (again to exit at once)");
        eprintln!("\nstopping: finishing the work in flight (press Ctrl-C again to exit at once)");
        token.cancel();
        wait_for_signal().await;
        eprintln!("exiting without draining");
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("cannot install the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
