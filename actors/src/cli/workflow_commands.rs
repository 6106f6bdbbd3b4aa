//! Workflow commands: `flowgate run NAME --param k=v` and `flowgate workflows
//! list|show|apply|run`, locally (on the database's saved workflows and the `discover`
//! directories, run on a `Store`) or against a server (`--server`, through its workflow routes),
//! with the same output either way.

use super::args::{ClientArgs, RunArgs, WorkflowsAction};
use super::backend::Backend;
use super::input::read_json_arg;
use super::output::{self, Failure};
use serde_json::{Map, Value};
use std::process::ExitCode;

/// The inputs of `--inputs` and `--param`.
fn inputs_of(args: &RunArgs) -> Result<Value, Failure> {
    let mut inputs = match &args.inputs {
        None => Map::new(),
        Some(text) => match read_json_arg(text)? {
            Value::Object(m) => m,
            other => {
                return Err(Failure::usage(format!(
                    "--inputs takes a JSON object, got {}",
                    flowgate::value::kind_of(&other)
                )));
            }
        },
    };
    for p in &args.params {
        let Some((key, raw)) = p.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(Failure::usage(format!(
                "--param takes KEY=VALUE, got {p:?}"
            )));
        };
        let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
        inputs.insert(key.to_string(), value);
    }
    Ok(Value::Object(inputs))
}

/// Prints a result, or fails with its error object.
fn finish(result: Result<Value, Failure>, format: output::Format) -> ExitCode {
    match result {
        Ok(v) => {
            output::print(&v, format);
            ExitCode::SUCCESS
        }
        Err(f) => output::fail(&f, format),
    }
}

/// `flowgate run NAME`.
pub(crate) async fn run(args: RunArgs) -> ExitCode {
    let format = args.client.output.format();
    let result = async {
        let inputs = inputs_of(&args)?;
        let backend = Backend::open(&args.client, true).await?;
        let out = if args.background {
            backend.start_workflow(&args.name, inputs).await
        } else {
            backend.run_workflow(&args.name, inputs).await
        };
        backend.close().await;
        out
    }
    .await;
    finish(result, format)
}

/// What `flowgate workflows ...` does, its file read.
enum Job {
    List,
    Show(String),
    Apply(flowgate::workflow::Workflow),
    Run(String, String),
}

/// `flowgate workflows ...`.
pub(crate) async fn workflows(action: WorkflowsAction, client: ClientArgs) -> ExitCode {
    let format = client.output.format();
    let result = async {
        // The file is read before anything opens: its errors name the file and the key.
        let job = match action {
            WorkflowsAction::List => Job::List,
            WorkflowsAction::Show { name } => Job::Show(name),
            WorkflowsAction::Apply { file } => Job::Apply(flowgate::workflow::load(&file)?),
            WorkflowsAction::Run { name, run_id } => Job::Run(name, run_id),
        };
        let backend = Backend::open(&client, matches!(job, Job::Apply(_))).await?;
        let out = match &job {
            Job::List => backend.workflows().await,
            Job::Show(name) => backend.workflow(name).await,
            Job::Apply(wf) => backend.apply_workflow(wf).await,
            Job::Run(name, run_id) => backend.workflow_run(name, run_id).await,
        };
        backend.close().await;
        out
    }
    .await;
    finish(result, format)
}
