//! `flowgate mcp --stdio`: the MCP server on standard input and output, for desktop MCP clients
//! that start the server as a child process.
//!
//! It runs the same supervisor as `serve` (same options) but opens no network listener unless
//! asked: the REST API listens only with `--http-port`, streamable HTTP MCP only with
//! `--mcp-port` (a client that starts the server for itself has no use for ports, and several
//! clients can each start their own). The port variables and the config file do not open them,
//! so that a `FLOWGATE_HTTP_PORT` meant for `serve` does not make every desktop client's server
//! bind it. Standard output carries only MCP messages; logs and the listening line go to
//! standard error.

use super::args::ServerArgs;
use super::serve::shutdown_signal;
use rmcp::ServiceExt;
use std::process::ExitCode;

pub(super) async fn stdio(stdio: bool, args: ServerArgs) -> anyhow::Result<ExitCode> {
    if !stdio {
        anyhow::bail!(
            "`flowgate mcp` needs --stdio; streamable HTTP MCP is served by `flowgate serve` at /mcp"
        );
    }
    let handle = args
        .supervisor()
        .listeners(args.http_port.is_some(), args.mcp_port.is_some())
        .start()
        .await?;
    let addr = |a: Option<std::net::SocketAddr>| a.map_or("none".to_string(), |a| a.to_string());
    eprintln!(
        "flowgate listening http={} mcp=stdio streamable-http={}",
        addr(handle.http_listener()),
        addr(handle.mcp_listener())
    );
    let server = handle.mcp().session();
    let outcome = tokio::select! {
        served = async {
            let running = server.serve(rmcp::transport::stdio()).await?;
            running.waiting().await?;
            tracing::info!("the MCP client closed standard input");
            anyhow::Ok(())
        } => served,
        _ = shutdown_signal() => Ok(()),
    };
    tracing::info!("shutting down");
    handle.shutdown().await;
    outcome.map(|()| ExitCode::SUCCESS)
}
