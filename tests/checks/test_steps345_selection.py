"""Step 3: SD301 (selector matches nothing, with its near misses) and SD302 (several workloads)."""

from __future__ import annotations

import pytest

from svcdoctor.checks import sd301_selector_matches_nothing as sd301
from svcdoctor.checks import sd302_selector_several_workloads as sd302
from svcdoctor.findings import Severity, Skip
from tests.checks.helpers import HTTP, PORTS, findings, new_cluster, ranked, report


def test_sd301_one_label_off_names_the_label() -> None:
    b = new_cluster()
    b.deployment("prod", "web", {"app": "web", "tier": "frontend"}, [b.container("web", "nginx:1.27", HTTP)])
    b.service("prod", "web", {"app": "web", "tier": "front"}, PORTS)
    [finding] = findings(sd301.CHECK, b, "prod", "web")
    assert "tier=frontend where the selector wants tier=front" in finding.message
    assert "Deployment prod/web" in finding.message


def test_sd301_key_typo() -> None:
    b = new_cluster()
    b.deployment("prod", "api", {"app.kubernetes.io/name": "api"}, [b.container("api", "api:1", HTTP)])
    b.service("prod", "api", {"app.kubernetes.io/nmae": "api"}, PORTS)
    [finding] = findings(sd301.CHECK, b, "prod", "api")
    assert "label key 'app.kubernetes.io/name'=api where the selector wants 'app.kubernetes.io/nmae'" in finding.message


def test_sd301_value_typo_with_a_single_label_selector() -> None:
    b = new_cluster()
    b.deployment("prod", "cart", {"app": "shopping-cart"}, [b.container("cart", "cart:1", HTTP)])
    b.deployment("prod", "db", {"app": "postgres"}, [b.container("db", "postgres:16", HTTP)])
    b.service("prod", "cart", {"app": "shoping-cart"}, PORTS)
    [finding] = findings(sd301.CHECK, b, "prod", "cart")
    assert "app=shopping-cart where the selector wants app=shoping-cart (a typo?)" in finding.message
    # A one-label selector makes every Pod "one label off": only the similar value is a near miss.
    assert "postgres" not in finding.message


def test_sd301_pods_in_another_namespace() -> None:
    b = new_cluster()
    b.namespace("staging")
    b.deployment("staging", "search", {"app": "search"}, [b.container("search", "search:1", HTTP)])
    b.service("prod", "search", {"app": "search"}, PORTS)
    [finding] = findings(sd301.CHECK, b, "prod", "search")
    assert "namespace staging would match" in finding.message
    assert "create the Service in staging" in finding.fix


def test_sd301_workload_scaled_to_zero() -> None:
    b = new_cluster()
    b.deployment("prod", "worker", {"app": "worker"}, [b.container("worker", "worker:1", HTTP)], replicas=0)
    b.service("prod", "worker", {"app": "worker"}, PORTS)
    [finding] = findings(sd301.CHECK, b, "prod", "worker")
    assert "scaled to 0 replicas" in finding.message
    assert "kubectl scale deployment worker -n prod --replicas=1" in finding.fix


def test_sd301_template_matches_but_the_controller_cannot_create_pods() -> None:
    b = new_cluster()
    b.deployment("prod", "billing", {"app": "billing"}, [b.container("billing", "billing:1", HTTP)], replicas=2,
                 states=[])
    replica_set = next(o for o in b.objects if o["kind"] == "ReplicaSet")
    replica_set["status"]["conditions"] = [{
        "type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
        "message": 'pods "billing-x" is forbidden: exceeded quota: compute, requested: cpu=2, used: cpu=8, limited: '
                   "cpu=8"}]
    b.service("prod", "billing", {"app": "billing"}, PORTS)
    [finding] = findings(sd301.CHECK, b, "prod", "billing")
    assert "exceeded quota" in finding.message


def test_sd301_is_silent_when_pods_match_and_skips_external_name() -> None:
    b = new_cluster()
    b.deployment("prod", "web", {"app": "web"}, [b.container("web", "nginx:1.27", HTTP)])
    b.service("prod", "web", {"app": "web"}, PORTS)
    b.service("prod", "docs", None, [], type="ExternalName", external_name="docs.example.com")
    assert findings(sd301.CHECK, b, "prod", "web") == []
    with pytest.raises(Skip):
        findings(sd301.CHECK, b, "prod", "docs")


def test_sd302_two_unrelated_deployments() -> None:
    b = new_cluster()
    b.deployment("prod", "storefront", {"app": "storefront", "tier": "web"}, [b.container("s", "shop/store:3", HTTP)])
    b.deployment("prod", "admin", {"app": "admin", "tier": "web"}, [b.container("a", "shop/admin:1", HTTP)],
                 replicas=1)
    b.service("prod", "web", {"tier": "web"}, PORTS)
    [finding] = findings(sd302.CHECK, b, "prod", "web")
    assert finding.severity is Severity.WARNING and finding.impact == "degraded"
    assert "Deployment prod/storefront (2 Pods" in finding.message and "Deployment prod/admin (1 Pod" in finding.message


def test_sd302_rollout_is_one_workload() -> None:
    b = new_cluster()
    labels = {"app": "api"}
    b.deployment("prod", "api", labels, [b.container("api", "api:1.0", HTTP)], replicas=2)
    b.replica_set("prod", "api", [b.container("api", "api:1.1", HTTP)], labels=labels, states=["running"])
    b.service("prod", "api", labels, PORTS)
    assert findings(sd302.CHECK, b, "prod", "api") == []
    assert report(b, "prod", "api").verdict == "ok"


def test_sd302_rollout_with_the_deployment_object_missing_is_still_one_workload() -> None:
    b = new_cluster()
    labels = {"app": "api"}
    b.deployment("prod", "api", labels, [b.container("api", "api:1.0", HTTP)], replicas=1)
    b.replica_set("prod", "api", [b.container("api", "api:1.1", HTTP)], labels=labels, states=["running"])
    b.service("prod", "api", labels, PORTS)
    b.forget(next(o for o in b.objects if o["kind"] == "Deployment"))
    assert findings(sd302.CHECK, b, "prod", "api") == []


def test_sd302_canary_with_the_same_image_is_info() -> None:
    b = new_cluster()
    b.deployment("prod", "api", {"app": "api", "track": "stable"}, [b.container("api", "reg.io/api:1.0", HTTP)])
    b.deployment("prod", "api-canary", {"app": "api", "track": "canary"},
                 [b.container("api", "reg.io/api:1.1", HTTP)], replicas=1)
    b.service("prod", "api", {"app": "api"}, PORTS)
    [finding] = findings(sd302.CHECK, b, "prod", "api")
    assert finding.severity is Severity.INFO
    assert report(b, "prod", "api").verdict == "ok"


def test_sd302_finished_job_pods_do_not_count() -> None:
    b = new_cluster()
    b.deployment("prod", "web", {"app": "web"}, [b.container("web", "nginx:1.27", HTTP)])
    b.pod("prod", "migrate-28861", {"app": "web"}, [b.container("migrate", "web-migrate:1")], state="completed")
    b.service("prod", "web", {"app": "web"}, PORTS)
    assert findings(sd302.CHECK, b, "prod", "web") == []


def test_sd302_a_stray_hand_made_pod() -> None:
    b = new_cluster()
    b.deployment("prod", "web", {"app": "web"}, [b.container("web", "nginx:1.27", HTTP)])
    b.pod("prod", "debug-shell", {"app": "web"}, [b.container("shell", "busybox:1.36", HTTP)])
    b.service("prod", "web", {"app": "web"}, PORTS)
    [finding] = findings(sd302.CHECK, b, "prod", "web")
    assert "Pods without a controller" in finding.message
    assert ranked(report(b, "prod", "web"))[0] == "SD302"
