"""deploy/k8s/ and its non-root variant deploy/k8s-nonroot/: `kubectl kustomize` renders them,
every object validates offline against the Kubernetes schemas, and they keep the promises the
docs make (gVisor, the executor as compose runs it, restricted Pod Security elsewhere, the
admission policy, no executor egress, HPA, the token Secret's format).

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
NONROOT = K8S.parent / "k8s-nonroot"
# What compose.yaml adds back for the executor, and what the Deployment and the admission policy
# must agree with.
EXECUTOR_CAPS = ["SETUID", "SETGID", "KILL", "CHOWN", "DAC_OVERRIDE", "SYS_ADMIN"]
# The oldest Kubernetes minor still commonly run, and the newest the package knows.
VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
CLUSTER_SCOPED = {
    "Namespace",
    "RuntimeClass",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
}
WORKLOADS = {"Deployment", "StatefulSet"}

Doc = dict[str, Any]


def load_kustomization() -> Doc:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def render() -> list[Doc]:
    """Apply the kustomization's labels to its resources, as kustomize does (each file names
    its namespace)."""
    kust = load_kustomization()
    labels: dict[str, str] = {}
    for entry in kust.get("labels", []):
        labels.update(entry["pairs"])
    docs = []
    for name in kust["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            doc = copy.deepcopy(doc)
            doc["metadata"].setdefault("labels", {}).update(labels)
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


def kustomize(path: Path) -> list[Doc]:
    out = subprocess.run(
        [kubectl(), "kustomize", str(path)], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.fixture(scope="module")
def docs() -> list[Doc]:
    return kustomize(K8S)


@pytest.fixture(scope="module")
def nonroot_docs() -> list[Doc]:
    return kustomize(NONROOT)


def executor_pod(docs: list[Doc]) -> Doc:
    pod: Doc = named(docs, "Deployment", "azr-executor")["spec"]["template"]["spec"]
    return pod


def test_kustomization_lists_exactly_the_manifest_files():
    listed = set(load_kustomization()["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_validates_against_the_kubernetes_schema(docs, nonroot_docs, version):
    for doc in docs + nonroot_docs:
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
    deployment = named(docs, "Deployment", "azr-executor")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["AZR_EXECUTOR_TOKENS"]["valueFrom"]["secretKeyRef"]["name"] == "azr-executor-tokens"
    # the Secret is created in the Deployment's namespace
    namespace = deployment["metadata"]["namespace"]
    assert f"kubectl -n {namespace} create secret generic azr-executor-tokens" in readme


@pytest.mark.parametrize("variant", ["docs", "nonroot_docs"])
def test_no_variant_accepts_the_weak_isolation_mode(variant, request):
    # The executor refuses to serve where runs would share the service's uid and files; no
    # shipped manifest tells it to accept that.
    container = executor_pod(request.getfixturevalue(variant))["containers"][0]
    assert "AZR_EXECUTOR_ALLOW_WEAK_ISOLATION" not in {e["name"] for e in container["env"]}


def test_only_the_executors_namespace_gives_up_the_restricted_profile(docs, nonroot_docs):
    level = "pod-security.kubernetes.io/enforce"
    assert named(docs, "Namespace", "azr")["metadata"]["labels"][level] == "restricted"
    assert named(docs, "Namespace", "azr-executor")["metadata"]["labels"][level] == "privileged"
    for name in ("azr", "azr-executor"):
        assert named(nonroot_docs, "Namespace", name)["metadata"]["labels"][level] == "restricted"
    for doc in docs:
        if doc["kind"] not in CLUSTER_SCOPED:
            executor = doc["metadata"]["name"] == "azr-executor"
            assert doc["metadata"]["namespace"] == ("azr-executor" if executor else "azr"), doc


def test_the_executor_runs_as_compose_runs_it(docs):
    compose = yaml.safe_load((K8S.parents[1] / "compose.yaml").read_text())["services"]["executor"]
    assert compose["user"] == "0:0" and compose["cap_add"] == EXECUTOR_CAPS
    pod = executor_pod(docs)
    assert pod["runtimeClassName"] == "gvisor"  # root with SYS_ADMIN, but gVisor's kernel's
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (0, 0)
    assert pod["securityContext"]["runAsNonRoot"] is False
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["capabilities"] == {"drop": ["ALL"], "add": EXECUTOR_CAPS}
    assert sc["privileged"] is False and sc["readOnlyRootFilesystem"] is True
    # The API server refuses allowPrivilegeEscalation: false next to "CAP_SYS_ADMIN" (not next
    # to "SYS_ADMIN"), and no_new_privs is what compose sets too.
    assert sc["allowPrivilegeEscalation"] is False
    assert not [c for c in sc["capabilities"]["add"] if c.startswith("CAP_")]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/run", "/tmp"} <= mounts  # the zygotes' work roots and uid locks; read-only root
    assert not any(v.get("hostPath") for v in pod["volumes"])


def test_the_admission_policy_keeps_the_executors_namespace_to_gvisor(docs):
    policy = named(docs, "ValidatingAdmissionPolicy", "azr-executor-pods")
    binding = named(docs, "ValidatingAdmissionPolicyBinding", "azr-executor-pods")
    assert binding["spec"]["policyName"] == "azr-executor-pods"
    assert binding["spec"]["validationActions"] == ["Deny"]
    selector = binding["spec"]["matchResources"]["namespaceSelector"]["matchLabels"]
    assert selector == {"kubernetes.io/metadata.name": "azr-executor"}
    assert policy["spec"]["failurePolicy"] == "Fail"
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rule["resources"] == ["pods"] and set(rule["operations"]) == {"CREATE", "UPDATE"}
    expressions = " ".join(v["expression"] for v in policy["spec"]["validations"])
    assert "object.spec.runtimeClassName == 'gvisor'" in expressions
    for needle in ("hostNetwork", "hostPID", "hostIPC", "hostPath", "privileged"):
        assert needle in expressions
    assert f"x in {EXECUTOR_CAPS!r}" in expressions.replace("\n", " ")


@pytest.mark.parametrize(
    ("variant", "name"),
    [("docs", "azr-buffer"), ("docs", "azr-postgres"), ("nonroot_docs", "azr-executor")],
)
def test_pods_meet_the_restricted_profile(variant, name, request):
    docs = request.getfixturevalue(variant)
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
