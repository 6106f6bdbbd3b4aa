//! `flowgate serve`: the server until a signal, or until no model can be served.

use super::args::ServerArgs;
use std::process::ExitCode;

pub(crate) async fn serve(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let handle = args.supervisor().start().await?;
    eprintln!(
        "flowgate listening http={} mcp={}",
        handle.http_addr(),
        handle.mcp_addr()
    );
    let code = tokio::select! {
        _ = shutdown_signal() => ExitCode::SUCCESS,
        reasons = nothing_serves(handle.board()) => {
            eprintln!("flowgate: no model can be served:");
            for line in reasons {
                eprintln!("  {line}");
            }
            ExitCode::FAILURE
        }
    };
    tracing::info!("shutting down");
    handle.shutdown().await;
    Ok(code)
}

/// Resolves when the migrations are done and every model failed (a configuration error: a
/// reference to a model that does not exist, a refused migration), with each model's reason; a
/// server that can serve nothing exits rather than answer 503 forever. A database that cannot
/// be reached is not such an error: the server keeps retrying.
async fn nothing_serves(board: &crate::readiness::Board) -> Vec<String> {
    use crate::readiness::{Feature, Look, State};
    let failed = board
        .wait_for(None, |board| {
            let features = board.features();
            let mut models = features
                .iter()
                .filter(|(f, _)| matches!(f, Feature::Model(_)))
                .peekable();
            let all_failed =
                models.peek().is_some() && models.all(|(_, s)| matches!(s, State::Failed(_)));
            let migrations = features.iter().find(|(f, _)| *f == Feature::Migrations);
            let done = match migrations.map(|(_, s)| s) {
                Some(State::Failed(_)) => true,
                Some(State::Ready) => all_failed,
                _ => false,
            };
            if !done {
                return Look::Wait(());
            }
            Look::<_, ()>::Ready(
                features
                    .iter()
                    .filter_map(|(f, s)| match s {
                        State::Failed(reason) => Some(format!("{f}: {reason}")),
                        _ => None,
                    })
                    .collect(),
            )
        })
        .await;
    match failed {
        Ok(reasons) => reasons,
        Err(()) => std::future::pending().await,
    }
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
