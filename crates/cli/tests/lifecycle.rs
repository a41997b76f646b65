//! The pod lifecycle against real containers: volumes, GPUs held on the pod's own machine,
//! env and command handed to the container, and the errors of each step.

mod support;

use serde_json::{json, Value};
use support::{
    containers_of, exec, running_containers_of, volumes_of, wait_docker, Server, RTX_4090,
};

const STOP: &str = "mutation Stop($id: String!) { podStop(input: {podId: $id}) { \
     id desiredStatus runtime { uptimeInSeconds } } }";
const RESUME: &str = "mutation Resume($id: String!, $count: Int) { \
     podResume(input: {podId: $id, gpuCount: $count}) { id desiredStatus gpuCount } }";
const TERMINATE: &str = "mutation Terminate($id: String!) { podTerminate(input: {podId: $id}) }";

fn id(pod: &Value) -> String {
    pod["id"].as_str().expect("pod id").to_string()
}

fn only_error(body: &Value) -> &Value {
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{body}");
    &errors[0]
}

#[tokio::test]
async fn a_volume_survives_stop_and_resume_and_is_deleted_by_terminate() {
    let server = Server::start(2).await;
    let pod = server
        .create_pod(json!({"volumeInGb": 1, "volumeMountPath": "/data"}), None)
        .await;
    let id = id(&pod);
    server.wait_running(&id).await;
    exec(&id, "echo kept > /data/marker && echo scratch > /scratch");

    server.gql(STOP, json!({"id": id})).await;
    wait_docker(&id, "container removed", || containers_of(&id).is_empty()).await;
    assert_eq!(
        volumes_of(&id).len(),
        1,
        "the volume outlives the container"
    );

    server.gql(RESUME, json!({"id": id})).await;
    server.wait_running(&id).await;
    assert_eq!(exec(&id, "cat /data/marker"), "kept");
    assert_eq!(
        exec(&id, "cat /scratch 2>/dev/null || echo wiped"),
        "wiped",
        "the container disk is wiped at stop"
    );

    let (status, body) = server
        .gql_as(&server.key, TERMINATE, json!({"id": id}))
        .await;
    assert_eq!(
        (status, body.clone()),
        (200, json!({"data": {"podTerminate": null}}))
    );
    wait_docker(&id, "volume deleted", || volumes_of(&id).is_empty()).await;
    assert!(containers_of(&id).is_empty());
    assert!(server.pod(&id).await.is_null());
}

#[tokio::test]
async fn resume_fails_while_another_pod_holds_the_host_gpus_and_works_once_free() {
    let server = Server::start(2).await;
    let first = id(&server.create_pod(json!({"gpuCount": 2}), None).await);
    server.gql(STOP, json!({"id": first})).await;
    let second = id(&server.create_pod(json!({"gpuCount": 2}), None).await);

    let (status, body) = server
        .gql_as(&server.key, RESUME, json!({"id": first}))
        .await;
    assert_eq!(status, 200);
    assert!(body["data"]["podResume"].is_null(), "{body}");
    let error = only_error(&body);
    assert_eq!(
        error["message"],
        "There are not enough free GPUs on the host machine to start this pod."
    );
    assert_eq!(error["extensions"]["code"], "HOST_GPUS_BUSY");
    assert_eq!(error["path"], json!(["podResume"]));
    assert_eq!(server.pod(&first).await["desiredStatus"], "EXITED");

    server.gql(STOP, json!({"id": second})).await;
    let resumed = server.gql(RESUME, json!({"id": first})).await;
    assert_eq!(resumed["podResume"]["desiredStatus"], "RUNNING");
    assert_eq!(resumed["podResume"]["gpuCount"], 2);
    server.wait_running(&first).await;
    assert_eq!(running_containers_of(&first).len(), 1);
}

#[tokio::test]
async fn the_container_gets_env_ports_gpus_and_command_as_asked() {
    let server = Server::start(4).await;
    let tricky = "a=b \"quoted\" 'single' \\back\nnewline ünïcødé $HOME";
    let pod = server
        .create_pod(
            json!({
                "gpuCount": 2,
                "ports": "8888/http, 22/tcp",
                "env": [
                    {"key": "TRICKY", "value": tricky},
                    {"key": "JUPYTER_PASSWORD", "value": "pw"}
                ],
                "dockerArgs": "sh -c 'echo started > /tmp/started; exec sleep 3600'",
                "startSsh": true
            }),
            None,
        )
        .await;
    let id = id(&pod);
    assert_eq!(pod["ports"], "8888/http,22/tcp");
    assert!(pod["env"]
        .as_array()
        .unwrap()
        .contains(&json!(format!("TRICKY={tricky}"))));
    assert!(pod["env"]
        .as_array()
        .unwrap()
        .contains(&json!("JUPYTER_PASSWORD=pw")));
    assert_eq!(pod["machine"]["emulated"], true);

    let running = server.wait_running(&id).await;
    let ports = running["runtime"]["ports"]
        .as_array()
        .expect("ports")
        .clone();
    assert_eq!(ports.len(), 2, "{running}");
    let ssh = ports
        .iter()
        .find(|p| p["privatePort"] == 22)
        .expect("22 published");
    assert_eq!(ssh["type"], "tcp");
    let public = ssh["publicPort"].as_u64().expect("public port");
    assert_eq!(running["runtime"]["gpus"].as_array().map(Vec::len), Some(2));

    assert_eq!(exec(&id, "printf %s \"$TRICKY\""), tricky);
    assert_eq!(exec(&id, "cat /tmp/started"), "started");
    assert_eq!(exec(&id, "echo $RUNPOD_POD_ID"), id);
    assert_eq!(exec(&id, "echo $RUNPOD_GPU_COUNT"), "2");
    assert_eq!(exec(&id, "echo $RUNPOD_TCP_PORT_22"), public.to_string());
    assert_eq!(
        exec(&id, "echo $RUNPOD_POD_HOSTNAME"),
        running["machine"]["podHostId"].as_str().unwrap()
    );
    let visible = exec(&id, "echo $NVIDIA_VISIBLE_DEVICES");
    assert_eq!(visible.split(',').count(), 2, "{visible}");
}

#[tokio::test]
async fn a_container_that_cannot_start_is_reported_with_a_reason() {
    let server = Server::start(1).await;
    let pod = server
        .create_pod(json!({"imageName": "podyard-test/does-not-exist:1"}), None)
        .await;
    let id = id(&pod);
    let failed = server
        .wait_pod(&id, "reported the failure", |p| {
            p["statusMessage"].is_string()
        })
        .await;
    assert!(failed["runtime"].is_null());
    let message = failed["statusMessage"].as_str().unwrap();
    assert!(message.contains("does-not-exist"), "{message}");

    let exits = server
        .create_pod_as(&server.key, json!({"gpuCount": 0}), None)
        .await;
    assert!(
        exits["id"].is_null(),
        "create needs at least one GPU: {exits}"
    );
}

#[tokio::test]
async fn a_container_that_exits_is_reported_with_its_exit_code() {
    let server = Server::start(1).await;
    let id = id(&server
        .create_pod(json!({"dockerArgs": "sh -c 'exit 3'"}), None)
        .await);
    let exited = server
        .wait_pod(&id, "reported the exit", |p| p["statusMessage"].is_string())
        .await;
    assert_eq!(exited["statusMessage"], "container exited with code 3");
    assert!(exited["runtime"].is_null());
    assert_eq!(
        exited["desiredStatus"], "RUNNING",
        "the user's wish is unchanged"
    );
}

#[tokio::test]
async fn error_texts_match_what_clients_expect() {
    let server = Server::start(1).await;
    let spot = id(&server.create_pod(json!({}), Some(0.2)).await);
    server.gql(STOP, json!({"id": spot})).await;

    let (_, body) = server
        .gql_as(&server.key, RESUME, json!({"id": spot}))
        .await;
    assert_eq!(
        only_error(&body)["message"],
        "Cannot resume a spot pod as an on demand pod."
    );

    let full = server.create_pod_as(&server.key, json!({}), None).await;
    assert!(full["id"].is_string());
    server.track(full["id"].as_str().unwrap());
    let create =
        "mutation { podFindAndDeployOnDemand(input: {gpuTypeId: \"NVIDIA GeForce RTX 4090\", \
                  imageName: \"x\"}) { id } }";
    let (status, body) = server.gql_as(&server.key, create, json!(null)).await;
    assert_eq!(status, 200);
    assert_eq!(
        only_error(&body)["message"],
        "There are no longer any instances available with the requested specifications. \
         Please refresh and try again."
    );
    assert_eq!(only_error(&body)["extensions"]["code"], "NO_CAPACITY");

    let unknown_type = create.replace(RTX_4090, "RTX 4090");
    let (_, body) = server.gql_as(&server.key, &unknown_type, json!(null)).await;
    let error = only_error(&body);
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT");
    assert!(
        error["message"].as_str().unwrap().contains(RTX_4090),
        "{error}"
    );

    let (_, body) = server
        .gql_as(&server.key, TERMINATE, json!({"id": "nosuchpod00000"}))
        .await;
    assert_eq!(only_error(&body)["message"], "pod not found to terminate");
    assert_eq!(only_error(&body)["extensions"]["code"], "POD_NOT_FOUND");

    let low_bid = server
        .create_pod_as(&server.key, json!({}), Some(0.01))
        .await;
    assert!(low_bid.is_null());
    let bid = "mutation { podRentInterruptable(input: {gpuTypeId: \"NVIDIA GeForce RTX 4090\", \
               imageName: \"x\", bidPerGpu: 0.01}) { id } }";
    let (_, body) = server.gql_as(&server.key, bid, json!(null)).await;
    let error = only_error(&body);
    assert_eq!(error["extensions"]["code"], "BID_TOO_LOW");
    assert!(
        error["message"].as_str().unwrap().contains("0.2"),
        "names the minimum: {error}"
    );

    let (status, body) = server
        .gql_as(
            &server.key,
            "mutation { podResume(input: {podId: \"x\", objectMounts: []}) { id } }",
            json!(null),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        only_error(&body)["message"],
        "Field \"objectMounts\" is not defined by type \"PodResumeInput\"."
    );
}

#[tokio::test]
async fn stop_and_resume_are_idempotent() {
    let server = Server::start(2).await;
    let id = id(&server.create_pod(json!({}), None).await);
    let running = server.wait_running(&id).await;
    let resumed = server.gql(RESUME, json!({"id": id, "count": 2})).await;
    assert_eq!(resumed["podResume"]["gpuCount"], 1, "no second allocation");
    assert_eq!(
        server.pod(&id).await["lastStatusChange"],
        running["lastStatusChange"]
    );

    server.gql(STOP, json!({"id": id})).await;
    let stopped = server.pod(&id).await;
    let again = server.gql(STOP, json!({"id": id})).await;
    assert_eq!(again["podStop"]["desiredStatus"], "EXITED");
    assert_eq!(
        server.pod(&id).await["lastStatusChange"],
        stopped["lastStatusChange"]
    );
    assert!(stopped["lastStatusChange"]
        .as_str()
        .unwrap()
        .starts_with("Exited by user: "));
}
