"""SD706 — The client finds the Service by environment variables that its container does not have.

What it detects:
    The client Pod's containers use the Service's discovery variables — ``<NAME>_SERVICE_HOST``,
    ``<NAME>_SERVICE_PORT[_<PORT>]`` or the Docker-link style ``<NAME>_PORT[_<N>_<PROTO>[_ADDR|_PORT|_PROTO]]``
    (``NAME`` the Service's name in upper case, ``-`` as ``_``) — in their ``env`` values, ``command``
    or ``args``, and the kubelet did not give them those variables: the container started
    (``state.running.startedAt``) before the Service was created (or deleted and re-created with a
    new ClusterIP), the Pod has ``enableServiceLinks: false``, the Service lives in another
    namespace, or it has no ClusterIP (headless, ExternalName).

    With ``--manifests`` every workload's Pod template counts as a client (no ``--from`` needed):
    the template's ``enableServiceLinks: false``, its namespace and the Service's type are
    checked; when its containers start against when the Service is created needs a running
    cluster and is said to be not checked. Without the variables read in any template it says
    nothing (skipped).

Why it matters:
    The kubelet writes these variables when a container starts, for the Services of the Pod's own
    namespace that exist at that moment, and never updates them while it runs. A client that reads
    them gets an empty host (or the old ClusterIP of a re-created Service) and cannot connect,
    while the Service itself is healthy and its DNS name works.

    With ``enableServiceLinks: false`` only ``KUBERNETES_SERVICE_*`` is injected.

How to fix:
    Use the Service's DNS name (``<name>.<namespace>.svc``) instead of the variables. Until then,
    restart the client (``kubectl rollout restart``) after the Service exists, and keep
    ``enableServiceLinks`` on (or set the variable yourself in ``env``).

Example:
    The scenario fixtures/scenarios/service-env-vars-before-service: the worker Deployment reads
    ``$(LEDGER_SERVICE_HOST)``; its Pod started before the ledger Service was created.

    $ cd fixtures/scenarios/service-env-vars-before-service
    $ svcdoctor check ledger -n bank --from bank/worker-n6wc48jw7-d6wtb --snapshot snapshot.yaml
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from svcdoctor import k8s
from svcdoctor.checks.interface import CLIENT_HOW, Check, CheckDoc, Context
from svcdoctor.findings import Evidence, Finding, NotChecked, Skip
from svcdoctor.k8s import Obj


def variable_prefix(service_name: str) -> str:
    """The kubelet's name for a Service in its variables: upper case, ``-`` as ``_``."""
    return service_name.upper().replace("-", "_")


def _pattern(prefix: str) -> re.Pattern[str]:
    # The names the kubelet writes: <P>_SERVICE_HOST, <P>_SERVICE_PORT(_NAME), <P>_PORT(_N_PROTO(_X)).
    return re.compile(rf"(?<![A-Za-z0-9_]){re.escape(prefix)}_(?:SERVICE_HOST|SERVICE_PORT(?:_[A-Z0-9_]+)?|"
                      rf"PORT(?:_\d+_(?:TCP|UDP|SCTP)(?:_ADDR|_PORT|_PROTO)?)?)(?![A-Za-z0-9_])")


def _uses(container: Mapping[str, object], pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    """(field, text) of each place the container reads one of the variables."""
    found = []
    for index, item in enumerate(k8s.as_list(container.get("env"))):
        if isinstance(item, Mapping) and isinstance(item.get("value"), str) and pattern.search(item["value"]):
            found.append((f"env[{index}].value", item["value"]))
    for key in ("command", "args"):
        for index, word in enumerate(k8s.as_list(container.get(key))):
            if isinstance(word, str) and pattern.search(word):
                found.append((f"{key}[{index}]", word))
    return found


def _own(container: Mapping[str, object], pattern: re.Pattern[str]) -> bool:
    """Whether the container sets such a variable itself (then the kubelet's is not needed)."""
    return any(isinstance(item, Mapping) and pattern.fullmatch(str(item.get("name") or ""))
               for item in k8s.as_list(container.get("env")))


def _started(pod: Mapping[str, object], name: str, init: bool) -> str:
    key = "initContainerStatuses" if init else "containerStatuses"
    for status in k8s.as_list(k8s.status(pod).get(key)):
        if isinstance(status, Mapping) and status.get("name") == name:
            state = k8s.as_map(status.get("state"))
            return str(k8s.as_map(state.get("running")).get("startedAt")
                       or k8s.as_map(state.get("terminated")).get("startedAt") or "")
    return ""


def run(context: Context) -> Iterator[Finding]:
    service = context.require_service()
    if context.snapshot.static:
        # Before deploy every workload template is a client: what its spec shows is checked, when its
        # containers start against when the Service is created is not.
        readers = [pod for pod in context.snapshot.pods if pod_reads(context, pod)]
        if not readers:
            raise Skip("no Pod template reads the Service's environment variables")
        for pod in readers:
            yield from _findings(context, service, pod, False)
        context.note_unverified("whether the containers that read the variables start after the Service is "
                                "created (state.running.startedAt against metadata.creationTimestamp)",
                                "needs a running cluster: svcdoctor check NAME -n NS --from NS/POD")
        return
    if context.client is None:
        raise NotChecked("no client", CLIENT_HOW)
    client_pod = context.require_client_pod()
    if client_pod is None:
        raise Skip("the client is not a Pod (--from NS/POD)")
    yield from _findings(context, service, client_pod, True)


def pod_reads(context: Context, pod: Obj) -> bool:
    """Whether a container of ``pod`` reads the Service's variables without setting them itself."""
    pattern = _pattern(variable_prefix(context.target.name))
    containers = [*k8s.as_list(k8s.spec(pod).get("containers")), *k8s.as_list(k8s.spec(pod).get("initContainers"))]
    return any(isinstance(item, Mapping) and _uses(item, pattern) and not _own(item, pattern) for item in containers)


def _findings(context: Context, service: Obj, pod: Obj, started_known: bool) -> Iterator[Finding]:
    """The reasons ``pod``'s containers lack the variables they read (start times only when ``started_known``)."""
    pattern = _pattern(variable_prefix(context.target.name))
    ref = k8s.ref(pod)
    spec = k8s.spec(pod)
    created_text = str(k8s.meta(service).get("creationTimestamp") or "")
    created = k8s.parse_time(created_text)
    links_off = spec.get("enableServiceLinks") is False
    other_namespace = ref.namespace != context.target.namespace
    no_address = k8s.service_type(service) == "ExternalName" or k8s.is_headless(service)
    containers = [(item, False) for item in k8s.as_list(spec.get("containers"))]
    containers += [(item, True) for item in k8s.as_list(spec.get("initContainers"))]
    for container, init in containers:
        if not isinstance(container, Mapping):
            continue
        uses = _uses(container, pattern)
        if not uses or _own(container, pattern):
            continue
        name = str(container.get("name") or "")
        kind = "initContainers" if init else "containers"
        evidence = [Evidence(ref, f"spec.{kind}[{name}].{field}", text, "reads the Service's variables")
                    for field, text in uses[:3]]
        started_text = _started(pod, name, init) if started_known else ""
        started = k8s.parse_time(started_text)
        if other_namespace:
            reason = (f"the kubelet injects variables only for Services of the Pod's own namespace "
                      f"({ref.namespace}), and {context.target.name} is in {context.target.namespace}")
        elif links_off:
            reason = "the Pod has enableServiceLinks: false, so the kubelet injects only KUBERNETES_SERVICE_*"
            evidence.append(Evidence(ref, "spec.enableServiceLinks", False))
        elif no_address:
            reason = "the Service has no ClusterIP (headless or ExternalName), and the kubelet writes none for it"
            evidence.append(Evidence(context.service_ref, "spec.clusterIP", k8s.spec(service).get("clusterIP")))
        elif started is not None and created is not None and started < created:
            reason = (f"container {name} started at {started_text}, before the Service was created at "
                      f"{created_text} (or re-created with a new ClusterIP): the variables are written at "
                      "container start and never updated")
            evidence += [Evidence(ref, f"status.containerStatuses[{name}].state.running.startedAt", started_text),
                         Evidence(context.service_ref, "metadata.creationTimestamp", created_text)]
        else:
            continue
        template = str(k8s.object_annotations(pod).get(k8s.TEMPLATE_OF) or "")
        who = f"The Pod template of {template}" if template else f"Client {ref.namespace}/{ref.name}"
        look = (f"kubectl exec -n {ref.namespace} {ref.name} -c {name} -- env | grep "
                f"{variable_prefix(context.target.name)}_" if not template else
                f"kubectl get {template.split()[0].lower()} {template.split('/')[-1]} -n {ref.namespace} -o yaml")
        yield CHECK.finding(
            f"{who} (container {name}) finds {context.target.name} through the "
            f"environment variables {variable_prefix(context.target.name)}_SERVICE_HOST/_PORT, but it does "
            f"not have them: {reason}.",
            evidence=evidence, subject=ref, subject_field=evidence[0].field, key=f"{ref.namespace}/{ref.name}/{name}",
            next=[look, f"kubectl get svc {context.target.name} -n {context.target.namespace} "
                        "-o jsonpath='{.metadata.creationTimestamp} {.spec.clusterIP}'"],
        )


CHECK = Check(
    id="SD706",
    name="service-env-vars-missing",
    step=7,
    doc=CheckDoc.parse(__doc__),
    run=run,
    needs=("services", "pods"),
)
