//! The registry actor's part in workflows: it reads the `discover` directories (before it
//! connects), and once the models are served it opens the run store (`flowgate_runs`) and the
//! saved workflows (`flowgate_workflows`), then checks every workflow it knows against the served
//! models and serves it, or fails it on the board with the reason (`workflow:<name>`).
//!
//! Where workflows come from, later ones winning by name: those saved in `flowgate_workflows`
//! (by any application on the database, or by `flowgate workflows apply`), then those declared
//! on the supervisor builder or found in `discover` directories (a name declared twice fails),
//! then those registered at run time. With model persistence, every workflow that serves is
//! saved, so the next start of any server on the database serves it too.

use super::{RegistryState, backoff_retry};
use crate::discover;
use crate::readiness::{Board, Feature, State};
use crate::routes::Routes;
use crate::workflows::Served;
use flowgate::workflow::{RunStore, Workflow, WorkflowRegistry};
use flowgate::{Error, ModelDef, OpKind, Schema};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A workflow the registry knows: where it came from, and the workflow or why there is none.
#[derive(Debug, Clone)]
struct Candidate {
    source: String,
    workflow: Result<Workflow, String>,
}

/// The registry's workflow state.
#[derive(Default)]
pub(crate) struct WorkflowState {
    /// Every workflow known by name, served or failed.
    candidates: BTreeMap<String, Candidate>,
    /// Workflow files found in the `discover` directories.
    discovered: Vec<discover::WorkflowFile>,
    scanned: bool,
    saved: Option<WorkflowRegistry>,
}

/// Reads the `discover` directories once: their models join the declared ones, their workflows
/// wait for the models. A schema file that does not read fails the `discover` feature.
pub(super) fn discover(state: &mut RegistryState) {
    if state.wf.scanned {
        return;
    }
    state.wf.scanned = true;
    let dirs = state.args.config.discover.clone();
    if dirs.is_empty() {
        return;
    }
    let board = state.args.board.clone();
    board.set(&Feature::Discover, State::Starting(None));
    let scan = discover::scan(&dirs);
    let mut errors = scan.model_errors();
    for def in scan.model_defs() {
        if state.args.declared.iter().any(|d| d.name == def.name) {
            errors.push(format!(
                "model {} is declared more than once; the one found in a `discover` directory is left out",
                def.name
            ));
            continue;
        }
        board.register(&Feature::model(def.name.clone()), true);
        state.args.routes.declare(&def.name, &def.table_name());
        state.args.declared.push(def);
    }
    for file in &scan.workflows {
        board.register(&Feature::workflow(file.name.clone()), true);
    }
    state.wf.discovered = scan.workflows;
    if errors.is_empty() {
        board.set(&Feature::Discover, State::Ready);
    } else {
        board.set(&Feature::Discover, State::Failed(errors.join("; ")));
    }
}

/// Once the models are served: opens the run store and the saved workflows, gathers every
/// workflow, checks and serves each, and saves those declared here.
pub(super) async fn start(state: &mut RegistryState) -> flowgate::Result<()> {
    let board = state.args.board.clone();
    let Some(store) = state.store.clone() else {
        return Ok(());
    };
    board.set(&Feature::Workflows, State::Starting(None));
    let table = state.args.workflows.clone();
    if table.runs().is_none() {
        table.set_runs(RunStore::open(&store).await?);
    }
    let mut saved = Vec::new();
    if state.args.config.model_persistence {
        if state.wf.saved.is_none() {
            state.wf.saved = Some(WorkflowRegistry::open(&store).await?);
        }
        if let Some(registry) = &state.wf.saved {
            saved = registry.load().await?;
        }
    }

    // What is served already (registered at run time before a restart of this actor) ...
    let mut candidates: BTreeMap<String, Candidate> = table
        .served()
        .iter()
        .map(|s| {
            let c = Candidate {
                source: s.source.clone(),
                workflow: Ok(s.workflow.clone()),
            };
            (s.name().to_string(), c)
        })
        .collect();
    // ... then the saved ones ...
    let saved_defs: BTreeMap<String, Workflow> = saved
        .iter()
        .filter_map(|s| Some((s.name.clone(), s.workflow.clone().ok()?)))
        .collect();
    for s in saved {
        board.register(&Feature::workflow(s.name.clone()), true);
        let workflow = s.workflow.map_err(|e| crate::workflows::reason_of(&e));
        candidates.insert(
            s.name,
            Candidate {
                source: "flowgate_workflows".into(),
                workflow,
            },
        );
    }
    // ... then those declared on the builder or found in files, each name once.
    let mut declared: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    for (wf, source) in &state.args.declared_workflows {
        declared
            .entry(wf.name().to_string())
            .or_default()
            .push(Candidate {
                source: source.clone(),
                workflow: Ok(wf.clone()),
            });
    }
    for file in &state.wf.discovered {
        declared
            .entry(file.name.clone())
            .or_default()
            .push(Candidate {
                source: file.path.display().to_string(),
                workflow: file
                    .workflow
                    .clone()
                    .map_err(|e| crate::workflows::reason_of(&e)),
            });
    }
    let mut to_save = Vec::new();
    for (name, mut found) in declared {
        let c = if found.len() == 1 {
            let c = found.remove(0);
            if let Ok(wf) = &c.workflow {
                to_save.push(wf.clone());
            }
            c
        } else {
            let sources: Vec<String> = found.iter().map(|c| c.source.clone()).collect();
            Candidate {
                source: sources.join(", "),
                workflow: Err(crate::workflows::declared_twice(&name, &sources)),
            }
        };
        candidates.insert(name, c);
    }
    state.wf.candidates = candidates;
    refresh(state);

    // Save the declared workflows that serve, so that every server on the database has them.
    if let Some(registry) = state.wf.saved.clone() {
        for wf in to_save {
            let serves = state.args.workflows.get(wf.name()).is_some();
            if serves && saved_defs.get(wf.name()) != Some(&wf) {
                registry.save(&wf).await?;
            }
        }
    }
    board.set(&Feature::Workflows, State::Ready);
    Ok(())
}

/// Runs [`start`]; a database that cannot be reached is tried again later, any other failure
/// fails the `workflows` feature.
pub(super) async fn start_or_retry(
    myself: &ractor::ActorRef<super::RegistryMsg>,
    state: &mut RegistryState,
) {
    match start(state).await {
        Ok(()) => {}
        Err(Error::Unavailable(reason)) => {
            backoff_retry(myself, state, &Feature::Workflows, &reason)
        }
        Err(e) => state
            .args
            .board
            .set(&Feature::Workflows, State::Failed(e.public_message())),
    }
}

/// Checks every known workflow against the models served now, and serves it or fails it on the
/// board. A workflow that serves already, unchanged, is left as it is (no `list_changed`).
pub(super) fn refresh(state: &mut RegistryState) {
    let Some(store) = state.store.clone() else {
        return;
    };
    let schema = store.schema();
    let table = state.args.workflows.clone();
    let board = &state.args.board;
    for (name, c) in &state.wf.candidates {
        let feature = Feature::workflow(name.clone());
        let checked = match &c.workflow {
            Err(reason) => Err(reason.clone()),
            Ok(wf) => verify(&state.args.routes, board, &schema, wf)
                .map(|()| wf)
                .map_err(|e| crate::workflows::reason_of(&e)),
        };
        match checked {
            Ok(wf) => {
                let unchanged = table.get(name).is_some_and(|s| {
                    s.workflow == *wf && s.input_schema == wf.input_schema(&schema)
                });
                if !unchanged {
                    table.serve(Arc::new(Served::new(wf.clone(), &c.source, &schema)));
                }
                board.set(&feature, State::Ready);
            }
            Err(reason) => {
                table.withdraw(name);
                board.set(&feature, State::Failed(reason));
            }
        }
    }
}

/// Whether a workflow can serve here: its name is no model's MCP tool, every model it runs is
/// served, and [`Workflow::check`] passes against the served models.
fn verify(routes: &Routes, board: &Board, schema: &Schema, wf: &Workflow) -> flowgate::Result<()> {
    crate::workflows::verify(
        wf,
        schema,
        |name| routes.tool_owner(name),
        |model| {
            if routes.route(model).is_some() || !routes.knows(model) {
                return None;
            }
            let feature = Feature::model(model);
            let state = match board.state(&feature) {
                Some(State::Failed(reason)) => format!("failed: {reason}"),
                Some(s) => s.name().to_string(),
                None => "pending".into(),
            };
            Some(Error::NotReady {
                what: feature.to_string(),
                state,
                retry_after_ms: 1000,
            })
        },
    )
}

/// Registers a workflow at run time: checked, saved (with model persistence), served. Gives
/// whether it is new.
pub(super) async fn register(
    state: &mut RegistryState,
    wf: Workflow,
    source: String,
) -> flowgate::Result<bool> {
    let Some(store) = state.store.clone() else {
        return Err(Error::NotReady {
            what: "database".into(),
            state: "starting".into(),
            retry_after_ms: 1000,
        });
    };
    verify(&state.args.routes, &state.args.board, &store.schema(), &wf)?;
    if state.args.config.model_persistence {
        if state.wf.saved.is_none() {
            state.wf.saved = Some(WorkflowRegistry::open(&store).await?);
        }
        if let Some(registry) = &state.wf.saved {
            registry.save(&wf).await?;
        }
    }
    let name = wf.name().to_string();
    let created = state.args.workflows.get(&name).is_none();
    state
        .args
        .board
        .register(&Feature::workflow(name.clone()), true);
    state.wf.candidates.insert(
        name,
        Candidate {
            source,
            workflow: Ok(wf),
        },
    );
    refresh(state);
    Ok(created)
}

/// Refuses a model whose MCP tools (`<table>_<op>`) would take a known workflow's name.
pub(super) fn refuse_tool_clash(state: &RegistryState, def: &ModelDef) -> flowgate::Result<()> {
    let table = def.table_name();
    for op in OpKind::ALL {
        let tool = op.tool_name(&table);
        if state.wf.candidates.contains_key(&tool) || state.args.workflows.get(&tool).is_some() {
            return Err(Error::Conflict {
                field: Some("table".into()),
                reason: format!(
                    "the MCP tool `{tool}` of model {} would take the name of workflow `{tool}`; \
                     rename the workflow or give the model another table name",
                    def.name
                ),
            });
        }
    }
    Ok(())
}
