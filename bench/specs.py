"""The generated environments the benchmarks bring up on the local cloud."""

from __future__ import annotations

HEADER = "name: {name}\ncloud: local\nregion: us-east-1\ntags: {{bench: '{name}'}}\n"
IMAGE = "ami-12c6146b"


def scheduling(name: str, *, vms: int = 40, subnets: int = 4) -> str:
    """PF1: VMs spread over private subnets and security groups of one network.

    Every cloud node makes exactly one create call, so the longest dependency
    chain (network, subnet, VM) is three create calls long.
    """
    lines = [HEADER.format(name=name), "networks:", "  main: {cidr: 10.40.0.0/16}", "subnets:"]
    lines += [f"  s{i}: {{network: main, cidr: 10.40.{i}.0/24}}" for i in range(subnets)]
    lines.append("security_groups:")
    lines += [
        f"  g{i}: {{network: main, ingress: [{{protocol: tcp, ports: 22, cidr: 10.40.0.0/16}}]}}"
        for i in range(subnets)
    ]
    lines += ["key_pairs:", "  deploy: {type: ed25519}", "vms:"]
    per_group, extra = divmod(vms, subnets)
    for i in range(subnets):
        count = per_group + (1 if i < extra else 0)
        lines.append(
            f"  tier{i}: {{count: {count}, instance_type: t3.micro, image: {IMAGE}, "
            f"subnet: s{i}, security_groups: [g{i}], key_pair: deploy}}"
        )
    return "\n".join(lines) + "\n"


def overhead(name: str) -> str:
    """PF2 and PF6: a typical cloud-only environment (24 resources, public and private tiers)."""
    return (
        HEADER.format(name=name)
        + """\
networks:
  main: {cidr: 10.41.0.0/16}
subnets:
  public-a: {network: main, cidr: 10.41.1.0/24, public: true}
  public-b: {network: main, cidr: 10.41.2.0/24, public: true}
  private-a: {network: main, cidr: 10.41.3.0/24}
  private-b: {network: main, cidr: 10.41.4.0/24}
security_groups:
  web:
    network: main
    ingress:
      - {protocol: tcp, ports: 80, cidr: 0.0.0.0/0}
      - {protocol: tcp, ports: 22, cidr: 10.41.0.0/16}
  app:
    network: main
    ingress: [{protocol: tcp, ports: 8080, group: web}]
  db:
    network: main
    ingress: [{protocol: tcp, ports: 5432, group: app}]
  admin:
    network: main
    ingress: [{protocol: tcp, ports: 22, cidr: 10.41.0.0/16}]
key_pairs:
  deploy: {type: ed25519}
vms:
  web: {count: 4, instance_type: t3.micro, image: ami-12c6146b, subnet: public-a,
        security_groups: [web, admin], key_pair: deploy}
  app: {count: 4, instance_type: t3.micro, image: ami-12c6146b, subnet: private-a,
        security_groups: [app, admin], key_pair: deploy}
  db: {count: 4, instance_type: t3.small, image: ami-12c6146b, subnet: private-b,
       security_groups: [db, admin], key_pair: deploy}
"""
    )


def hosts(name: str, *, count: int, cidr_octet: int, roles: bool = True) -> str:
    """PF3 and PF4: `count` VMs in one subnet, each running the bench playbook (or no role)."""
    role_section = "roles:\n  bench: {playbook: bench.yml}\n" if roles else ""
    role_field = ", roles: [bench]" if roles else ""
    return (
        HEADER.format(name=name)
        + f"""\
networks:
  main: {{cidr: 10.{cidr_octet}.0.0/16}}
subnets:
  hosts: {{network: main, cidr: 10.{cidr_octet}.1.0/24}}
security_groups:
  ssh:
    network: main
    ingress: [{{protocol: tcp, ports: 22, cidr: 10.{cidr_octet}.0.0/16}}]
key_pairs:
  deploy: {{type: ed25519}}
{role_section}vms:
  node: {{count: {count}, instance_type: t3.micro, image: {IMAGE}, subnet: hosts,
         security_groups: [ssh], key_pair: deploy{role_field}}}
"""
    )


def many_resources(name: str, *, total: int = 500, octet: int = 50, vms: int = 9) -> str:
    """PF5 and PF8: `total` cloud resources: subnets, security groups, key pairs, a few VMs.

    One network; a tenth of the rest key pairs, a fifth subnets (at most 200), the rest
    security groups with one rule each. `vms` VMs without roles sit in the first subnet.
    """
    key_pairs = max(1, (total - 1 - vms) // 10)
    subnets = min(200, max(1, (total - 1 - vms) // 5))
    groups = total - 1 - subnets - key_pairs - vms
    cidr = f"10.{octet}"
    lines = [HEADER.format(name=name), "networks:", f"  main: {{cidr: {cidr}.0.0/16}}"]
    lines.append("subnets:")
    lines += [f"  s{i}: {{network: main, cidr: {cidr}.{i}.0/24}}" for i in range(subnets)]
    lines.append("security_groups:")
    lines += [
        f"  g{i}: {{network: main, ingress: [{{protocol: tcp, ports: {1000 + i}, "
        f"cidr: {cidr}.0.0/16}}]}}"
        for i in range(groups)
    ]
    lines.append("key_pairs:")
    lines += [f"  k{i}: {{type: ed25519}}" for i in range(key_pairs)]
    if vms:
        lines.append("vms:")
        lines.append(
            f"  node: {{count: {vms}, instance_type: t3.micro, image: {IMAGE}, subnet: s0, "
            "security_groups: [g0], key_pair: k0}"
        )
    return "\n".join(lines) + "\n"
