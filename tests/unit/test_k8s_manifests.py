"""Static checks of the Kubernetes manifests under deploy/k8s.

No cluster and no kustomize binary: the tests load every YAML file, then render base,
infra and each overlay with a small stand-in for kustomize (resources, patches by file
or inline JSON patch, images), enough for these manifests. They check what a typo or a
forgotten edit would break: missing files, patches that match nothing, probes, security
context, settings names that the services would silently ignore (pydantic-settings skips
unknown variables), topics, committed secrets, and the overlays' Kafka replication
agreeing with the cluster it runs on.
"""

from __future__ import annotations

import copy
import functools
import os
import re
from pathlib import Path

import pytest
import yaml

from secondlook.probes import LIVENESS
from secondlook.settings import Settings
from services.topology import ALL_TOPICS

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
SERVICES = ("intake", "matching", "review", "notify")
TOPICS = (
    "secondlook.intake.events.v1",
    "secondlook.matching.events.v1",
    "secondlook.review.events.v1",
    "secondlook.notify.events.v1",
    "secondlook.control.redrive.v1",
    "secondlook.deadletter.v1",
)
GRPC_PORT, METRICS_PORT, FHIR_PORT = 50051, 9464, 8080
CONFIGMAP = "secondlook-config"
SECRET = "secondlook-secrets"
SECRET_ENV = {"SECONDLOOK_JWT_SECRET": "jwt-secret", "SECONDLOOK_MONGO_URI": "mongo-uri"}
OVERLAYS = ("dev", "prod")
YAML_FILES = sorted(p for p in K8S.rglob("*") if p.suffix in (".yaml", ".yml"))


# --- loading and a minimal kustomize ---------------------------------------------


@functools.cache
def _load(path: Path) -> tuple:
    with path.open() as f:
        return tuple(doc for doc in yaml.safe_load_all(f) if doc is not None)


def load(path: Path) -> list:
    return copy.deepcopy(list(_load(path)))


def kustomization(directory: Path) -> dict:
    return load(directory / "kustomization.yaml")[0]


def labels(doc: dict) -> dict:
    return doc.get("metadata", {}).get("labels") or {}


def strategic_merge(base, patch):
    """Maps merge, lists of named items merge by name, anything else is replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = strategic_merge(base[key], value) if key in base else value
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(i, dict) and "name" in i for i in base + patch)
    ):
        by_name = {i["name"]: i for i in base}
        for item in patch:
            by_name[item["name"]] = strategic_merge(by_name.get(item["name"], {}), item)
        return list(by_name.values())
    return patch


def json_patch(doc: dict, ops: list) -> None:
    """RFC 6902 `replace` and `add` on mappings, as the inline patches use."""
    for op in ops:
        assert op["op"] in ("replace", "add"), f"unsupported op {op}"
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        node = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = op["value"]
        else:
            assert op["op"] == "add" or last in node, f"replace of missing {op['path']} in {doc['metadata']['name']}"
            node[last] = op["value"]


def selects(target: dict, doc: dict) -> bool:
    wanted = dict(pair.split("=", 1) for pair in target.get("labelSelector", "").split(",") if pair)
    return (
        doc.get("kind") == target.get("kind", doc.get("kind"))
        and doc["metadata"]["name"] == target.get("name", doc["metadata"]["name"])
        and wanted.items() <= labels(doc).items()
    )


@functools.cache
def _render(directory: Path) -> tuple:
    k = kustomization(directory)
    docs = []
    for entry in k.get("resources", []):
        path = directory / entry
        docs += render(path) if path.is_dir() else load(path)
    for entry in k.get("patches", []):
        patch = load(directory / entry["path"])[0] if "path" in entry else yaml.safe_load(entry["patch"])
        target = entry.get("target") or {"kind": patch["kind"], "name": patch["metadata"]["name"]}
        matched = [d for d in docs if selects(target, d)]
        assert matched, f"{directory.name}: patch {entry.get('path', target)} matches no resource"
        for i, doc in enumerate(docs):
            if any(doc is m for m in matched):
                if isinstance(patch, list):
                    json_patch(doc, patch)
                else:
                    body = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind", "metadata")}
                    docs[i] = strategic_merge(doc, body)
    for image in k.get("images", []):
        for c in containers(docs):
            name, _, tag = c["image"].partition(":")
            if name == image["name"]:
                c["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag or 'latest')}"
    return tuple(docs)


def render(directory: Path) -> list:
    return copy.deepcopy(list(_render(directory)))


def of_kind(docs: list, kind: str) -> list:
    return [d for d in docs if d.get("kind") == kind]


def one(docs: list, kind: str, name: str) -> dict:
    found = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def containers(docs: list) -> list:
    return [c for d in of_kind(docs, "Deployment") for c in d["spec"]["template"]["spec"]["containers"]]


def services(overlay: str | None = None) -> list:
    """The base, or an overlay (base and infra, patched): what `kubectl apply -k` creates."""
    return render(K8S / "base") if overlay is None else render(K8S / "overlays" / overlay)


# --- files and kustomizations ------------------------------------------------------


def test_manifests_exist():
    names = {p.relative_to(K8S).as_posix() for p in YAML_FILES}
    for d in ("base", "infra", "overlays/dev", "overlays/prod"):
        assert f"{d}/kustomization.yaml" in names
    assert (K8S / "README.md").is_file()


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.relative_to(K8S).as_posix())
def test_every_document_is_a_kubernetes_object(path):
    docs = load(path)
    assert docs, "empty file"
    for doc in docs:
        assert isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"), doc
        if doc["kind"] != "Kustomization":
            assert doc.get("metadata", {}).get("name"), f"{doc['kind']} without a name"


KUSTOMIZATION_DIRS = sorted(p.parent for p in K8S.rglob("kustomization.yaml"))


@pytest.mark.parametrize("directory", KUSTOMIZATION_DIRS, ids=lambda p: p.relative_to(K8S).as_posix())
def test_kustomization_references_exist_and_every_file_is_used(directory):
    k = kustomization(directory)
    used = set()
    for entry in k.get("resources", []):
        path = (directory / entry).resolve()
        assert path.exists(), f"resource {entry} does not exist"
        if path.is_dir():
            assert (path / "kustomization.yaml").is_file(), f"{entry} is not a kustomization"
        used.add(path)
    for entry in k.get("patches", []):
        assert ("path" in entry) != ("patch" in entry), f"patch needs exactly one of path/patch: {entry}"
        if "path" in entry:
            path = (directory / entry["path"]).resolve()
            assert path.is_file(), f"patch {entry['path']} does not exist"
            # `patches` takes one patch per file; a second document would be ignored.
            assert len(load(path)) == 1, f"{entry['path']} holds more than one patch"
            used.add(path)
        else:
            assert isinstance(yaml.safe_load(entry["patch"]), (list, dict))
    assert "secretGenerator" not in k, "secrets are created out of band, not generated from the repo"
    for path in directory.glob("*.y*ml"):
        assert path.name == "kustomization.yaml" or path.resolve() in used, f"{path.name} is not referenced"


@pytest.mark.parametrize("where", ["base", "infra", *OVERLAYS])
def test_renders(where):
    directory = K8S / where if where in ("base", "infra") else K8S / "overlays" / where
    docs = render(directory)
    ids = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert len(ids) == len(set(ids)), "duplicate resources"


# --- the services --------------------------------------------------------------------


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_has_deployment_service_hpa_and_pdb(name):
    docs = services()
    deployment = one(docs, "Deployment", name)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", f"services.{name}"]

    service = one(docs, "Service", name)
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert GRPC_PORT in {p["port"] for p in service["spec"]["ports"]}

    hpa = one(docs, "HorizontalPodAutoscaler", name)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]

    pdb = one(docs, "PodDisruptionBudget", name)
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_only_the_four_services_are_deployed():
    assert sorted(d["metadata"]["name"] for d in of_kind(services(), "Deployment")) == sorted(SERVICES)


@pytest.mark.parametrize("overlay", [None, *OVERLAYS], ids=lambda o: o or "base")
def test_deployments_are_probed_hardened_and_bounded(overlay):
    for deployment in of_kind(services(overlay), "Deployment"):
        name = deployment["metadata"]["name"]
        pod = deployment["spec"]["template"]
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(METRICS_PORT), name
        tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for c in spec["containers"]:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert c[probe]["grpc"]["port"] == GRPC_PORT, f"{name}: {probe}"
            # Two distinct checks (secondlook/probes.py): readiness is the server's
            # overall status, liveness its own service name.
            assert c["readinessProbe"]["grpc"].get("service", "") == "", name
            assert c["livenessProbe"]["grpc"]["service"] == LIVENESS, name
            assert c["startupProbe"]["grpc"]["service"] == LIVENESS, name
            assert {p["containerPort"] for p in c["ports"]} >= {GRPC_PORT, METRICS_PORT}, name
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, name
            assert "ALL" in sc["capabilities"]["drop"], name
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= c["resources"][kind].keys(), f"{name}: {kind}"
            # The root filesystem is read-only: /tmp must be a writable emptyDir.
            assert any(m["mountPath"] == "/tmp" and m["name"] in tmp_volumes for m in c["volumeMounts"]), name
            if overlay is not None:
                assert c["image"] != "secondlook" and ":" in c["image"], f"{name}: image not pinned"


def _secondlook_names(node) -> set[str]:
    """Every SECONDLOOK_* key or env var name anywhere in a document."""
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and key.startswith("SECONDLOOK_"):
                found.add(key)
            if key == "name" and isinstance(value, str) and value.startswith("SECONDLOOK_"):
                found.add(value)
            found |= _secondlook_names(value)
    elif isinstance(node, list):
        for item in node:
            found |= _secondlook_names(item)
    return found


def test_every_secondlook_variable_is_a_settings_field():
    names = set()
    for path in YAML_FILES:
        for doc in load(path):
            names |= _secondlook_names(doc)
    assert {"SECONDLOOK_KAFKA_BOOTSTRAP_SERVERS", *SECRET_ENV} <= names  # the walk found them
    unknown = {n for n in names if n.removeprefix("SECONDLOOK_").lower() not in Settings.model_fields}
    assert not unknown, f"not fields of secondlook.settings.Settings: {sorted(unknown)}"


def test_secrets_come_only_from_the_out_of_band_secret():
    for path in YAML_FILES:
        for doc in load(path):
            assert not (doc["kind"] == "Secret" and (doc.get("data") or doc.get("stringData"))), (
                f"{path.name}: a Secret with values is committed"
            )
            if doc["kind"] == "ConfigMap":
                assert not SECRET_ENV.keys() & (doc.get("data") or {}).keys(), f"{path.name}: secret in a ConfigMap"
    for deployment in of_kind(services(), "Deployment"):
        for c in deployment["spec"]["template"]["spec"]["containers"]:
            env = {e["name"]: e for e in c.get("env", [])}
            for var, key in SECRET_ENV.items():
                assert env[var]["valueFrom"]["secretKeyRef"] == {"name": SECRET, "key": key}
            assert c["envFrom"] == [{"configMapRef": {"name": CONFIGMAP}}]


@pytest.mark.parametrize("name", ["intake", "review", "notify"])
def test_services_that_seal_phi_get_the_phi_keys(name):
    """intake (cases), review (what reviewers write), notify (webhook secrets) seal with
    the PHI key vault: the master key's Secret reaches them, as variables and as a file."""
    docs = services("dev")
    pod = one(docs, "Deployment", name)["spec"]["template"]["spec"]
    [c] = pod["containers"]
    refs = {e["valueFrom"]["secretKeyRef"]["key"] for e in c.get("env", [])
            if e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == "secondlook-phi"}
    assert refs == {"kms-credentials", "master-key"}, refs
    [volume] = [v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == "secondlook-phi"]
    [mount] = [m for m in c["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    key_file = one(docs, "ConfigMap", CONFIGMAP)["data"]["SECONDLOOK_PHI_LOCAL_MASTER_KEY_FILE"]
    assert key_file.startswith(mount["mountPath"] + "/")


def _policies_for(docs: list, pod_labels: dict) -> list:
    """(peers, ports) of every ingress rule that applies to a pod with these labels."""
    rules = []
    for policy in of_kind(docs, "NetworkPolicy"):
        if _selects(policy["spec"]["podSelector"], pod_labels):
            for rule in policy["spec"].get("ingress", []):
                rules.append((rule.get("from", []), {p["port"] for p in rule.get("ports", [])}))
    return rules


def test_network_policies():
    docs = services()
    assert any(
        p["spec"]["podSelector"] == {} and "Ingress" in p["spec"]["policyTypes"] and not p["spec"].get("ingress")
        for p in of_kind(docs, "NetworkPolicy")
    ), "no default deny of ingress"
    for name in SERVICES:
        pod_labels = one(docs, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        rules = _policies_for(docs, pod_labels)
        from_namespace = {port for peers, ports in rules if any("namespaceSelector" in p for p in peers) for port in ports}
        from_our_pods = {
            port
            for peers, ports in rules
            for peer in peers
            if (peer.get("podSelector") or {}).get("matchLabels", {}).get("app.kubernetes.io/part-of") == "secondlook"
            for port in ports
        }
        assert GRPC_PORT in from_our_pods, f"{name}: gRPC between services not allowed"
        assert METRICS_PORT in from_namespace, f"{name}: metrics not reachable from monitoring"
        if name == "intake":
            assert GRPC_PORT in from_namespace, "intake not reachable from the ingress"
            assert FHIR_PORT in from_namespace, "intake's FHIR endpoint not reachable from the ingress"
        else:
            assert FHIR_PORT not in from_namespace, f"{name} exposes a port it does not serve"
        if name == "matching":  # no client API
            assert GRPC_PORT not in from_namespace, "matching is exposed outside the namespace"


def _selects(selector: dict, pod_labels: dict) -> bool:
    """A label selector's verdict on a pod's labels (matchLabels, and matchExpressions' In)."""
    if not (selector.get("matchLabels") or {}).items() <= pod_labels.items():
        return False
    for expression in selector.get("matchExpressions") or []:
        assert expression["operator"] == "In", f"selector operator not checked here: {expression}"
        if pod_labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def _egress_rules_for(docs: list, pod_labels: dict) -> list:
    rules = []
    for policy in of_kind(docs, "NetworkPolicy"):
        if "Egress" not in policy["spec"]["policyTypes"]:
            continue
        if _selects(policy["spec"]["podSelector"], pod_labels):
            rules.extend(policy["spec"].get("egress", []))
    return rules


NOT_PUBLIC_V4 = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10"}
NOT_PUBLIC_V6 = {"::1/128", "fc00::/7", "fe80::/10"}


def test_egress_is_denied_by_default_and_only_notify_intake_and_review_reach_outside_on_443():
    """notify posts webhooks (and e-mails its SMTP relay); intake and review reach the
    cloud KMS of PHI encryption."""
    docs = services()
    assert any(
        "Egress" in p["spec"]["policyTypes"] and not p["spec"].get("egress")
        and (p["spec"]["podSelector"].get("matchLabels") or {}) == {"app.kubernetes.io/part-of": "secondlook"}
        for p in of_kind(docs, "NetworkPolicy")
    ), "no default deny of egress for the secondlook pods"
    for name in SERVICES:
        pod_labels = one(docs, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        rules = _egress_rules_for(docs, pod_labels)
        ports = {(p.get("protocol", "TCP"), p["port"]) for r in rules for p in r.get("ports", [])}
        assert {("UDP", 53), ("TCP", 53), ("TCP", 9092), ("TCP", 27017)} <= ports, f"{name}: {ports}"
        for rule in rules:  # nothing leaves without a port
            assert rule.get("ports"), f"{name}: an egress rule open on every port"
        blocks = [peer["ipBlock"] for r in rules for peer in r.get("to", []) if "ipBlock" in peer]
        if name not in ("notify", "intake", "review"):
            assert blocks == [], f"{name} may reach addresses outside the cluster"
            continue
        outside = [r for r in rules if any("ipBlock" in peer for peer in r.get("to", []))]
        smtp = [{("TCP", 587), ("TCP", 465)}] if name == "notify" else []
        assert sorted(({(p.get("protocol", "TCP"), p["port"]) for p in r["ports"]} for r in outside), key=len) \
            == [{("TCP", 443)}, *smtp]
        https = [r for r in outside if [p["port"] for p in r["ports"]] == [443]]
        by_cidr = {peer["ipBlock"]["cidr"]: set(peer["ipBlock"].get("except", []))
                   for r in https for peer in r["to"] if "ipBlock" in peer}
        assert NOT_PUBLIC_V4 <= by_cidr["0.0.0.0/0"], by_cidr
        assert NOT_PUBLIC_V6 <= by_cidr["::/0"], by_cidr


# --- Kafka, topics, MongoDB ------------------------------------------------------------


def test_topic_list_matches_the_code():
    assert set(TOPICS) == set(ALL_TOPICS)


def test_every_topic_has_a_kafka_topic():
    docs = render(K8S / "infra")
    (kafka,) = of_kind(docs, "Kafka")
    config = one(services(), "ConfigMap", CONFIGMAP)["data"]
    assert config["SECONDLOOK_KAFKA_BOOTSTRAP_SERVERS"] == f"{kafka['metadata']['name']}-kafka-bootstrap:9092"
    topics = {t["spec"].get("topicName", t["metadata"]["name"]): t for t in of_kind(docs, "KafkaTopic")}
    assert set(TOPICS) <= topics.keys(), f"missing KafkaTopic: {sorted(set(TOPICS) - topics.keys())}"
    for name in TOPICS:
        topic = topics[name]
        assert topic["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert labels(topic)["strimzi.io/cluster"] == kafka["metadata"]["name"], name
        assert topic["spec"]["partitions"] == int(config["SECONDLOOK_KAFKA_TOPIC_PARTITIONS"]) == 4, name
    for pool in of_kind(docs, "KafkaNodePool"):
        assert labels(pool)["strimzi.io/cluster"] == kafka["metadata"]["name"]


def test_mongodb_reaps_orphaned_transactions_soon_after_the_services_give_up_on_them():
    [mongo] = [d for d in load(K8S / "infra" / "mongodb.yaml") if d["kind"] == "MongoDBCommunity"]
    lifetime = mongo["spec"]["additionalMongodConfig"]["setParameter"]["transactionLifetimeLimitSeconds"]
    bound = Settings.model_fields["mongo_transaction_timeout_seconds"].default
    assert bound < lifetime <= bound + 10


def test_mongodb_is_a_replica_set():
    (mongo,) = of_kind(render(K8S / "infra"), "MongoDBCommunity")
    assert mongo["apiVersion"] == "mongodbcommunity.mongodb.com/v1"
    assert mongo["spec"]["type"] == "ReplicaSet" and mongo["spec"]["members"] == 3


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_settings_and_kafka_agree(overlay, monkeypatch):
    docs = render(K8S / "overlays" / overlay)
    config = one(docs, "ConfigMap", CONFIGMAP)["data"]

    # The values parse as Settings would read them in the pod.
    for var in [v for v in os.environ if v.startswith("SECONDLOOK_")]:
        monkeypatch.delenv(var)
    for var, value in {**config, "SECONDLOOK_JWT_SECRET": "x", "SECONDLOOK_MONGO_URI": "mongodb://m/"}.items():
        monkeypatch.setenv(var, value)
    settings = Settings()
    rf = settings.kafka_replication_factor

    brokers = sum(p["spec"]["replicas"] for p in of_kind(docs, "KafkaNodePool") if "broker" in p["spec"]["roles"])
    kafka_config = of_kind(docs, "Kafka")[0]["spec"]["kafka"]["config"]
    assert rf <= brokers
    for key in ("default.replication.factor", "offsets.topic.replication.factor", "transaction.state.log.replication.factor"):
        assert kafka_config[key] <= brokers, f"{key} > {brokers} brokers"
    assert kafka_config["transaction.state.log.min.isr"] <= kafka_config["transaction.state.log.replication.factor"]
    for topic in of_kind(docs, "KafkaTopic"):
        assert topic["spec"]["replicas"] == rf, topic["metadata"]["name"]
        assert topic["spec"]["partitions"] == settings.kafka_topic_partitions
        assert 1 <= int(topic["spec"]["config"]["min.insync.replicas"]) <= rf

    (mongo,) = of_kind(docs, "MongoDBCommunity")
    assert mongo["spec"]["members"] % 2 == 1, "an even member count gains no fault tolerance"
    # The services' user reaches every database they use: their own and the PHI key vault's.
    [user] = mongo["spec"]["users"]
    granted = {r["db"] for r in user["roles"] if r["name"] == "readWrite"}
    used = {settings.database_for(name) for name in SERVICES}
    assert granted == used | {settings.phi_key_vault_namespace.split(".", 1)[0]}, granted
    for hpa in of_kind(docs, "HorizontalPodAutoscaler"):
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]

    if overlay == "prod":
        assert config["SECONDLOOK_KAFKA_ENABLE_IDEMPOTENCE"] == "true" and settings.kafka_enable_idempotence
        assert rf == 3 and brokers >= 3 and mongo["spec"]["members"] == 3
        for topic in of_kind(docs, "KafkaTopic"):
            # Below the replica count, so writes continue with one broker down.
            assert int(topic["spec"]["config"]["min.insync.replicas"]) == rf - 1


def test_alerts_watch_metrics_the_services_export():
    from secondlook import metrics
    exported = {c._name for c in vars(metrics).values() if hasattr(c, "_name") and hasattr(c, "_type")}
    rules = [r for d in render(K8S / "overlays" / "prod") if d["kind"] == "PrometheusRule"
             for g in d["spec"]["groups"] for r in g["rules"]]
    assert {r["alert"] for r in rules} >= {"SecondlookReviewSlaBreached"}
    for rule in rules:
        names = set(re.findall(r"(secondlook_[a-z_]+)", rule["expr"]))
        if not names:  # the cluster's own state, from kube-state-metrics
            assert re.search(r"\bkube_[a-z_]+\{namespace=\"secondlook\"", rule["expr"]), rule["alert"]
            continue
        assert {n.removesuffix("_total") for n in names} <= exported, rule["alert"]
