//! The serialization traps of design §3.2 at the HTTP level: each test sends what some
//! real client sends, written the way that client writes it, and checks the answer text
//! or the container where the client depends on it.
//!
//! Covered in `tenancy.rs` and not repeated here: `variables` missing or null and unknown
//! top-level keys, `//graphql`, and the 400 answer naming an unknown input field and its
//! type.

mod support;

use serde_json::{json, Value};
use support::{container_env, containers_of, exec, wait_docker, Server, IMAGE, RTX_4090};

const TERMINATE: &str = "mutation T($id: String!) { podTerminate(input: {podId: $id}) }";

/// Posts `query` with the key in `?api_key=` and returns the status and the raw text.
async fn post_raw(server: &Server, query: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{}/graphql?api_key={}", server.url, server.key))
        .json(&json!({"query": query}))
        .send()
        .await
        .expect("request reaches the server");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a text answer"))
}

/// Posts `query` and parses the answer; asserts HTTP 200 and no errors.
async fn data(server: &Server, query: &str) -> Value {
    let (status, text) = post_raw(server, query).await;
    let body: Value = serde_json::from_str(&text).expect("JSON answer");
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

/// Posts `query`, expects HTTP 400, and returns the first error's message and code.
async fn refused(server: &Server, query: &str) -> (String, String) {
    let (status, text) = post_raw(server, query).await;
    assert_eq!(status, 400, "{text}");
    let body: Value = serde_json::from_str(&text).expect("JSON answer");
    let error = &body["errors"][0];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (text(&error["message"]), text(&error["extensions"]["code"]))
}

fn pod_id(created: &Value, field: &str) -> String {
    created[field]["id"].as_str().expect("a pod id").to_string()
}

#[tokio::test]
async fn inline_literals_take_bare_enums_null_and_escaped_strings() {
    let server = Server::start(1).await;
    // As the runpod SDK writes a create: everything inline, `cloudType` a bare enum,
    // `dataCenterId: null`; the env value holds escapes a client may produce.
    let query = format!(
        r#"mutation {{ podFindAndDeployOnDemand(input: {{ name: "wire", imageName: "{IMAGE}",
        gpuTypeId: "{RTX_4090}", cloudType: SECURE, dataCenterId: null, startSsh: true,
        env: [{{ key: "TRICKY", value: "a=b \"q\" back\\slash\nline \u00e9 ✓" }}],
        ports: "8888/http , 22/tcp" }}) {{ id env ports }} }}"#
    );
    let created = data(&server, &query).await;
    let id = pod_id(&created, "podFindAndDeployOnDemand");
    server.track(&id);
    let expected = "TRICKY=a=b \"q\" back\\slash\nline é ✓";

    let pod = &created["podFindAndDeployOnDemand"];
    assert!(
        pod["env"].as_array().unwrap().contains(&json!(expected)),
        "{pod}"
    );
    assert_eq!(pod["ports"], "8888/http,22/tcp");
    server.wait_running(&id).await;
    let container = containers_of(&id).pop().expect("a container");
    let env = container_env(&container).join("\n");
    assert!(
        env.contains(expected),
        "the value reaches the container: {env}"
    );
}

#[tokio::test]
async fn aliases_fragments_and_typename_shape_the_answer() {
    let server = Server::start(1).await;
    let created = server
        .create_pod(
            json!({"ports": "8888/http", "dockerArgs": "sleep infinity"}),
            None,
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    server.wait_running(&id).await;

    let query = format!(
        r#"query {{ mine: pod(input: {{podId: "{id}"}}) {{ __typename ...Basics
        ... on Pod {{ runtime {{ ports {{ PortType: type privatePort }} }} }} }} }}
        fragment Basics on Pod {{ podId: id machine {{ __typename podHostId }} }}"#
    );
    let pod = data(&server, &query).await["mine"].clone();
    assert_eq!(pod["__typename"], "Pod");
    assert_eq!(pod["podId"], id.as_str());
    assert_eq!(pod["machine"]["__typename"], "PodMachine");
    assert_eq!(
        pod["runtime"]["ports"],
        json!([{"PortType": "http", "privatePort": 8888}])
    );
}

#[tokio::test]
async fn empty_strings_mean_unset() {
    let server = Server::start(1).await;
    let query = format!(
        r#"mutation {{ podFindAndDeployOnDemand(input: {{ imageName: "{IMAGE}",
        gpuTypeId: "{RTX_4090}", dataCenterId: "", countryCode: "", templateId: "",
        networkVolumeId: "", ports: "", dockerArgs: "", volumeMountPath: "" }})
        {{ id ports dockerArgs volumeMountPath }} }}"#
    );
    let created = data(&server, &query).await;
    let id = pod_id(&created, "podFindAndDeployOnDemand");
    server.track(&id);
    let pod = &created["podFindAndDeployOnDemand"];
    assert_eq!(pod["ports"], "");
    assert_eq!(pod["dockerArgs"], "");
    assert_eq!(pod["volumeMountPath"], "/workspace");
    // No command given: the image's own (`sleep infinity`) runs.
    server.wait_running(&id).await;
}

#[tokio::test]
async fn integral_floats_are_written_as_integers() {
    let server = Server::start(1).await;
    let (_, text) = post_raw(
        &server,
        &format!(r#"{{ gpuTypes(input: {{id: "{RTX_4090}"}}) {{ memoryInGb securePrice }} }}"#),
    )
    .await;
    assert!(text.contains(r#""memoryInGb":24"#), "{text}");
    assert!(!text.contains(r#""memoryInGb":24.0"#), "{text}");

    let created = server.create_pod(json!({"volumeInGb": 10}), None).await;
    let id = created["id"].as_str().unwrap();
    let query = format!(
        r#"{{ pod(input: {{podId: "{id}"}}) {{ vcpuCount memoryInGb volumeInGb costPerHr }} }}"#
    );
    let (_, text) = post_raw(&server, &query).await;
    assert!(text.contains(r#""volumeInGb":10"#), "{text}");
    for field in ["vcpuCount", "memoryInGb", "volumeInGb"] {
        let at = text.find(&format!("\"{field}\":")).expect(field) + field.len() + 3;
        let value: String = text[at..]
            .chars()
            .take_while(|c| *c != ',' && *c != '}')
            .collect();
        assert!(value.parse::<i64>().is_ok(), "{field} is {value} in {text}");
    }
}

#[tokio::test]
async fn pod_terminate_needs_no_selection_set_and_answers_null() {
    let server = Server::start(1).await;
    let created = server.create_pod(json!({}), None).await;
    let id = created["id"].as_str().unwrap().to_string();

    let query = format!(r#"mutation {{ podTerminate(input: {{ podId: "{id}" }}) }}"#);
    let (status, text) = post_raw(&server, &query).await;
    assert_eq!(
        (status, text.as_str()),
        (200, r#"{"data":{"podTerminate":null}}"#)
    );
    wait_docker(&id, "containers removed", || containers_of(&id).is_empty()).await;

    let (status, body) = server
        .gql_as(&server.key, TERMINATE, json!({"id": id}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["message"], "pod not found to terminate");
    assert_eq!(body["errors"][0]["extensions"]["code"], "POD_NOT_FOUND");
    assert_eq!(body["data"], json!({"podTerminate": null}));
}

#[tokio::test]
async fn machine_is_never_null_running_or_stopped() {
    let server = Server::start(1).await;
    let created = server.create_pod(json!({}), None).await;
    let id = created["id"].as_str().unwrap().to_string();
    let query = format!(r#"{{ pod(input: {{podId: "{id}"}}) {{ machine {{ podHostId }} }} }}"#);
    let running = data(&server, &query).await;
    assert!(running["pod"]["machine"]["podHostId"]
        .as_str()
        .unwrap()
        .starts_with(&id));

    let stop = format!(r#"mutation {{ podStop(input: {{podId: "{id}"}}) {{ id }} }}"#);
    data(&server, &stop).await;
    let stopped = data(&server, &query).await;
    assert_eq!(stopped["pod"]["machine"], running["pod"]["machine"]);

    let introspect = r#"{ __type(name: "Pod") { fields { name type { kind ofType { name } } } } }"#;
    let fields = data(&server, introspect).await["__type"]["fields"].clone();
    let machine = fields
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "machine")
        .expect("Pod.machine");
    assert_eq!(machine["type"]["kind"], "NON_NULL", "{machine}");
    server.gql(TERMINATE, json!({"id": id})).await;
}

#[tokio::test]
async fn root_arguments_validate_with_nullable_and_non_null_variable_types() {
    let server = Server::start(1).await;
    let created = server.create_pod(json!({}), None).await;
    let id = created["id"].as_str().unwrap().to_string();
    for kind in ["PodStopInput", "PodStopInput!"] {
        let query =
            format!("mutation S($input: {kind}) {{ podStop(input: $input) {{ desiredStatus }} }}");
        let data = server.gql(&query, json!({"input": {"podId": id}})).await;
        assert_eq!(data["podStop"]["desiredStatus"], "EXITED", "{kind}");
    }
    server.gql(TERMINATE, json!({"id": id})).await;
}

#[tokio::test]
async fn validation_errors_name_the_field_and_type_with_http_400() {
    let server = Server::start(1).await;
    let create = |extra: &str| {
        format!(
            r#"mutation {{ podFindAndDeployOnDemand(input: {{ imageName: "{IMAGE}",
            gpuTypeId: "{RTX_4090}", {extra} }}) {{ id }} }}"#
        )
    };

    let (message, code) = refused(&server, &create(r#"objectMounts: ["x"]"#)).await;
    assert_eq!(
        message,
        r#"Field "objectMounts" is not defined by type "PodFindAndDeployOnDemandInput"."#
    );
    assert_eq!(code, "GRAPHQL_VALIDATION_FAILED");

    let (message, code) = refused(&server, &create(r#"gpuCount: "two""#)).await;
    assert!(
        message.contains("gpuCount") && message.contains("Int"),
        "{message}"
    );
    assert_eq!(code, "GRAPHQL_VALIDATION_FAILED");

    let missing = r#"mutation { podBidResume(input: {podId: "x", gpuCount: 1}) { id } }"#;
    let (message, code) = refused(&server, missing).await;
    assert!(message.contains("bidPerGpu"), "{message}");
    assert_eq!(code, "GRAPHQL_VALIDATION_FAILED");

    for out_of_range in [
        "gpuCount: -1",
        "gpuCount: 5000000000",
        "containerDiskInGb: -5",
    ] {
        let (message, code) = refused(&server, &create(out_of_range)).await;
        assert!(message.contains("Int"), "{out_of_range}: {message}");
        assert_eq!(code, "GRAPHQL_VALIDATION_FAILED", "{out_of_range}");
    }
    let resume = r#"mutation { podResume(input: {podId: "x", gpuCount: -1}) { id } }"#;
    let (_, code) = refused(&server, resume).await;
    assert_eq!(code, "GRAPHQL_VALIDATION_FAILED");

    let (message, _) = refused(&server, "{ myself { nope } }").await;
    assert!(
        message.contains("nope") && message.contains("User"),
        "{message}"
    );
}

#[tokio::test]
async fn introspection_describes_the_schema() {
    let server = Server::start(1).await;
    let query = r#"{ __schema { queryType { name } mutationType { name } types { name } }
        __type(name: "PodStatus") { enumValues { name } } }"#;
    let data = data(&server, query).await;
    assert_eq!(data["__schema"]["queryType"]["name"], "Query");
    assert_eq!(data["__schema"]["mutationType"]["name"], "Mutation");
    let types: Vec<&str> = data["__schema"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for name in [
        "Pod",
        "GpuType",
        "User",
        "Void",
        "PodFindAndDeployOnDemandInput",
    ] {
        assert!(types.contains(&name), "{name} missing from {types:?}");
    }
    let statuses: Vec<&str> = data["__type"]["enumValues"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(
        statuses,
        [
            "CREATED",
            "RUNNING",
            "RESTARTING",
            "EXITED",
            "PAUSED",
            "DEAD",
            "TERMINATED"
        ]
    );
}

#[tokio::test]
async fn fields_runpod_defines_and_podyard_lacks_answer_null_or_empty() {
    let server = Server::start(1).await;
    let created = server.create_pod(json!({}), None).await;
    let id = created["id"].as_str().unwrap();
    let query = format!(
        r#"{{ pod(input: {{podId: "{id}"}}) {{ dockerId port clusterIp }}
        myself {{ authId networkVolumes {{ id }} containerRegistryCreds {{ id }} }}
        gpuTypes(input: {{id: "{RTX_4090}"}}) {{ cudaCores oneWeekPrice oneMonthPrice
        threeMonthPrice }} }}"#
    );
    let data = data(&server, &query).await;
    assert_eq!(
        data,
        json!({
            "pod": {"dockerId": null, "port": null, "clusterIp": null},
            "myself": {"authId": null, "networkVolumes": [], "containerRegistryCreds": []},
            "gpuTypes": [{"cudaCores": null, "oneWeekPrice": null, "oneMonthPrice": null,
                "threeMonthPrice": null}]
        })
    );
}

#[tokio::test]
async fn json_docker_args_run_their_entrypoint_and_cmd() {
    let server = Server::start(1).await;
    // dstack's form: JSON, escaped once more inside the GraphQL string literal.
    let args = json!({"cmd": ["echo \"$0 ran\" > /tmp/ran && sleep infinity"],
        "entrypoint": ["/bin/sh", "-c"]});
    let literal = serde_json::to_string(&args.to_string()).unwrap();
    let query = format!(
        r#"mutation {{ podFindAndDeployOnDemand(input: {{ imageName: "{IMAGE}",
        gpuTypeId: "{RTX_4090}", minCudaVersion: "12.8", dockerArgs: {literal} }})
        {{ id dockerArgs }} }}"#
    );
    let created = data(&server, &query).await;
    let id = pod_id(&created, "podFindAndDeployOnDemand");
    server.track(&id);
    assert_eq!(
        created["podFindAndDeployOnDemand"]["dockerArgs"],
        "/bin/sh -c 'echo \"$0 ran\" > /tmp/ran && sleep infinity'"
    );
    server.wait_running(&id).await;
    wait_docker(&id, "the command ran", || {
        exec(&id, "cat /tmp/ran") == "/bin/sh ran"
    })
    .await;
}
