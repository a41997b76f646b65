//! A real `podyard serve` for end-to-end tests: the built binary on a free loopback port,
//! a fresh data directory, emulated GPUs, the real Docker engine and the test image that
//! `scripts/build-test-image.sh` builds. Containers of pods a test created are removed
//! when the server is dropped, also after a failed assertion.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const IMAGE: &str = "podyard-test/busybox:latest";
pub const RTX_4090: &str = "NVIDIA GeForce RTX 4090";
const WAIT: Duration = Duration::from_secs(60);

pub struct Server {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub url: String,
    /// The admin's read-write key, read from `admin-api-key`.
    pub key: String,
    gpus: String,
    pods: Mutex<Vec<String>>,
    http: reqwest::Client,
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

pub fn require_test_image() {
    let found = Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "image {IMAGE} is missing: run scripts/build-test-image.sh"
    );
}

impl Server {
    /// Starts a server with `count` emulated RTX 4090s.
    pub async fn start(count: u32) -> Server {
        require_test_image();
        let mut server = Server {
            child: None,
            dir: tempfile::tempdir().expect("temp dir"),
            port: free_port(),
            url: String::new(),
            key: String::new(),
            gpus: format!("{RTX_4090}:{count}"),
            pods: Mutex::new(Vec::new()),
            http: reqwest::Client::new(),
        };
        server.url = format!("http://127.0.0.1:{}", server.port);
        server.spawn().await;
        server
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("serve.log"))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_podyard"))
            .args(["serve", "--listen", &format!("127.0.0.1:{}", self.port)])
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(["--emulate-gpus", &self.gpus, "--stop-grace-seconds", "1"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start podyard serve");
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        loop {
            let health = self.http.get(format!("{}/health", self.url)).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "server did not start:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let key = std::fs::read_to_string(self.dir.path().join("admin-api-key"))
            .expect("admin-api-key written at start");
        self.key = key.trim().to_string();
    }

    /// The server's log so far, for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// Kills the server with SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data directory.
    pub async fn restart(&mut self) {
        self.kill9();
        self.spawn().await;
    }

    /// Posts a raw GraphQL body with the key in `?api_key=` (when given).
    pub async fn post(&self, key: Option<&str>, body: &Value) -> (u16, Value) {
        let mut url = format!("{}/graphql", self.url);
        if let Some(key) = key {
            url.push_str(&format!("?api_key={key}"));
        }
        self.send(self.http.post(url).json(body)).await
    }

    /// Posts a raw body text, exactly as given.
    pub async fn post_text(&self, url_suffix: &str, text: &str) -> (u16, Value) {
        let url = format!("{}{url_suffix}", self.url);
        self.send(
            self.http
                .post(url)
                .header("content-type", "application/json")
                .body(text.to_string()),
        )
        .await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("request reaches the server");
        let status = response.status().as_u16();
        let body = response.json().await.expect("JSON answer");
        (status, body)
    }

    /// Runs a query with `key` as a Bearer header and returns the whole answer.
    pub async fn gql_as(&self, key: &str, query: &str, variables: Value) -> (u16, Value) {
        let request = self
            .http
            .post(format!("{}/graphql", self.url))
            .bearer_auth(key)
            .json(&json!({"query": query, "variables": variables}));
        self.send(request).await
    }

    /// Runs a query as the admin and returns `data`, failing on any error.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.gql_as(&self.key, query, variables).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// Creates an on-demand pod (`bid` = None) or a spot pod as `key`; returns its id.
    pub async fn create_pod_as(&self, key: &str, input: Value, bid: Option<f64>) -> Value {
        let mut input = input;
        input["imageName"] = input.get("imageName").cloned().unwrap_or(json!(IMAGE));
        input["gpuTypeId"] = input.get("gpuTypeId").cloned().unwrap_or(json!(RTX_4090));
        let (field, kind) = match bid {
            Some(bid) => {
                input["bidPerGpu"] = json!(bid);
                ("podRentInterruptable", "PodRentInterruptableInput!")
            }
            None => ("podFindAndDeployOnDemand", "PodFindAndDeployOnDemandInput!"),
        };
        let query = format!(
            "mutation Create($input: {kind}) {{ {field}(input: $input) {{ {POD_FIELDS} }} }}"
        );
        let (status, body) = self.gql_as(key, &query, json!({"input": input})).await;
        assert_eq!(status, 200, "{body}");
        let pod = body["data"][field].clone();
        if let Some(id) = pod["id"].as_str() {
            self.pods.lock().expect("pods").push(id.to_string());
        }
        pod
    }

    pub async fn create_pod(&self, input: Value, bid: Option<f64>) -> Value {
        let pod = self.create_pod_as(&self.key.clone(), input, bid).await;
        assert!(pod["id"].is_string(), "create failed: {pod}");
        pod
    }

    pub async fn pod(&self, id: &str) -> Value {
        let query =
            format!("query Pod($id: String!) {{ pod(input: {{podId: $id}}) {{ {POD_FIELDS} }} }}");
        self.gql(&query, json!({"id": id})).await["pod"].clone()
    }

    /// Waits until `check` holds for the pod as the API shows it.
    pub async fn wait_pod(&self, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let pod = self.pod(id).await;
            if check(&pod) {
                return pod;
            }
            assert!(
                Instant::now() < deadline,
                "pod {id} never {what}: {pod}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_running(&self, id: &str) -> Value {
        self.wait_pod(id, "reported a runtime", |p| !p["runtime"].is_null())
            .await
    }

    /// Adds a user through the CLI, as an operator would; returns the printed key.
    pub fn add_user(&self, name: &str, read_only: bool) -> String {
        let mut command = Command::new(env!("CARGO_BIN_EXE_podyard"));
        command
            .args(["user", "add", name, "--server", &self.url, "--api-key-file"])
            .arg(self.dir.path().join("admin-api-key"));
        if read_only {
            command.arg("--read-only");
        }
        let output = command.output().expect("run podyard user add");
        assert!(
            output.status.success(),
            "user add failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let key = String::from_utf8(output.stdout).expect("utf-8 key");
        assert_eq!(key.lines().count(), 1, "one line: {key:?}");
        key.trim().to_string()
    }

    /// Remembers a pod created by other means so that its containers are cleaned up.
    pub fn track(&self, id: &str) {
        self.pods.lock().expect("pods").push(id.to_string());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        for pod in self.pods.lock().map(|p| p.clone()).unwrap_or_default() {
            docker_cleanup(&format!("label=podyard.pod-id={pod}"));
        }
        // Pods the test never saw (a create in flight at a kill -9) have containers too:
        // everything this server's machine owns goes.
        let identity = std::fs::read_to_string(self.dir.path().join("machine.json"));
        let machine = identity
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .and_then(|v| v["id"].as_str().map(str::to_string));
        if let Some(machine) = machine {
            docker_cleanup(&format!("label=podyard.machine-id={machine}"));
        }
    }
}

/// Fields the tests read from every pod answer.
pub const POD_FIELDS: &str = "id name podType desiredStatus lastStatusChange statusMessage \
    imageName dockerArgs env ports gpuCount vcpuCount memoryInGb volumeInGb volumeMountPath \
    containerDiskInGb costPerHr machineId machine { id podHostId gpuTypeId emulated } \
    runtime { uptimeInSeconds ports { ip isIpPublic privatePort publicPort type } \
    gpus { id } }";

/// Runs `docker` with `args`; returns stdout.
pub fn docker(args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Ids of the containers (running or not) of a pod.
pub fn containers_of(pod: &str) -> Vec<String> {
    let filter = format!("label=podyard.pod-id={pod}");
    docker(&["ps", "-aq", "--filter", &filter])
        .lines()
        .map(str::to_string)
        .collect()
}

/// Ids of the running containers of a pod.
pub fn running_containers_of(pod: &str) -> Vec<String> {
    let filter = format!("label=podyard.pod-id={pod}");
    docker(&[
        "ps",
        "-q",
        "--filter",
        &filter,
        "--filter",
        "status=running",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

pub fn volumes_of(pod: &str) -> Vec<String> {
    let filter = format!("label=podyard.pod-id={pod}");
    docker(&["volume", "ls", "-q", "--filter", &filter])
        .lines()
        .map(str::to_string)
        .collect()
}

/// Runs a shell command in the pod's running container; returns stdout.
pub fn exec(pod: &str, script: &str) -> String {
    let container = running_containers_of(pod)
        .pop()
        .unwrap_or_else(|| panic!("pod {pod} has no running container"));
    docker(&["exec", &container, "sh", "-c", script])
}

/// Waits until `check` holds for the pod's containers.
pub async fn wait_docker(pod: &str, what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "pod {pod}: {what} never happened"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Removes the containers and volumes that match a `docker --filter` expression.
fn docker_cleanup(label: &str) {
    let script = format!(
        "docker ps -aq --filter {label} | xargs -r docker rm -f >/dev/null 2>&1; \
         docker volume ls -q --filter {label} | xargs -r docker volume rm -f >/dev/null 2>&1"
    );
    let _ = Command::new("sh").arg("-c").arg(script).status();
}

/// A cheap handle on a server's GraphQL endpoint that a spawned task can own and that
/// survives the server being killed.
#[derive(Clone)]
pub struct GraphqlClient {
    http: reqwest::Client,
    url: String,
    key: String,
}

impl GraphqlClient {
    /// Runs a query with the key as a Bearer header. `None` when no whole JSON answer
    /// arrived: the request failed, timed out or the server died before answering.
    pub async fn try_gql(&self, query: &str, variables: Value) -> Option<(u16, Value)> {
        let response = self
            .http
            .post(format!("{}/graphql", self.url))
            .bearer_auth(&self.key)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        let body = response.json().await.ok()?;
        Some((status, body))
    }
}

impl Server {
    /// A client for tasks that run concurrently with the test, calling as `key`.
    pub fn client(&self, key: &str) -> GraphqlClient {
        let http = reqwest::Client::builder()
            .timeout(WAIT)
            .build()
            .expect("HTTP client");
        GraphqlClient {
            http,
            url: self.url.clone(),
            key: key.to_string(),
        }
    }

    /// Posts a raw GraphQL body with the key as `Authorization: Bearer`.
    pub async fn post_bearer(&self, key: &str, body: &Value) -> (u16, Value) {
        let url = format!("{}/graphql", self.url);
        self.send(self.http.post(url).bearer_auth(key).json(body))
            .await
    }
}

/// One container of a pod as Docker shows it.
#[derive(Clone, Debug)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    /// The `podyard.generation` label; `None` when missing or not a number.
    pub generation: Option<u64>,
    pub running: bool,
}

/// Every container (running or not) of a pod, with its generation.
pub fn container_details(pod: &str) -> Vec<ContainerInfo> {
    let filter = format!("label=podyard.pod-id={pod}");
    let format = "{{.ID}}\t{{.Names}}\t{{.Label \"podyard.generation\"}}\t{{.State}}";
    docker(&["ps", "-a", "--filter", &filter, "--format", format])
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            Some(ContainerInfo {
                id: fields.next()?.to_string(),
                name: fields.next()?.to_string(),
                generation: fields.next()?.parse().ok(),
                running: fields.next()? == "running",
            })
        })
        .collect()
}

impl Server {
    /// Waits until the pod, as `key` sees it, reports a runtime: `wait_running` for a pod
    /// of another user than the admin.
    pub async fn wait_running_as(&self, key: &str, id: &str) -> Value {
        let query =
            format!("query Pod($id: String!) {{ pod(input: {{podId: $id}}) {{ {POD_FIELDS} }} }}");
        let deadline = Instant::now() + WAIT;
        loop {
            let (status, body) = self.gql_as(key, &query, json!({"id": id})).await;
            assert_eq!(status, 200, "{body}");
            let pod = body["data"]["pod"].clone();
            if !pod["runtime"].is_null() {
                return pod;
            }
            assert!(
                Instant::now() < deadline,
                "pod {id} never ran: {body}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The environment of a container (running or not) as `KEY=VALUE` lines.
pub fn container_env(container: &str) -> Vec<String> {
    let format = "{{range .Config.Env}}{{println .}}{{end}}";
    docker(&["inspect", "--format", format, container])
        .lines()
        .map(str::to_string)
        .collect()
}

/// The pod ids of all containers (running or not) that the agent of `machine_id` made.
pub fn pods_with_containers_on(machine_id: &str) -> Vec<String> {
    let filter = format!("label=podyard.machine-id={machine_id}");
    let format = "{{.Label \"podyard.pod-id\"}}";
    docker(&["ps", "-a", "--filter", &filter, "--format", format])
        .lines()
        .map(str::to_string)
        .collect()
}
