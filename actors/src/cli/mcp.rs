//! `flowgate mcp --stdio`: the MCP server on standard input and output, for desktop MCP clients
//! that start the server as a child process.
//!
//! It runs the same supervisor as `serve` (same options), so the REST API and streamable HTTP
//! MCP listen too; their ports default to 0 (free ports) here unless given on the command line,
//! so that several clients can each start their own server. Standard output carries only MCP
//! messages; logs and the listening line go to standard error.

use super::{ServerArgs, shutdown_signal};
use rmcp::ServiceExt;
use std::process::ExitCode;

pub(super) async fn stdio(stdio: bool, args: ServerArgs) -> anyhow::Result<ExitCode> {
    if !stdio {
        anyhow::bail!(
            "`flowgate mcp` needs --stdio; streamable HTTP MCP is served by `flowgate serve` at /mcp"
        );
    }
    let mut sup = args.supervisor();
    if args.http_port.is_none() {
        sup = sup.http_port(0);
    }
    if args.mcp_port.is_none() {
        sup = sup.mcp_port(0);
    }
    let handle = sup.start().await?;
    eprintln!(
        "flowgate listening http={} mcp=stdio (and {})",
        handle.http_addr(),
        handle.mcp_addr()
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
