"""dstack's RunPod backend against podyard.

dstack has no setting for RunPod's URL: its API client posts to the module constant
`API_URL`, read at each request, so the tests point that constant at podyard. The calls
are dstack's own: the configurator's key check, the API client's create (with the
`dockerArgs` JSON and `minCudaVersion` dstack sends), `wait_for_instance`, and the
compute's `update_provisioning_data` and `terminate_instance`.
"""

from types import SimpleNamespace

import pytest
from dstack._internal.core.backends.runpod import api_client as runpod_api
from dstack._internal.core.backends.runpod import compute as runpod_compute
from dstack._internal.core.backends.runpod.configurator import RunpodConfigurator
from dstack._internal.core.backends.runpod.models import (
    RunpodAPIKeyCreds,
    RunpodBackendConfigWithCreds,
    RunpodConfig,
)
from dstack._internal.core.consts import DSTACK_RUNNER_SSH_PORT
from dstack._internal.core.errors import BackendInvalidCredentialsError, ServerClientError

from conftest import IMAGE, RTX_4090, containers_of, exec_in, wait_for

REGION = "LOCAL-1"


@pytest.fixture
def dstack_url(podyard, monkeypatch):
    monkeypatch.setattr(runpod_api, "API_URL", podyard.graphql_url)


@pytest.fixture
def compute(podyard, dstack_url, monkeypatch):
    """dstack's RunPod compute with the admin's key. The commands dstack puts in
    `dockerArgs` set up its runner with tools busybox lacks; these run instead, in the
    same JSON envelope that dstack builds."""
    monkeypatch.setattr(
        runpod_compute,
        "get_docker_commands",
        lambda keys: [f"echo '{keys[0]}' > /tmp/authorized_keys", "sleep infinity"],
    )
    config = RunpodConfig(creds=RunpodAPIKeyCreds(api_key=podyard.key))
    return runpod_compute.RunpodCompute(config)


def one_gpu_offer(podyard):
    """What podyard offers for one RTX 4090: dstack's offer would carry these figures
    (dstack takes its offers from gpuhunt's catalog of RunPod's cloud, not from the API)."""
    query = """query { gpuTypes(input: {id: "%s"}) { lowestPrice(input: {gpuCount: 1}) {
        minimumBidPrice uninterruptablePrice minVcpu minMemory } } }""" % RTX_4090
    return podyard.gql(query)["gpuTypes"][0]["lowestPrice"]


def create_like_dstack(compute, podyard, pods, name, bid_per_gpu=None):
    """Creates a pod with the arguments dstack's `create_instance` passes for a one-GPU
    secure-cloud offer."""
    offer = one_gpu_offer(podyard)
    pod = compute.api_client.create_pod(
        name=name,
        image_name=IMAGE,
        container_registry_auth_id=None,
        gpu_type_id=RTX_4090,
        cloud_type="SECURE",
        data_center_id=REGION,
        country_code=None,
        gpu_count=1,
        container_disk_in_gb=20,
        min_vcpu_count=offer["minVcpu"],
        min_memory_in_gb=offer["minMemory"],
        support_public_ip=True,
        docker_args=runpod_compute._get_docker_args(["ssh-ed25519 AAAA compat"]),
        ports=f"{DSTACK_RUNNER_SSH_PORT}/tcp",
        bid_per_gpu=bid_per_gpu,
        network_volume_id=None,
        volume_mount_path=None,
        env={"RUNPOD_POD_USER": "0"},
    )
    pods.append(pod["id"])
    return pod


def test_the_configurator_accepts_the_key_and_refuses_a_wrong_one(podyard, dstack_url):
    configurator = RunpodConfigurator()
    good = RunpodBackendConfigWithCreds(creds=RunpodAPIKeyCreds(api_key=podyard.key))
    configurator.validate_config(good, default_creds_enabled=False)

    assert runpod_api.RunpodApiClient(podyard.key).validate_api_key()
    assert not runpod_api.RunpodApiClient("not-a-podyard-key").validate_api_key()
    bad = RunpodBackendConfigWithCreds(creds=RunpodAPIKeyCreds(api_key="not-a-podyard-key"))
    with pytest.raises(ServerClientError):
        configurator.validate_config(bad, default_creds_enabled=False)


def test_a_wrong_key_is_an_invalid_credentials_error(dstack_url):
    with pytest.raises(BackendInvalidCredentialsError):
        runpod_api.RunpodApiClient("not-a-podyard-key").get_user_details()


def test_an_on_demand_pod_runs_dstacks_start_command_and_publishes_its_port(
    compute, podyard, pods
):
    created = create_like_dstack(compute, podyard, pods, "dstack-on-demand")
    pod_id = created["id"]
    assert created["imageName"] == IMAGE
    assert created["lastStatusChange"].startswith("Rented by User: ")
    assert created["machine"]["podHostId"].startswith(f"{pod_id}-")

    pod = compute.api_client.wait_for_instance(pod_id)
    assert pod is not None, "the pod never reported a runtime"
    assert pod["podType"] == "RESERVED"
    assert pod["desiredStatus"] == "RUNNING"
    # dstack's entrypoint and cmd ran: `sh -c "<commands joined by &&>"`.
    keys = wait_for("dstack's start command", lambda: exec_in(pod_id, "cat /tmp/authorized_keys"))
    assert keys == "ssh-ed25519 AAAA compat"
    assert exec_in(pod_id, "echo $RUNPOD_POD_USER") == "0"

    provisioning = SimpleNamespace(instance_id=pod_id, hostname=None, ssh_port=None)
    compute.update_provisioning_data(provisioning, "", "")
    assert provisioning.hostname
    assert provisioning.ssh_port and provisioning.ssh_port != DSTACK_RUNNER_SSH_PORT


def test_a_spot_pod_is_created_at_dstacks_bid(compute, podyard, pods):
    offer = one_gpu_offer(podyard)
    bid = round((offer["minimumBidPrice"] + offer["uninterruptablePrice"]) / 2, 2)

    created = create_like_dstack(compute, podyard, pods, "dstack-spot", bid_per_gpu=bid)
    pod = compute.api_client.get_pod(created["id"])
    assert pod["podType"] == "INTERRUPTABLE"
    assert pod["costPerHr"] == bid
    assert compute.api_client.wait_for_instance(created["id"]) is not None


def test_terminating_twice_is_seen_by_dstack_as_already_gone(compute, podyard, pods):
    pod_id = create_like_dstack(compute, podyard, pods, "dstack-terminate")["id"]

    compute.terminate_instance(pod_id, REGION)
    assert compute.api_client.get_pod(pod_id) is None
    wait_for("the pod's containers removed", lambda: not containers_of(pod_id))

    with pytest.raises(runpod_api.RunpodApiClientError) as raised:
        compute.api_client.terminate_pod(pod_id)
    assert raised.value.errors[0]["message"] == "pod not found to terminate"
    # dstack's own check: a second terminate is skipped, not raised.
    compute.terminate_instance(pod_id, REGION)
