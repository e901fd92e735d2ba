"""deploy/k8s/: `kubectl kustomize` renders it, every object validates offline against the
Kubernetes schemas, and it keeps the promises the README makes (gVisor, restricted Pod Security,
no executor egress, HPA, the token Secret's format).

The schemas come with the `kubernetes-validate` package, so no cluster and no network are needed.
`kubectl` is installed with apt when missing (a test that cannot get it fails); a small renderer
here (namespace + labels, the only transformers the kustomization uses) must agree with it.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

K8S = Path(__file__).resolve().parents[3] / "deploy" / "k8s"
# The oldest Kubernetes minor still commonly run, and the newest the package knows.
VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
CLUSTER_SCOPED = {"Namespace", "RuntimeClass"}
WORKLOADS = {"Deployment", "StatefulSet"}

Doc = dict[str, Any]


def load_kustomization() -> Doc:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def render() -> list[Doc]:
    """Apply the kustomization's namespace and labels to its resources, as kustomize does."""
    kust = load_kustomization()
    labels: dict[str, str] = {}
    for entry in kust.get("labels", []):
        labels.update(entry["pairs"])
    docs = []
    for name in kust["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            doc = copy.deepcopy(doc)
            meta = doc["metadata"]
            if doc["kind"] not in CLUSTER_SCOPED:
                meta["namespace"] = kust["namespace"]
            meta.setdefault("labels", {}).update(labels)
            docs.append(doc)
    return docs


def by_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[Doc], kind: str, name: str) -> Doc:
    (doc,) = [d for d in by_kind(docs, kind) if d["metadata"]["name"] == name]
    return doc


def kubectl() -> str:
    """The kubectl binary, installed from the distribution's packages when missing."""
    found = shutil.which("kubectl")
    if found is None:
        for package in ("kubectl", "kubernetes-client"):
            subprocess.run(["apt-get", "install", "-y", "-q", package], capture_output=True,
                           timeout=600)  # fmt: skip
            found = shutil.which("kubectl")
            if found:
                break
    if found is None:
        pytest.fail("kubectl is missing and could not be installed (apt-get install kubectl)")
    return found


@pytest.fixture(scope="module")
def docs() -> list[Doc]:
    out = subprocess.run(
        [kubectl(), "kustomize", str(K8S)], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def test_kustomization_lists_exactly_the_manifest_files():
    listed = set(load_kustomization()["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_validates_against_the_kubernetes_schema(docs, version):
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_rejects_a_broken_manifest(docs):
    broken = copy.deepcopy(named(docs, "Deployment", "azr-executor"))
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)
    typo = copy.deepcopy(named(docs, "Service", "azr-executor"))
    typo["spec"]["portz"] = typo["spec"].pop("ports")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, VERSIONS[-1], strict=True)


def test_kubectl_kustomize_and_the_plain_renderer_agree(docs):
    key = lambda d: (d["kind"], d["metadata"]["name"], d["metadata"].get("namespace"))  # noqa: E731
    assert sorted(map(key, render())) == sorted(map(key, docs))


def test_the_token_secret_as_documented_is_what_the_executor_reads(docs):
    from azr_executor.settings import ExecutorSettings

    readme = (K8S.parents[1] / "docs" / "deploy-the-executor.md").read_text()
    literal = readme.split("create secret generic azr-executor-tokens --from-literal=tokens='")[1]
    value = literal.split("'")[0]
    assert ExecutorSettings(tokens=value).tokens == ["team-a-token", "team-b-token"]
    container = named(docs, "Deployment", "azr-executor")["spec"]["template"]["spec"]
    env = {e["name"]: e for e in container["containers"][0]["env"]}
    assert env["AZR_EXECUTOR_TOKENS"]["valueFrom"]["secretKeyRef"]["name"] == "azr-executor-tokens"
    # runsc 2022-12 refuses mounts in user namespaces: the Deployment says it accepts that
    assert env["AZR_EXECUTOR_ALLOW_WEAK_ISOLATION"]["value"] == "true"


def test_namespace_enforces_the_restricted_pod_security_profile(docs):
    labels = named(docs, "Namespace", "azr")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("name", ["azr-executor", "azr-buffer", "azr-postgres"])
def test_pods_meet_the_restricted_profile(docs, name):
    (workload,) = [d for d in docs if d["kind"] in WORKLOADS and d["metadata"]["name"] == name]
    pod = workload["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"]:
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert "limits" in container["resources"] and "requests" in container["resources"]
    assert not any(v.get("hostPath") for v in pod.get("volumes", []))
    assert not pod.get("hostNetwork") and not pod.get("hostPID")


@pytest.mark.parametrize("name", ["azr-executor", "azr-buffer"])
def test_services_run_under_gvisor(docs, name):
    assert named(docs, "RuntimeClass", "gvisor")["handler"] == "runsc"
    pod = named(docs, "Deployment", name)["spec"]["template"]["spec"]
    assert pod["runtimeClassName"] == "gvisor"


def test_executor_pods_have_no_egress(docs):
    selector = named(docs, "Deployment", "azr-executor")["spec"]["selector"]["matchLabels"]
    policies = [
        p
        for p in by_kind(docs, "NetworkPolicy")
        if p["spec"]["podSelector"]["matchLabels"] == selector
    ]
    assert policies, "no NetworkPolicy selects the executor pods"
    for policy in policies:
        assert "Egress" in policy["spec"]["policyTypes"]
        assert policy["spec"].get("egress", []) == []


def test_executor_scales_on_cpu_behind_a_service(docs):
    deployment = named(docs, "Deployment", "azr-executor")
    hpa = named(docs, "HorizontalPodAutoscaler", "azr-executor")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "azr-executor")
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert hpa["spec"]["minReplicas"] >= 2
    # CPU utilisation is relative to the request: without one the HPA cannot work.
    assert deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]
    service = named(docs, "Service", "azr-executor")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_buffer_uses_postgresql(docs):
    env = named(docs, "Deployment", "azr-buffer")["spec"]["template"]["spec"]["containers"][0][
        "env"
    ]
    url = next(e for e in env if e["name"] == "AZR_BUFFER_DATABASE_URL")
    assert url["valueFrom"]["secretKeyRef"]["name"] == "azr-buffer-db"
    postgres = named(docs, "StatefulSet", "azr-postgres")
    assert postgres["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
