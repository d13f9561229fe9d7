"""Hypothesis strategies that build valid environments of random shape."""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import strategies as st

from provisioner.spec.kinds.key_pair import KeyPairSpec
from provisioner.spec.kinds.network import NetworkSpec
from provisioner.spec.kinds.security_group import RuleSpec, SecurityGroupSpec
from provisioner.spec.kinds.software import RoleSpec
from provisioner.spec.kinds.subnet import SubnetSpec
from provisioner.spec.kinds.vm import VmGroupSpec
from provisioner.spec.model import Environment


@st.composite
def environments(draw: st.DrawFn, max_vm_groups: int = 4) -> Environment:
    """A valid environment: acyclic `after:` lists and peer groups, references to real VMs."""
    network_count = draw(st.integers(1, 3))
    networks = {
        f"net{n}": NetworkSpec(cidr=ipaddress.IPv4Network(f"10.{n}.0.0/16"))
        for n in range(network_count)
    }
    subnets: dict[str, SubnetSpec] = {}
    for n in range(network_count):
        for s in range(draw(st.integers(1, 3))):
            subnets[f"sub{n}-{s}"] = SubnetSpec(
                network=f"net{n}",
                cidr=ipaddress.IPv4Network(f"10.{n}.{s}.0/24"),
                public=draw(st.booleans()),
            )
    groups: dict[str, SecurityGroupSpec] = {}
    for n in range(network_count):
        names: list[str] = []
        for g in range(draw(st.integers(0, 3))):
            peers = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
            rules = [RuleSpec(protocol="tcp", ports=(22, 22), group=p) for p in peers]
            name = f"sg{n}-{g}"
            groups[name] = SecurityGroupSpec(network=f"net{n}", ingress=rules)
            names.append(name)
    keys = {f"key{k}": KeyPairSpec() for k in range(draw(st.integers(0, 2)))}
    role_names = [f"role{r}" for r in range(draw(st.integers(0, 4)))]
    vm_groups: dict[str, Any] = {}
    for v in range(draw(st.integers(0, max_vm_groups))):
        subnet_name = draw(st.sampled_from(sorted(subnets)))
        network = subnets[subnet_name].network
        in_network = sorted(g for g, spec in groups.items() if spec.network == network)
        vm_groups[f"vm{v}"] = {
            "count": draw(st.integers(0, 3)),
            "subnet": subnet_name,
            "security_groups": draw(st.lists(st.sampled_from(in_network), unique=True))
            if in_network
            else [],
            "key_pair": draw(st.sampled_from(sorted(keys))) if keys else None,
            "roles": draw(st.lists(st.sampled_from(role_names), unique=True)) if role_names else [],
        }
    instances = [f"vm.{name}[{i}]" for name, g in vm_groups.items() for i in range(g["count"])]
    roles: dict[str, RoleSpec] = {}
    for index, name in enumerate(role_names):
        earlier = role_names[:index]
        # Roles listed on one VM run in list order, so `after:` may only name roles that
        # come first in every VM's list: keep role lists sorted and `after:` backwards.
        after = draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier else []
        refs = draw(st.lists(st.sampled_from(instances), max_size=2)) if instances else []
        roles[name] = RoleSpec(
            playbook="site.yml",
            after=after,
            vars={f"v{i}": f"${{{ref}.private_ip}}" for i, ref in enumerate(refs)},
        )
    vms = {
        name: VmGroupSpec(
            instance_type="t3.micro",
            image="ami-12c6146b",
            **{**group, "roles": sorted(group["roles"])},
        )
        for name, group in vm_groups.items()
    }
    return Environment(
        name="generated",
        cloud="local",
        region="us-east-1",
        tags={},
        state=None,
        outputs={},
        resources={
            "networks": networks,
            "subnets": subnets,
            "security_groups": groups,
            "key_pairs": keys,
            "vms": vms,
            "roles": roles,
        },
    )
