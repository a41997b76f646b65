"""The `runpod` Python SDK against podyard, unchanged but for `RUNPOD_API_BASE_URL`.

Runs under each pinned SDK version (scripts/compat.sh gives each its own venv): 1.12.0
sends the key as `Authorization: Bearer`, 1.7.7 as `?api_key=`. The SDK reads
`RUNPOD_API_BASE_URL` on every call and posts to `<base>/graphql`.
"""

import pytest
import requests

from conftest import IMAGE, RTX_4090, containers_of, exec_in, volumes_of, wait_for

HOST_GPUS_BUSY = "There are not enough free GPUs on the host machine to start this pod."


@pytest.fixture
def runpod(podyard, monkeypatch):
    """The SDK module, pointed at podyard with the admin's key."""
    monkeypatch.setenv("RUNPOD_API_BASE_URL", podyard.base_url)
    import runpod as sdk

    monkeypatch.setattr(sdk, "api_key", podyard.key)
    return sdk


def create_busybox_pod(runpod, pods, name, gpu_count=1, **extra):
    """Creates a pod the way the SDK's README does, with the local test image."""
    pod = runpod.create_pod(
        name, IMAGE, RTX_4090, gpu_count=gpu_count, docker_args="sleep infinity", **extra
    )
    pods.append(pod["id"])
    return pod


def test_the_sdk_sends_the_key_the_way_its_version_does(runpod, podyard, monkeypatch):
    sent = []
    real_post = requests.post

    def recording_post(url, *args, **kwargs):
        sent.append((url, kwargs.get("headers", {})))
        return real_post(url, *args, **kwargs)

    monkeypatch.setattr(requests, "post", recording_post)
    runpod.get_user()

    url, headers = sent[0]
    if runpod.__version__ == "1.7.7":
        assert url == f"{podyard.graphql_url}?api_key={podyard.key}"
        assert "Authorization" not in headers
    else:
        assert url == podyard.graphql_url
        assert headers["Authorization"] == f"Bearer {podyard.key}"


def test_get_gpus_lists_the_catalog_with_integer_memory(runpod):
    gpus = {gpu["id"]: gpu for gpu in runpod.get_gpus()}
    assert RTX_4090 in gpus
    assert gpus[RTX_4090]["displayName"] == "RTX 4090"
    memory = gpus[RTX_4090]["memoryInGb"]
    assert memory == 24 and isinstance(memory, int)


def test_get_gpu_reports_prices_and_the_lowest_price(runpod):
    gpu = runpod.get_gpu(RTX_4090)
    assert gpu["id"] == RTX_4090
    assert gpu["maxGpuCount"] == 4
    assert gpu["secureCloud"] is True
    assert gpu["securePrice"] > gpu["secureSpotPrice"] > 0
    lowest = gpu["lowestPrice"]
    assert lowest["uninterruptablePrice"] == gpu["securePrice"]
    assert lowest["minimumBidPrice"] == gpu["secureSpotPrice"]
    # Fields podyard does not have are answered as null, not refused.
    assert gpu["cudaCores"] is None
    assert gpu["oneMonthPrice"] is None


def test_get_gpu_of_an_unknown_type_raises_the_sdks_value_error(runpod):
    with pytest.raises(ValueError, match="No GPU found"):
        runpod.get_gpu("NVIDIA GeForce RTX 9999")


def test_get_user_returns_the_caller(runpod, podyard):
    user = runpod.get_user()
    myself = podyard.gql("{ myself { id } }")["myself"]
    assert user["id"] == myself["id"]
    assert user["networkVolumes"] == []


def test_a_pod_lives_through_create_stop_resume_and_terminate(runpod, podyard, pods):
    env = {"GREETING": "hello world", "EQUATION": "a=b=c"}
    created = create_busybox_pod(
        runpod, pods, "sdk-lifecycle", env=env, ports="8888/http, 22/tcp", volume_in_gb=5
    )
    pod_id = created["id"]
    assert created["imageName"] == IMAGE
    assert "GREETING=hello world" in created["env"]
    assert created["machine"]["podHostId"].startswith(f"{pod_id}-")

    # get_pod and get_pods show it; the runtime appears once the container runs.
    pod = wait_for("the pod's runtime", lambda: runpod.get_pod(pod_id)["runtime"])
    pod = runpod.get_pod(pod_id)
    assert pod["desiredStatus"] == "RUNNING"
    assert pod["gpuCount"] == 1
    assert pod["ports"] == "8888/http,22/tcp"
    assert pod["volumeInGb"] == 5 and isinstance(pod["volumeInGb"], int)
    assert pod["volumeMountPath"] == "/runpod-volume"
    assert pod["machine"]["gpuDisplayName"] == "RTX 4090"
    private = sorted(p["privatePort"] for p in pod["runtime"]["ports"])
    assert private == [22, 8888]
    assert all(p["publicPort"] > 0 for p in pod["runtime"]["ports"])
    assert pod_id in [p["id"] for p in runpod.get_pods()]

    # The container got the env byte for byte and the volume at the SDK's default path.
    assert exec_in(pod_id, 'echo "$GREETING|$EQUATION"') == "hello world|a=b=c"
    exec_in(pod_id, "echo kept > /runpod-volume/marker")

    stopped = runpod.stop_pod(pod_id)
    assert stopped == {"id": pod_id, "desiredStatus": "EXITED"}
    wait_for("the stopped pod's container removed", lambda: not containers_of(pod_id))
    assert runpod.get_pod(pod_id)["runtime"] is None

    resumed = runpod.resume_pod(pod_id, 1)
    assert resumed["id"] == pod_id
    assert resumed["desiredStatus"] == "RUNNING"
    assert resumed["machineId"] == created["machineId"]
    wait_for("the resumed pod's runtime", lambda: runpod.get_pod(pod_id)["runtime"])
    assert exec_in(pod_id, "cat /runpod-volume/marker") == "kept"

    assert runpod.terminate_pod(pod_id) is None
    assert runpod.get_pod(pod_id) is None
    assert pod_id not in [p["id"] for p in runpod.get_pods()]
    wait_for("the pod's containers removed", lambda: not containers_of(pod_id))
    wait_for("the pod's volume removed", lambda: not volumes_of(pod_id))


def test_resume_on_a_full_host_raises_runpods_message(runpod, pods):
    stopped = create_busybox_pod(runpod, pods, "sdk-waiting")["id"]
    runpod.stop_pod(stopped)
    create_busybox_pod(runpod, pods, "sdk-filler", gpu_count=4)

    with pytest.raises(runpod.error.QueryError) as raised:
        runpod.resume_pod(stopped, 1)
    assert str(raised.value) == HOST_GPUS_BUSY
    assert runpod.get_pod(stopped)["desiredStatus"] == "EXITED"


def test_a_wrong_key_raises_the_sdks_authentication_error(runpod, monkeypatch):
    monkeypatch.setattr(runpod, "api_key", "not-a-podyard-key")
    with pytest.raises(runpod.error.AuthenticationError):
        runpod.get_user()
    with pytest.raises(runpod.error.AuthenticationError):
        runpod.get_pods()
