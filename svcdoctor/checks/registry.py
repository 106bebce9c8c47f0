"""The explicit list of every check, in the order they are documented.

Add a check by writing one module under ``svcdoctor/checks/`` that defines ``CHECK`` and adding
one line here. IDs are stable: add new ones, never renumber. ``docs/checks.md`` is generated from
this list (``svcdoctor checks -o markdown``); a test fails when it is stale.
"""

from __future__ import annotations

from svcdoctor.checks import (
    sd001_unreadable,
    sd002_ignore_annotation,
    sd003_evidence_matches_nothing,
    sd101_service_missing,
    sd201_target_port_not_declared,
    sd202_named_target_port_missing,
    sd203_protocol_mismatch,
    sd204_node_port_conflict,
    sd205_load_balancer_pending,
    sd206_external_name_invalid,
    sd207_external_traffic_local,
    sd208_internal_traffic_local,
    sd209_no_selector_no_endpoints,
    sd210_headless_pitfalls,
    sd211_topology_zone_uncovered,
    sd212_affinity_external_ips,
    sd213_ingress_backend_port,
    sd214_gateway_route_cannot_reach,
    sd217_dual_stack,
    sd301_selector_matches_nothing,
    sd302_selector_several_workloads,
    sd401_pods_not_running,
    sd402_readiness_failing,
    sd403_readiness_gates,
    sd404_pods_terminating,
    sd405_restarting_often,
    sd501_no_endpoints,
    sd502_no_ready_endpoints,
    sd503_endpoints_stale,
    sd504_endpoint_ports,
    sd601_ingress_denied,
    sd602_egress_denied,
    sd603_dns_egress_denied,
    sd604_policy_port_confusion,
    sd605_who_can_reach,
    sd606_admin_policy_denies,
    sd607_cilium_policy_denies,
    sd701_name_does_not_resolve,
    sd702_wrong_answer,
    sd703_cluster_dns_unhealthy,
    sd704_short_name_other_namespace,
    sd705_client_dns_policy,
    sd706_service_env_vars,
    sd801_kube_proxy_not_running,
    sd802_no_cluster_ip_rules,
    sd803_rules_endpoints_mismatch,
    sd804_external_rules_missing,
    sd805_no_endpoints_reject,
    sd806_cilium_service_map,
    sd807_hairpin,
    sd901_pod_refuses,
    sd902_pod_drops,
    sd903_cluster_ip_fails,
    sd904_external_fails,
    sd905_probes_blind,
    sd906_probes_sent,
)
from svcdoctor.checks.interface import Check

CHECKS: tuple[Check, ...] = (
    sd001_unreadable.CHECK,
    sd002_ignore_annotation.CHECK,
    sd003_evidence_matches_nothing.CHECK,
    # 1 Does the Service exist?
    sd101_service_missing.CHECK,
    # 2 Is it defined correctly?
    sd201_target_port_not_declared.CHECK,
    sd202_named_target_port_missing.CHECK,
    sd203_protocol_mismatch.CHECK,
    sd204_node_port_conflict.CHECK,
    sd205_load_balancer_pending.CHECK,
    sd206_external_name_invalid.CHECK,
    sd207_external_traffic_local.CHECK,
    sd208_internal_traffic_local.CHECK,
    sd209_no_selector_no_endpoints.CHECK,
    sd210_headless_pitfalls.CHECK,
    sd211_topology_zone_uncovered.CHECK,
    sd212_affinity_external_ips.CHECK,
    sd213_ingress_backend_port.CHECK,
    sd214_gateway_route_cannot_reach.CHECK,
    sd217_dual_stack.CHECK,
    # 3 Does the selector select the Pods?
    sd301_selector_matches_nothing.CHECK,
    sd302_selector_several_workloads.CHECK,
    # 4 Are the Pods running and ready?
    sd401_pods_not_running.CHECK,
    sd402_readiness_failing.CHECK,
    sd403_readiness_gates.CHECK,
    sd404_pods_terminating.CHECK,
    sd405_restarting_often.CHECK,
    # 5 Does it have Endpoints?
    sd501_no_endpoints.CHECK,
    sd502_no_ready_endpoints.CHECK,
    sd503_endpoints_stale.CHECK,
    sd504_endpoint_ports.CHECK,
    # 6 Does NetworkPolicy allow it?
    sd601_ingress_denied.CHECK,
    sd602_egress_denied.CHECK,
    sd603_dns_egress_denied.CHECK,
    sd604_policy_port_confusion.CHECK,
    sd605_who_can_reach.CHECK,
    sd606_admin_policy_denies.CHECK,
    sd607_cilium_policy_denies.CHECK,
    # 7 Does it work by DNS name?
    sd701_name_does_not_resolve.CHECK,
    sd702_wrong_answer.CHECK,
    sd703_cluster_dns_unhealthy.CHECK,
    sd704_short_name_other_namespace.CHECK,
    sd705_client_dns_policy.CHECK,
    sd706_service_env_vars.CHECK,
    # 8 Is kube-proxy working?
    sd801_kube_proxy_not_running.CHECK,
    sd802_no_cluster_ip_rules.CHECK,
    sd803_rules_endpoints_mismatch.CHECK,
    sd804_external_rules_missing.CHECK,
    sd805_no_endpoints_reject.CHECK,
    sd806_cilium_service_map.CHECK,
    sd807_hairpin.CHECK,
    # 9 Does traffic get through?
    sd901_pod_refuses.CHECK,
    sd902_pod_drops.CHECK,
    sd903_cluster_ip_fails.CHECK,
    sd904_external_fails.CHECK,
    sd905_probes_blind.CHECK,
    sd906_probes_sent.CHECK,
)

BY_ID: dict[str, Check] = {check.id: check for check in CHECKS}


def get(check_id: str) -> Check | None:
    """The check with this ID (case-insensitive), or None."""
    return BY_ID.get(check_id.upper())
