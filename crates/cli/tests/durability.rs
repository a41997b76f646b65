//! Crash safety: a server killed with SIGKILL keeps every mutation it acknowledged, and
//! after a restart its agent adopts the containers that kept running instead of starting
//! them again.

mod support;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{
    container_details, container_env, pods_with_containers_on, running_containers_of,
    GraphqlClient, Server, IMAGE, RTX_4090,
};
use tokio::sync::mpsc;

const GPUS: u32 = 4;
/// More tasks than GPUs, so that creates and resumes also meet full machines.
const TASKS: usize = 6;
const OPS_PER_TASK: usize = 7;
/// The server dies after this many answers, with the rest of the burst still in flight.
const ACKS_BEFORE_KILL: usize = 18;
const RECONCILE_WAIT: Duration = Duration::from_secs(90);

const CREATE: &str = "mutation Create($input: PodFindAndDeployOnDemandInput) { \
    podFindAndDeployOnDemand(input: $input) { id desiredStatus machineId gpus { index } } }";
const STOP: &str = "mutation Stop($id: String!) { \
    podStop(input: {podId: $id}) { id desiredStatus gpus { index } } }";
const RESUME: &str = "mutation Resume($id: String!) { \
    podResume(input: {podId: $id}) { id desiredStatus gpus { index } } }";
const TERMINATE: &str = "mutation Terminate($id: String!) { podTerminate(input: {podId: $id}) }";
const MY_PODS: &str = "{ myself { pods { id desiredStatus machineId gpuCount gpus { id index } \
    runtime { uptimeInSeconds } } } }";

#[derive(Clone, Copy, Debug)]
enum Op {
    Create,
    Stop,
    Resume,
    Terminate,
}

/// What each task asks for, in turn, of its latest pod. Stops of stopped pods and resumes of
/// running ones are deliberate: they must change nothing.
const PROGRAM: [Op; 8] = [
    Op::Create,
    Op::Resume,
    Op::Stop,
    Op::Stop,
    Op::Resume,
    Op::Stop,
    Op::Terminate,
    Op::Create,
];

/// The state a pod must be in, as far as the client knows.
#[derive(Clone, Debug, PartialEq)]
enum Expected {
    /// `gpus` is `None` when the allocation was never seen (an unanswered resume).
    Running {
        gpus: Option<Vec<u64>>,
        generation: u64,
    },
    Exited {
        generation: u64,
    },
    Gone,
}

impl Expected {
    fn generation(&self) -> u64 {
        match self {
            Expected::Running { generation, .. } | Expected::Exited { generation } => *generation,
            Expected::Gone => 0,
        }
    }
}

/// A pod whose create was acknowledged.
#[derive(Debug)]
struct Tracked {
    id: String,
    machine_id: String,
    /// The state after the last acknowledged mutation.
    acked: Expected,
    /// The state if the mutation in flight at the kill was committed without an answer.
    unanswered: Option<Expected>,
}

#[derive(Debug, Default)]
struct TaskLog {
    pods: Vec<Tracked>,
    /// A create was in flight at the kill: its pod may exist with an id never seen.
    unanswered_create: bool,
    problems: Vec<String>,
}

fn gpu_indices(pod: &Value) -> Vec<u64> {
    let mut indices: Vec<u64> = pod["gpus"]
        .as_array()
        .map(|gpus| gpus.iter().filter_map(|g| g["index"].as_u64()).collect())
        .unwrap_or_default();
    indices.sort_unstable();
    indices
}

fn gpu_ids(pod: &Value) -> Vec<String> {
    let mut ids: Vec<String> = pod["gpus"]
        .as_array()
        .map(|gpus| {
            gpus.iter()
                .filter_map(|g| g["id"].as_str())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    ids.sort_unstable();
    ids
}

fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

/// One task of the burst: runs `PROGRAM` against its own pods, one mutation at a time,
/// and stops at the first request that gets no answer.
async fn run_task(task: usize, client: GraphqlClient, acks: mpsc::UnboundedSender<()>) -> TaskLog {
    let mut log = TaskLog::default();
    for step in 0..OPS_PER_TASK {
        let current = log.pods.last().filter(|p| p.acked != Expected::Gone);
        let op = match current {
            None => Op::Create,
            Some(_) => PROGRAM[(step + task) % PROGRAM.len()],
        };
        let (query, variables) = match (op, current) {
            (Op::Create, _) | (_, None) => {
                let input = json!({
                    "name": format!("burst-{task}-{step}"),
                    "imageName": IMAGE,
                    "gpuTypeId": RTX_4090,
                    "gpuCount": 1,
                });
                (CREATE, json!({"input": input}))
            }
            (Op::Stop, Some(pod)) => (STOP, json!({"id": pod.id})),
            (Op::Resume, Some(pod)) => (RESUME, json!({"id": pod.id})),
            (Op::Terminate, Some(pod)) => (TERMINATE, json!({"id": pod.id})),
        };
        let Some((status, body)) = client.try_gql(query, variables).await else {
            record_unanswered(&mut log, op);
            return log;
        };
        let _ = acks.send(());
        if status != 200 {
            log.problems
                .push(format!("{op:?} answered HTTP {status}: {body}"));
            return log;
        }
        record_answer(&mut log, op, &body);
    }
    log
}

/// Applies an acknowledged answer to the task's view of its pods.
fn record_answer(log: &mut TaskLog, op: Op, body: &Value) {
    let code = error_code(body);
    match (op, code) {
        (Op::Create, None) => {
            let pod = &body["data"]["podFindAndDeployOnDemand"];
            log.pods.push(Tracked {
                id: pod["id"].as_str().unwrap_or_default().to_string(),
                machine_id: pod["machineId"].as_str().unwrap_or_default().to_string(),
                acked: Expected::Running {
                    gpus: Some(gpu_indices(pod)),
                    generation: 1,
                },
                unanswered: None,
            });
        }
        // A full machine refuses; nothing changed.
        (Op::Create, Some("NO_CAPACITY")) | (Op::Resume, Some("HOST_GPUS_BUSY")) => {}
        (_, None) => {
            let Some(pod) = log.pods.last_mut() else {
                return;
            };
            let answer = body["data"].as_object().and_then(|d| d.values().next());
            let answer = answer.unwrap_or(&Value::Null);
            let next = acknowledged(&pod.acked, op, answer);
            if !answer_shows(&next, answer) {
                let problem = format!("{op:?} of {} answered {answer}, not {next:?}", pod.id);
                log.problems.push(problem);
            }
            pod.acked = next;
        }
        (_, Some(_)) => log.problems.push(format!("{op:?} refused: {body}")),
    }
}

/// Whether a mutation's answer shows the pod in `state`; a resume of a running pod must
/// echo its allocation, never make a second one.
fn answer_shows(state: &Expected, answer: &Value) -> bool {
    match state {
        Expected::Running { gpus, .. } => {
            answer["desiredStatus"] == "RUNNING"
                && gpus.as_ref().is_none_or(|g| *g == gpu_indices(answer))
        }
        Expected::Exited { .. } => answer["desiredStatus"] == "EXITED",
        Expected::Gone => answer.is_null(),
    }
}

/// The state after `op` succeeded on a pod in state `before`, with `answer` its pod.
fn acknowledged(before: &Expected, op: Op, answer: &Value) -> Expected {
    let generation = before.generation();
    match (op, before) {
        (Op::Stop, _) => Expected::Exited { generation },
        (Op::Resume, Expected::Exited { .. }) => Expected::Running {
            gpus: Some(gpu_indices(answer)),
            generation: generation + 1,
        },
        (Op::Terminate, _) => Expected::Gone,
        _ => before.clone(),
    }
}

/// Notes what the request that got no answer may have done anyway.
fn record_unanswered(log: &mut TaskLog, op: Op) {
    if let Op::Create = op {
        log.unanswered_create = true;
        return;
    }
    let Some(pod) = log.pods.last_mut() else {
        return;
    };
    let generation = pod.acked.generation();
    pod.unanswered = match (op, &pod.acked) {
        (Op::Stop, Expected::Running { .. }) => Some(Expected::Exited { generation }),
        (Op::Resume, Expected::Exited { .. }) => Some(Expected::Running {
            gpus: None,
            generation: generation + 1,
        }),
        (Op::Terminate, _) => Some(Expected::Gone),
        _ => None,
    };
}

/// A pod as the restarted server lists it.
struct Listed {
    status: String,
    machine_id: String,
    gpus: Vec<u64>,
    /// The UUIDs of `gpus`, sorted.
    gpu_ids: Vec<String>,
    has_runtime: bool,
}

async fn list_pods(server: &Server) -> HashMap<String, Listed> {
    let data = server.gql(MY_PODS, json!({})).await;
    let pods = data["myself"]["pods"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    pods.iter()
        .map(|p| {
            let id = p["id"].as_str().expect("pod id").to_string();
            let listed = Listed {
                status: p["desiredStatus"].as_str().unwrap_or_default().to_string(),
                machine_id: p["machineId"].as_str().unwrap_or_default().to_string(),
                gpus: gpu_indices(p),
                gpu_ids: gpu_ids(p),
                has_runtime: !p["runtime"].is_null(),
            };
            (id, listed)
        })
        .collect()
}

fn matches(expected: &Expected, listed: Option<&Listed>) -> bool {
    match (expected, listed) {
        (Expected::Gone, None) => true,
        (Expected::Exited { .. }, Some(l)) => l.status == "EXITED" && l.gpus.is_empty(),
        (Expected::Running { gpus, .. }, Some(l)) => {
            l.status == "RUNNING" && gpus.as_ref().map_or(l.gpus.len() == 1, |g| *g == l.gpus)
        }
        _ => false,
    }
}

/// Checks every acknowledged effect against the restarted server; returns the state each
/// pod id must converge to, untracked pods of unanswered creates included.
fn check_acknowledged_effects(
    logs: &[TaskLog],
    listed: &HashMap<String, Listed>,
) -> HashMap<String, Expected> {
    let mut settled = HashMap::new();
    for pod in logs.iter().flat_map(|l| &l.pods) {
        let found = listed.get(&pod.id);
        let state = [Some(&pod.acked), pod.unanswered.as_ref()]
            .into_iter()
            .flatten()
            .find(|e| matches(e, found));
        let Some(state) = state else {
            let shown = found.map(|l| (&l.status, &l.gpus));
            panic!(
                "pod {} lost an acknowledged mutation: {pod:?}, listed {shown:?}",
                pod.id
            );
        };
        if let Some(l) = found {
            assert_eq!(l.machine_id, pod.machine_id, "pod {} moved", pod.id);
        }
        settled.insert(pod.id.clone(), state.clone());
    }

    let unknown: Vec<&String> = listed
        .keys()
        .filter(|id| !settled.contains_key(*id))
        .collect();
    let unanswered_creates = logs.iter().filter(|l| l.unanswered_create).count();
    assert!(
        unknown.len() <= unanswered_creates,
        "pods {unknown:?} exist but only {unanswered_creates} creates went unanswered"
    );
    for id in unknown {
        let l = &listed[id];
        assert!(
            l.status == "RUNNING" && l.gpus.len() == 1,
            "unanswered create {id}"
        );
        let gpus = Some(l.gpus.clone());
        settled.insert(
            id.clone(),
            Expected::Running {
                gpus,
                generation: 1,
            },
        );
    }
    settled
}

fn assert_no_gpu_held_twice(listed: &HashMap<String, Listed>) {
    let mut holders: HashMap<u64, &String> = HashMap::new();
    for (id, pod) in listed.iter().filter(|(_, p)| p.status == "RUNNING") {
        for gpu in &pod.gpus {
            assert!(*gpu < u64::from(GPUS), "pod {id} holds GPU {gpu} of {GPUS}");
            if let Some(other) = holders.insert(*gpu, id) {
                panic!("GPU {gpu} is held by both {other} and {id}");
            }
        }
    }
}

/// What still differs between the pods' containers and their settled states.
fn container_mismatches(
    settled: &HashMap<String, Expected>,
    listed: &HashMap<String, Listed>,
) -> Vec<String> {
    let mut mismatches = Vec::new();
    for (id, expected) in settled {
        let containers = container_details(id);
        match expected {
            Expected::Running { generation, .. } => {
                let current = containers.len() == 1
                    && containers[0].running
                    && containers[0].generation == Some(*generation)
                    && containers[0].name == format!("podyard-{id}-{generation}");
                if !current || !listed.get(id).is_some_and(|l| l.has_runtime) {
                    mismatches.push(format!(
                        "{id} should run generation {generation} only: {containers:?}"
                    ));
                }
            }
            _ if !containers.is_empty() => {
                mismatches.push(format!("{id} is {expected:?} yet has {containers:?}"));
            }
            _ => {}
        }
    }
    mismatches
}

/// Each running container sees exactly its pod's GPUs, so no GPU is in two containers.
fn assert_containers_see_their_own_gpus(listed: &HashMap<String, Listed>) {
    for (id, pod) in listed.iter().filter(|(_, p)| p.status == "RUNNING") {
        let containers = running_containers_of(id);
        assert_eq!(containers.len(), 1, "one container runs {id}");
        let env = container_env(&containers[0]);
        let visible = env
            .iter()
            .find_map(|e| e.strip_prefix("NVIDIA_VISIBLE_DEVICES="))
            .unwrap_or_else(|| panic!("{id}: no NVIDIA_VISIBLE_DEVICES in {env:?}"));
        let mut seen: Vec<&str> = visible.split(',').collect();
        seen.sort_unstable();
        assert_eq!(seen, pod.gpu_ids, "the container of {id} sees other GPUs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_a_burst_loses_no_acknowledged_mutation() {
    let mut server = Server::start(GPUS).await;

    let (acks, mut acked) = mpsc::unbounded_channel();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| tokio::spawn(run_task(task, server.client(&server.key), acks.clone())))
        .collect();
    drop(acks);
    for answered in 0..ACKS_BEFORE_KILL {
        let ack = tokio::time::timeout(RECONCILE_WAIT, acked.recv()).await;
        assert!(
            matches!(ack, Ok(Some(()))),
            "the burst ended after {answered} answers:\n{}",
            server.log()
        );
    }
    server.kill9();

    let mut logs = Vec::new();
    for task in tasks {
        logs.push(task.await.expect("burst task"));
    }
    for pod in logs.iter().flat_map(|l| &l.pods) {
        server.track(&pod.id);
    }
    let problems: Vec<&String> = logs.iter().flat_map(|l| &l.problems).collect();
    assert!(problems.is_empty(), "unexpected answers: {problems:?}");

    server.restart().await;
    let listed = list_pods(&server).await;
    for id in listed.keys() {
        server.track(id);
    }
    let settled = check_acknowledged_effects(&logs, &listed);
    assert_no_gpu_held_twice(&listed);

    let deadline = Instant::now() + RECONCILE_WAIT;
    loop {
        let listed = list_pods(&server).await;
        let mismatches = container_mismatches(&settled, &listed);
        if mismatches.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "containers never matched the pods:\n{}\n{}",
            mismatches.join("\n"),
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let after = list_pods(&server).await;
    assert_no_gpu_held_twice(&after);
    assert_containers_see_their_own_gpus(&after);
    let ids: HashSet<&String> = after.keys().collect();
    assert_eq!(
        ids,
        listed.keys().collect(),
        "pods appeared or vanished by themselves"
    );
    let machine_ids: HashSet<&String> = after.values().map(|p| &p.machine_id).collect();
    for machine_id in machine_ids {
        for pod_id in pods_with_containers_on(machine_id) {
            assert!(
                ids.contains(&pod_id),
                "a container of pod {pod_id}, which does not exist"
            );
        }
    }
}

#[tokio::test]
async fn restart_adopts_running_containers_without_duplicates() {
    let mut server = Server::start(GPUS).await;
    let mut before = Vec::new();
    for name in ["adopt-a", "adopt-b", "adopt-c"] {
        let pod = server.create_pod(json!({"name": name}), None).await;
        let id = pod["id"].as_str().expect("id").to_string();
        server.wait_running(&id).await;
        let containers = running_containers_of(&id);
        assert_eq!(containers.len(), 1, "one container for {id}");
        before.push((id, containers));
    }
    let first_seen = Instant::now();

    server.kill9();
    server.restart().await;
    // A pod created after the restart runs only once the agent has reconciled: any
    // duplicate of the old pods would have been started by then.
    let probe = server
        .create_pod(json!({"name": "adopt-probe"}), None)
        .await;
    server
        .wait_running(probe["id"].as_str().expect("probe id"))
        .await;

    for (id, containers) in &before {
        let pod = server.wait_running(id).await;
        assert_eq!(pod["desiredStatus"], "RUNNING");
        assert_eq!(
            &running_containers_of(id),
            containers,
            "{id} kept its container"
        );
        let all = container_details(id);
        assert_eq!(all.len(), 1, "{id} has no second container: {all:?}");
        let uptime = pod["runtime"]["uptimeInSeconds"].as_u64().expect("uptime");
        let alive = first_seen.elapsed().as_secs();
        assert!(
            uptime + 1 >= alive,
            "{id} reports {uptime}s of uptime, its container has run {alive}s"
        );
    }
}
