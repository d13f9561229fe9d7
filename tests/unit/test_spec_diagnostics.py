"""Invalid environment specs: every problem gets a precise message, file, line, column and path.

Each bad spec below is a whole small YAML document, so the expected line and column
can be read off the text (lines and columns count from 1).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from provisioner.graph import compile_source
from provisioner.spec import Diagnostic, SpecError, resolve_environment
from provisioner.spec.diagnostics import format_path
from provisioner.spec.kinds.subnet import SUBNETS
from provisioner.spec.kinds.vm import VMS

PROVISION = Path(sys.executable).parent / "provision"

# Placeholders for absolute paths that only exist once the tmp project is built.
PLAYBOOKS_DIR = "<playbooks>"
ENVIRONMENTS_DIR = "<environments>"

VALID = """\
name: shop
cloud: local
region: us-east-1
networks:
  main:
    cidr: 10.0.0.0/16
subnets:
  front:
    network: main
    cidr: 10.0.1.0/24
    availability_zone: us-east-1a
  back:
    network: main
    cidr: 10.0.2.0/24
    availability_zone: us-east-1b
security_groups:
  web:
    network: main
    ingress:
      - {protocol: tcp, ports: 80, cidr: 0.0.0.0/0}
  db:
    network: main
    ingress:
      - {protocol: tcp, ports: 5432, group: web}
key_pairs:
  deploy:
    type: ed25519
roles:
  base:
    playbook: base.yml
  db:
    playbook: db.yml
  web:
    playbook: web.yml
    after: [db]
    vars:
      db_host: ${vm.db[0].private_ip}
vms:
  web:
    count: 2
    instance_type: t3.micro
    image: ami-12c6146b
    subnet: front
    security_groups: [web]
    key_pair: deploy
    roles: [base, web]
  db:
    count: 1
    instance_type: t3.small
    image: ami-12c6146b
    subnet: back
    security_groups: [db]
    key_pair: deploy
    roles: [base, db]
"""


@dataclass(frozen=True)
class Expected:
    """One diagnostic: where (file name, line, column), which field, and what it says."""

    line: int
    column: int
    path: str
    message: str
    file: str = "env.yaml"
    exact: bool = True  # False: `message` is a precise substring of the reported one

    def message_in(self, project: Path) -> str:
        """The expected message with the tmp project's absolute paths filled in."""
        return self.message.replace(PLAYBOOKS_DIR, str((project / "playbooks").resolve())).replace(
            ENVIRONMENTS_DIR, str((project / "environments").resolve())
        )


def case(
    case_id: str,
    files: str | dict[str, str],
    line: int,
    column: int,
    path: str,
    message: str,
    *,
    file: str = "env.yaml",
    main: str = "env",
    exact: bool = True,
) -> Any:
    """A table row: the spec file(s), the file to compile, and the one expected diagnostic."""
    texts = {"env": files} if isinstance(files, str) else files
    expected = Expected(line, column, path, message, file, exact)
    return pytest.param(texts, main, expected, id=case_id)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with environments/ and playbooks/{base,db,web}.yml."""
    (tmp_path / "environments").mkdir()
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    for name in ("base.yml", "db.yml", "web.yml"):
        (playbooks / name).write_text("", encoding="utf-8")
    return tmp_path


def write_specs(project: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (project / "environments" / f"{name}.yaml").write_text(
            textwrap.dedent(text), encoding="utf-8"
        )


def compile_spec(project: Path, main: str = "env") -> Any:
    return compile_source(resolve_environment(main, project / "environments"))


def diagnostics_of(project: Path, files: dict[str, str], main: str = "env") -> list[Diagnostic]:
    write_specs(project, files)
    with pytest.raises(SpecError) as caught:
        compile_spec(project, main)
    return caught.value.diagnostics


def describe(diagnostics: list[Diagnostic]) -> list[str]:
    return [
        f"{d.location.file.name}:{d.location.line}:{d.location.column} "
        f"{format_path(d.path)}: {d.message}"
        for d in diagnostics
    ]


# A network and a subnet, the start of many cases below (lines 1-8).
NET = """\
region: us-east-1
networks:
  main:
    cidr: 10.0.0.0/16
subnets:
  front:
    network: main
    cidr: 10.0.1.0/24
"""


def with_net(text: str) -> str:
    """NET followed by `text` (dedented): the first line of `text` is line 9."""
    return NET + textwrap.dedent(text)


CASES = [
    # --- YAML syntax -------------------------------------------------------------------------
    case(
        "yaml-bad-indentation",
        """\
        region: us-east-1
        networks:
          main:
            cidr: 10.0.0.0/16
           extra: 1
        """,
        5,
        4,
        "(document)",
        "YAML syntax error: while parsing a block mapping (opened on line 3) "
        "did not find expected key",
        exact=False,
    ),
    case(
        "yaml-unclosed-bracket",
        """\
        region: us-east-1
        vms:
          web:
            roles: [base, web
            image: ami-1
        """,
        5,
        10,
        "(document)",
        "YAML syntax error: while parsing a flow sequence (opened on line 4) "
        "did not find expected ',' or ']'",
        exact=False,
    ),
    case(
        "top-level-is-a-list",
        """\
        - region: us-east-1
        - cloud: local
        """,
        1,
        1,
        "(document)",
        "an environment file must be a mapping of keys",
    ),
    # --- unknown keys, with did-you-mean ------------------------------------------------------
    case(
        "unknown-top-level-key",
        """\
        region: us-east-1
        network:
          main:
            cidr: 10.0.0.0/16
        """,
        2,
        1,
        "network",
        "unknown key 'network' (did you mean 'networks'?)",
    ),
    case(
        "unknown-key-in-subnet",
        NET + "    availability_zon: us-east-1a\n",
        9,
        5,
        "subnets.front.availability_zon",
        "unknown key 'availability_zon' (did you mean 'availability_zone'?)",
    ),
    case(
        "unknown-key-in-vm",
        with_net(
            """\
        vms:
          web:
            instance_type: t3.micro
            image: ami-1
            subnet: front
            security_group: [web]
        """
        ),
        14,
        5,
        "vms.web.security_group",
        "unknown key 'security_group' (did you mean 'security_groups'?)",
    ),
    case(
        "unknown-key-in-rule",
        """\
        region: us-east-1
        networks:
          main: {cidr: 10.0.0.0/16}
        security_groups:
          web:
            network: main
            ingress:
              - protocol: tcp
                port: 80
                cidr: 0.0.0.0/0
        """,
        9,
        9,
        "security_groups.web.ingress[0].port",
        "unknown key 'port' (did you mean 'ports'?)",
    ),
    # --- missing required fields ---------------------------------------------------------------
    case(
        "vm-without-image",
        with_net(
            """\
        vms:
          web:
            instance_type: t3.micro
            subnet: front
        """
        ),
        10,
        3,
        "vms.web.image",
        "missing required field 'image'",
    ),
    case(
        "subnet-without-cidr",
        """\
        region: us-east-1
        networks:
          main: {cidr: 10.0.0.0/16}
        subnets:
          front:
            network: main
        """,
        5,
        3,
        "subnets.front.cidr",
        "missing required field 'cidr'",
    ),
    case(
        "role-without-playbook",
        """\
        region: us-east-1
        roles:
          web:
            vars: {port: 80}
        """,
        3,
        3,
        "roles.web.playbook",
        "missing required field 'playbook'",
    ),
    case(
        "spec-without-region",
        """\
        name: shop
        networks:
          main: {cidr: 10.0.0.0/16}
        """,
        1,
        1,
        "region",
        "missing required field 'region'",
    ),
    # --- CIDRs -----------------------------------------------------------------------------------
    case(
        "cidr-prefix-33",
        """\
        region: us-east-1
        networks:
          main:
            cidr: 10.0.0.0/33
        """,
        4,
        5,
        "networks.main.cidr",
        "'10.0.0.0/33' is not a valid IPv4 CIDR",
    ),
    case(
        "cidr-not-a-cidr",
        """\
        region: us-east-1
        networks:
          main:
            cidr: my-network
        """,
        4,
        5,
        "networks.main.cidr",
        "'my-network' is not a valid IPv4 CIDR",
    ),
    case(
        "cidr-host-bits-set",
        """\
        region: us-east-1
        networks:
          main:
            cidr: 10.0.0.1/16
        """,
        4,
        5,
        "networks.main.cidr",
        "'10.0.0.1/16' has host bits set (did you mean 10.0.0.0/16?)",
    ),
    case(
        "subnet-outside-its-network",
        NET.replace("10.0.1.0/24", "10.1.0.0/24"),
        8,
        5,
        "subnets.front.cidr",
        "10.1.0.0/24 is outside network 'main' (10.0.0.0/16)",
    ),
    case(
        "overlapping-subnets",
        NET.replace("10.0.1.0/24", "10.0.0.0/23")
        + "  back:\n    network: main\n    cidr: 10.0.1.0/24\n",
        11,
        5,
        "subnets.back.cidr",
        "10.0.1.0/24 overlaps subnet 'front' (10.0.0.0/23)",
    ),
    case(
        "availability-zone-not-in-region",
        NET + "    availability_zone: eu-west-1a\n",
        9,
        5,
        "subnets.front.availability_zone",
        "availability zone 'eu-west-1a' is not in region 'us-east-1'",
    ),
    # --- names ----------------------------------------------------------------------------------
    case(
        "duplicate-network",
        """\
        region: us-east-1
        networks:
          main:
            cidr: 10.0.0.0/16
          main:
            cidr: 10.1.0.0/16
        """,
        5,
        3,
        "networks.main",
        "duplicate key 'main' (first defined on line 3)",
    ),
    case(
        "duplicate-vm",
        with_net(
            """\
        vms:
          web:
            instance_type: t3.micro
            image: ami-1
            subnet: front
          web:
            instance_type: t3.small
            image: ami-1
            subnet: front
        """
        ),
        14,
        3,
        "vms.web",
        "duplicate key 'web' (first defined on line 10)",
    ),
    case(
        "duplicate-field-in-vm",
        with_net(
            """\
        vms:
          web:
            image: ami-1
            instance_type: t3.micro
            image: ami-2
            subnet: front
        """
        ),
        13,
        5,
        "vms.web.image",
        "duplicate key 'image' (first defined on line 11)",
    ),
    case(
        "invalid-name-characters",
        """\
        region: us-east-1
        networks:
          Main_Net:
            cidr: 10.0.0.0/16
        """,
        3,
        3,
        "networks.Main_Net",
        "invalid name 'Main_Net': use lowercase letters, digits and '-' (not at the ends)",
    ),
    # --- dangling references between items --------------------------------------------------------
    case(
        "subnet-names-unknown-network",
        NET.replace("network: main", "network: mian"),
        7,
        5,
        "subnets.front.network",
        "unknown network 'mian' (did you mean 'main'?)",
    ),
    case(
        "vm-names-unknown-subnet",
        with_net(
            """\
        vms:
          web:
            instance_type: t3.micro
            image: ami-1
            subnet: fornt
        """
        ),
        13,
        5,
        "vms.web.subnet",
        "unknown subnet 'fornt' (did you mean 'front'?)",
    ),
    case(
        "vm-names-unknown-security-group",
        with_net(
            """\
        security_groups:
          web: {network: main}
        vms:
          web:
            instance_type: t3.micro
            image: ami-1
            subnet: front
            security_groups: [web, webb]
        """
        ),
        16,
        28,
        "vms.web.security_groups[1]",
        "unknown security group 'webb' (did you mean 'web'?)",
    ),
    case(
        "vm-names-unknown-key-pair",
        with_net(
            """\
        key_pairs:
          deploy: {type: rsa}
        vms:
          web:
            instance_type: t3.micro
            image: ami-1
            subnet: front
            key_pair: deplyo
        """
        ),
        16,
        5,
        "vms.web.key_pair",
        "unknown key pair 'deplyo' (did you mean 'deploy'?)",
    ),
    case(
        "vm-names-unknown-role",
        with_net(
            """\
        roles:
          web: {playbook: web.yml}
        vms:
          web:
            instance_type: t3.micro
            image: ami-1
            subnet: front
            roles: [web, wbe]
        """
        ),
        16,
        18,
        "vms.web.roles[1]",
        "unknown role 'wbe' (did you mean 'web'?)",
    ),
    case(
        "role-after-unknown-role",
        """\
        region: us-east-1
        roles:
          db:
            playbook: db.yml
          web:
            playbook: web.yml
            after: [dbb]
        """,
        7,
        13,
        "roles.web.after[0]",
        "unknown role 'dbb' (did you mean 'db'?)",
    ),
    case(
        "rule-names-unknown-group",
        """\
        region: us-east-1
        networks:
          main: {cidr: 10.0.0.0/16}
        security_groups:
          web:
            network: main
          db:
            network: main
            ingress:
              - {protocol: tcp, ports: 5432, group: wep}
        """,
        10,
        38,
        "security_groups.db.ingress[0].group",
        "unknown security group 'wep' (did you mean 'web'?)",
    ),
    case(
        "rule-group-in-another-network",
        """\
        region: us-east-1
        networks:
          main: {cidr: 10.0.0.0/16}
          other: {cidr: 10.1.0.0/16}
        security_groups:
          web:
            network: main
          db:
            network: other
            ingress:
              - {protocol: tcp, ports: 5432, group: web}
        """,
        11,
        38,
        "security_groups.db.ingress[0].group",
        "security group 'web' is in network 'main', not 'other'",
    ),
    case(
        "vm-group-and-subnet-in-different-networks",
        """\
        region: us-east-1
        networks:
          main: {cidr: 10.0.0.0/16}
          other: {cidr: 10.1.0.0/16}
        subnets:
          front: {network: main, cidr: 10.0.1.0/24}
        security_groups:
          web: {network: other}
        vms:
          web:
            instance_type: t3.micro
            image: ami-1
            subnet: front
            security_groups: [web]
        """,
        14,
        23,
        "vms.web.security_groups[0]",
        "security group 'web' is in network 'other', but subnet 'front' is in 'main'",
    ),
    # --- ${...} references -------------------------------------------------------------------
    case(
        "reference-to-unknown-vm-group",
        with_net(
            """\
        vms:
          db:
            instance_type: t3.small
            image: ami-1
            subnet: front
        roles:
          web:
            playbook: web.yml
            vars:
              db_id: ${vm.nope[0].id}
        """
        ),
        18,
        7,
        "roles.web.vars.db_id",
        "${vm.nope[0].id} refers to unknown vm 'nope'",
    ),
    case(
        "reference-past-the-group-count",
        with_net(
            """\
        vms:
          db:
            instance_type: t3.small
            image: ami-1
            subnet: front
        roles:
          web:
            playbook: web.yml
            vars:
              db_host: ${vm.db[5].private_ip}
        """
        ),
        18,
        7,
        "roles.web.vars.db_host",
        "${vm.db[5].private_ip} refers to vm.db[5], but VM group 'db' has count 1",
    ),
    case(
        "reference-to-unknown-attribute",
        with_net(
            """\
        vms:
          db:
            instance_type: t3.small
            image: ami-1
            subnet: front
        roles:
          web:
            playbook: web.yml
            vars:
              db_password: ${vm.db[0].password}
        """
        ),
        18,
        7,
        "roles.web.vars.db_password",
        "'vm' has no attribute 'password' (one of hostname, id, private_ip, public_ip)",
    ),
    case(
        "reference-to-unknown-kind",
        """\
        region: us-east-1
        roles:
          web:
            playbook: web.yml
            vars:
              thing: ${notakind.x.id}
        """,
        6,
        7,
        "roles.web.vars.thing",
        "unknown resource kind 'notakind' "
        "(one of bucket, key, network, sg, subnet, db, vm, lb, dns, software)",
    ),
    case(
        "reference-that-is-not-an-address",
        """\
        region: us-east-1
        roles:
          web:
            playbook: web.yml
            vars:
              db_host: ${db}
        """,
        6,
        7,
        "roles.web.vars.db_host",
        "'${db}' is not a reference such as ${vm.db[0].private_ip}",
    ),
    case(
        "reference-in-a-vm-var-list-item",
        with_net(
            """\
        vms:
          db:
            instance_type: t3.small
            image: ami-1
            subnet: front
            vars:
              peers: [a, "${subnet.back.id}"]
        """
        ),
        15,
        18,
        "vms.db.vars.peers[1]",
        "${subnet.back.id} refers to unknown subnet 'back'",
    ),
    # --- playbooks and roles ------------------------------------------------------------------
    case(
        "unknown-playbook",
        """\
        region: us-east-1
        roles:
          db:
            playbook: bd.yml
        """,
        4,
        5,
        "roles.db.playbook",
        f"no playbook 'bd.yml' in {PLAYBOOKS_DIR} (did you mean 'db.yml'?)",
    ),
    case(
        "playbook-outside-playbooks-dir",
        """\
        region: us-east-1
        roles:
          web:
            playbook: ../environments/env.yaml
        """,
        4,
        5,
        "roles.web.playbook",
        "playbook '../environments/env.yaml' is outside playbooks/",
    ),
    case(
        "role-after-listed-twice",
        """\
        region: us-east-1
        roles:
          db:
            playbook: db.yml
          web:
            playbook: web.yml
            after: [db, db]
        """,
        7,
        17,
        "roles.web.after[1]",
        "'db' is listed twice",
    ),
    case(
        "security-group-listed-twice-on-a-vm",
        with_net(
            """\
        security_groups:
          web: {network: main}
        vms:
          web:
            instance_type: t3.micro
            image: ami-1
            subnet: front
            security_groups: [web, web]
        """
        ),
        16,
        28,
        "vms.web.security_groups[1]",
        "'web' is listed twice",
    ),
    # --- dependency cycles --------------------------------------------------------------------
    case(
        "roles-after-each-other",
        """\
        region: us-east-1
        roles:
          a:
            playbook: web.yml
            after: [b]
          b:
            playbook: db.yml
            after: [a]
        """,
        8,
        13,
        "roles.b.after[0]",
        "dependency cycle among roles: a -> b -> a (each runs after the one before)",
    ),
    case(
        "role-order-on-a-vm-against-after",
        with_net(
            """\
        roles:
          db: {playbook: db.yml}
          web:
            playbook: web.yml
            after: [db]
        vms:
          app:
            instance_type: t3.micro
            image: ami-1
            subnet: front
            roles: [web, db]
        """
        ),
        13,
        13,
        "roles.web.after[0]",
        "dependency cycle: software.db@vm.app[0] -> software.web@vm.app[0] "
        "-> software.db@vm.app[0]",
    ),
    case(
        "security-groups-naming-each-other",
        """\
        region: us-east-1
        networks:
          main: {cidr: 10.0.0.0/16}
        security_groups:
          a:
            network: main
            ingress:
              - {protocol: tcp, ports: 22, group: b}
          b:
            network: main
            ingress:
              - {protocol: tcp, ports: 22, group: a}
        """,
        12,
        36,
        "security_groups.b.ingress[0].group",
        "dependency cycle: sg.a -> sg.b -> sg.a",
    ),
    # --- values out of range, literals, rule shape --------------------------------------------
    case(
        "negative-count",
        with_net(
            """\
        vms:
          web:
            count: -1
            instance_type: t3.micro
            image: ami-1
            subnet: front
        """
        ),
        11,
        5,
        "vms.web.count",
        "must be >= 0, got -1",
    ),
    case(
        "unknown-cloud",
        """\
        region: us-east-1
        cloud: gcp
        """,
        2,
        1,
        "cloud",
        "must be one of 'local' or 'aws', got 'gcp'",
    ),
    case(
        "unknown-key-type",
        """\
        region: us-east-1
        key_pairs:
          deploy:
            type: dsa
        """,
        4,
        5,
        "key_pairs.deploy.type",
        "must be one of 'ed25519' or 'rsa', got 'dsa'",
    ),
    case(
        "unknown-protocol",
        """\
        region: us-east-1
        networks:
          main: {cidr: 10.0.0.0/16}
        security_groups:
          web:
            network: main
            ingress:
              - {protocol: sctp, ports: 80, cidr: 0.0.0.0/0}
        """,
        8,
        10,
        "security_groups.web.ingress[0].protocol",
        "must be one of 'tcp', 'udp', 'icmp' or 'all', got 'sctp'",
    ),
    case(
        "port-range-past-65535",
        """\
        region: us-east-1
        networks:
          main: {cidr: 10.0.0.0/16}
        security_groups:
          web:
            network: main
            ingress:
              - {protocol: tcp, ports: 8000-70000, cidr: 0.0.0.0/0}
        """,
        8,
        25,
        "security_groups.web.ingress[0].ports",
        "port range 8000-70000 is outside 0-65535",
        exact=False,
    ),
    case(
        "ports-that-are-not-a-port",
        """\
        region: us-east-1
        networks:
          main: {cidr: 10.0.0.0/16}
        security_groups:
          web:
            network: main
            ingress:
              - {protocol: tcp, ports: http, cidr: 0.0.0.0/0}
        """,
        8,
        25,
        "security_groups.web.ingress[0].ports",
        "expected a port or a range such as 8000-8080, got 'http'",
    ),
    case(
        "rule-with-cidr-and-group",
        """\
        region: us-east-1
        networks:
          main: {cidr: 10.0.0.0/16}
        security_groups:
          web:
            network: main
            ingress:
              - {protocol: tcp, ports: 80, cidr: 0.0.0.0/0, group: web}
        """,
        8,
        9,
        "security_groups.web.ingress[0]",
        "a rule needs exactly one of 'cidr' or 'group'",
    ),
    case(
        "tcp-rule-without-ports",
        """\
        region: us-east-1
        networks:
          main: {cidr: 10.0.0.0/16}
        security_groups:
          web:
            network: main
            ingress:
              - {protocol: tcp, cidr: 0.0.0.0/0}
        """,
        8,
        9,
        "security_groups.web.ingress[0]",
        "a tcp rule needs 'ports'",
    ),
    case(
        "section-that-is-not-a-mapping",
        """\
        region: us-east-1
        networks:
          - main
        """,
        2,
        1,
        "networks",
        "input should be a valid dictionary, got ['main']",
    ),
    case(
        "item-that-is-not-a-mapping",
        """\
        region: us-east-1
        networks:
          main: 10.0.0.0/16
        """,
        3,
        3,
        "networks.main",
        "expected a mapping, got '10.0.0.0/16'",
    ),
    # --- extends and overlays -----------------------------------------------------------------
    case(
        "extends-a-missing-file",
        {
            "base": "region: us-east-1\n",
            "env": "name: dev\nextends: bsae\nregion: us-east-1\n",
        },
        2,
        1,
        "extends",
        f"extends 'bsae': no such file {ENVIRONMENTS_DIR}/bsae.yaml (did you mean 'base'?)",
    ),
    case(
        "extends-in-a-circle",
        {
            "first": "extends: second\nregion: us-east-1\n",
            "second": "# loops back\nextends: first\n",
        },
        2,
        1,
        "extends",
        "circular extends: first -> second -> first",
        file="second.yaml",
        main="first",
    ),
    case(
        "overlay-moves-a-subnet-outside-the-base-network",
        {
            "base": NET + "    availability_zone: us-east-1a\n",
            "dev": """\
            extends: base
            name: dev
            subnets:
              front:
                cidr: 10.9.1.0/24
            """,
        },
        5,
        5,
        "subnets.front.cidr",
        "10.9.1.0/24 is outside network 'main' (10.0.0.0/16)",
        file="dev.yaml",
        main="dev",
    ),
    case(
        "overlay-inherits-a-problem-of-its-base",
        {
            "base": NET + "    availability_zone: eu-west-1a\n",
            "dev": """\
            extends: base
            subnets:
              front:
                public: true
            """,
        },
        9,
        5,
        "subnets.front.availability_zone",
        "availability zone 'eu-west-1a' is not in region 'us-east-1'",
        file="base.yaml",
        main="dev",
    ),
    case(
        "overlay-null-removes-a-required-field",
        {
            "base": NET,
            "dev": """\
            extends: base
            subnets:
              front:
                network: null
            """,
        },
        3,
        3,
        "subnets.front.network",
        "missing required field 'network'",
        file="dev.yaml",
        main="dev",
    ),
    # --- regressions: each was a crash, a double report or a false error ----------------------
    case(
        "role-listed-twice-on-a-vm-is-reported-not-a-crash",
        """\
        region: us-east-1
        roles:
          web: {playbook: web.yml}
        networks: {main: {cidr: 10.0.0.0/16}}
        subnets: {a: {network: main, cidr: 10.0.1.0/24}}
        vms:
          web: {instance_type: t3.micro, image: ami-1, subnet: a, roles: [web, web]}
        """,
        7,
        72,
        "vms.web.roles[1]",
        "'web' is listed twice",
    ),
    case(
        "role-after-itself-is-reported-once",
        """\
        region: us-east-1
        roles:
          web: {playbook: web.yml, after: [web]}
        """,
        3,
        36,
        "roles.web.after[0]",
        "role 'web' cannot run after itself",
    ),
    case(
        "role-cycle-is-reported-once-even-with-instances",
        """\
        region: us-east-1
        roles:
          a: {playbook: base.yml, after: [b]}
          b: {playbook: web.yml, after: [a]}
        networks: {main: {cidr: 10.0.0.0/16}}
        subnets: {s: {network: main, cidr: 10.0.1.0/24}}
        vms:
          app: {instance_type: t3.micro, image: ami-1, subnet: s, roles: [a, b]}
        """,
        4,
        34,
        "roles.b.after[0]",
        "dependency cycle among roles: a -> b -> a (each runs after the one before)",
    ),
    case(
        "explicit-int-tag-on-text",
        """\
        region: us-east-1
        tags:
          team: !!int abc
        """,
        3,
        9,
        "tags.team",
        "'abc' is not a valid int",
    ),
    case(
        "yaml-merge-keys-are-merged-not-reported",
        """\
        region: us-east-1
        networks: {main: {cidr: 10.0.0.0/16}}
        subnets: {a: {network: main, cidr: 10.0.1.0/24}}
        vms:
          web: &vm {instance_type: t3.micro, image: ami-1, subnet: a}
          api:
            <<: *vm
            subnet: b
        """,
        8,
        5,
        "vms.api.subnet",
        "unknown subnet 'b' (did you mean 'a'?)",
    ),
    case(
        "single-port-out-of-range",
        """\
        region: us-east-1
        networks: {main: {cidr: 10.0.0.0/16}}
        security_groups:
          web:
            network: main
            ingress: [{protocol: tcp, ports: 70000, cidr: 0.0.0.0/0}]
        """,
        6,
        31,
        "security_groups.web.ingress[0].ports",
        "port 70000 is outside 0-65535",
    ),
    case(
        "tab-indentation-is-named",
        "region: us-east-1\ntags:\n\tteam: x\n",
        3,
        1,
        "(document)",
        "YAML syntax error: a tab character; YAML indents with spaces only",
    ),
    case(
        "count-must-be-an-integer-not-a-boolean",
        """\
        region: us-east-1
        networks: {main: {cidr: 10.0.0.0/16}}
        subnets: {a: {network: main, cidr: 10.0.1.0/24}}
        vms:
          web: {count: true, instance_type: t3.micro, image: ami-1, subnet: a}
        """,
        5,
        9,
        "vms.web.count",
        "input should be a valid integer, got True",
    ),
    case(
        "count-that-is-text-shows-the-value",
        """\
        region: us-east-1
        networks: {main: {cidr: 10.0.0.0/16}}
        subnets: {a: {network: main, cidr: 10.0.1.0/24}}
        vms:
          web: {count: two, instance_type: t3.micro, image: ami-1, subnet: a}
        """,
        5,
        9,
        "vms.web.count",
        "got 'two'",
        exact=False,
    ),
    case(
        "availability-zone-must-be-region-plus-a-letter",
        """\
        region: us-east-1
        networks: {main: {cidr: 10.0.0.0/16}}
        subnets:
          a: {network: main, cidr: 10.0.1.0/24, availability_zone: us-east-10a}
        """,
        4,
        41,
        "subnets.a.availability_zone",
        "availability zone 'us-east-10a' is not in region 'us-east-1'",
    ),
    # --- limits: refused before anything is expanded (more in test_spec_limits.py) ----------
    case(
        "count-over-the-resource-limit",
        with_net(
            """\
        vms:
          web:
            count: 100000000
            instance_type: t3.micro
            image: ami-1
            subnet: front
        """
        ),
        11,
        5,
        "vms.web.count",
        "100000000 VMs would make about 100000002 resources, over the limit of 10000",
    ),
    case(
        "yaml-alias-bomb",
        """\
        region: us-east-1
        roles:
          web:
            playbook: web.yml
            vars:
              l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]
              l1: &l1 [*l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0]
              l2: &l2 [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]
              l3: &l3 [*l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2]
              l4: &l4 [*l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3]
              l5: &l5 [*l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4]
              l6: &l6 [*l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5]
              l7: &l7 [*l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6]
              l8: &l8 [*l7, *l7, *l7, *l7, *l7, *l7, *l7, *l7, *l7, *l7]
        """,
        11,
        51,
        "roles.web.vars.l5[7]",
        "YAML aliases expand this document beyond 1000000 values (an alias bomb?)",
    ),
    case(
        "a-broken-base-does-not-make-the-child-report-missing-fields",
        {"env": "extends: base\n", "base": "region: [us-east-1\n"},
        2,
        1,
        "(document)",
        "YAML syntax error:",
        file="base.yaml",
        exact=False,
    ),
]


def test_the_valid_spec_compiles_without_problems(project: Path) -> None:
    write_specs(project, {"env": VALID})
    compiled = compile_spec(project)
    # 1 network, 2 subnets, 2 groups, 1 key pair, 3 VMs, and 2 roles on each VM.
    assert len(compiled.graph) == 1 + 2 + 2 + 1 + 3 + 2 * 3
    assert compiled.environment.name == "shop"


@pytest.mark.parametrize(("files", "main", "expected"), CASES)
def test_each_invalid_spec_gets_a_precise_located_message(
    project: Path, files: dict[str, str], main: str, expected: Expected
) -> None:
    found = diagnostics_of(project, files, main)
    assert len(found) == 1, describe(found)
    [problem] = found
    location = problem.location
    assert (location.file.name, location.line, location.column, format_path(problem.path)) == (
        expected.file,
        expected.line,
        expected.column,
        expected.path,
    )
    message = expected.message_in(project)
    if expected.exact:
        assert problem.message == message
    else:
        assert message in problem.message


def test_there_are_enough_invalid_spec_cases() -> None:
    assert len(CASES) >= 34
    assert len({param.id for param in CASES}) == len(CASES)


def test_an_overlay_deep_merges_over_its_base(project: Path) -> None:
    write_specs(
        project,
        {
            "base": VALID,
            "dev": """\
            extends: base
            name: dev
            subnets:
              front:
                cidr: 10.0.9.0/24
            vms:
              web:
                count: 3
            """,
        },
    )
    environment = compile_spec(project, "dev").environment
    front = SUBNETS.items(environment)["front"]
    assert str(front.cidr) == "10.0.9.0/24"
    assert (front.network, front.availability_zone) == ("main", "us-east-1a")
    web = VMS.items(environment)["web"]
    assert (web.count, web.instance_type, web.roles) == (3, "t3.micro", ["base", "web"])
    assert environment.name == "dev"


MANY_PROBLEMS = """\
region: us-east-1
cloud: gcp
networks:
  main:
    cidr: 10.0.0.0/33
subnets:
  front:
    network: mian
    cidr: 10.0.1.0/24
  back:
    network: main
    cidr: 10.0.2.0/24
    zone: us-east-1a
vms:
  web:
    count: -2
    instance_type: t3.micro
    subnet: front
  Db:
    image: ami-1
"""


def test_every_problem_in_a_file_is_reported_at_once_in_line_order(project: Path) -> None:
    found = diagnostics_of(project, {"env": MANY_PROBLEMS})
    assert [(d.location.line, d.location.column, format_path(d.path)) for d in found] == [
        (2, 1, "cloud"),
        (5, 5, "networks.main.cidr"),
        (8, 5, "subnets.front.network"),
        (13, 5, "subnets.back.zone"),
        (15, 3, "vms.web.image"),
        (16, 5, "vms.web.count"),
        (19, 3, "vms.Db"),
    ]
    assert [d.message for d in found] == [
        "must be one of 'local' or 'aws', got 'gcp'",
        "'10.0.0.0/33' is not a valid IPv4 CIDR",
        "unknown network 'mian' (did you mean 'main'?)",
        "unknown key 'zone'",
        "missing required field 'image'",
        "must be >= 0, got -2",
        "invalid name 'Db': use lowercase letters, digits and '-' (not at the ends)",
    ]
    lines = [d.location.line for d in found]
    assert lines == sorted(lines)


def test_a_diagnostic_prints_as_file_line_column_path_message(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = diagnostics_of(project, {"env": NET.replace("10.0.1.0/24", "10.0.1.0/33")})
    monkeypatch.chdir(project)
    assert [str(d) for d in found] == [
        "environments/env.yaml:8:5: subnets.front.cidr: '10.0.1.0/33' is not a valid IPv4 CIDR"
    ]
    assert found[0].to_json() == {
        "file": "environments/env.yaml",
        "line": 8,
        "column": 5,
        "path": "subnets.front.cidr",
        "message": "'10.0.1.0/33' is not a valid IPv4 CIDR",
    }


def test_provision_validate_lists_each_problem_on_its_own_line(project: Path) -> None:
    bad = """\
    region: us-east-1
    network:
      main: {cidr: 10.0.0.0/16}
    key_pairs:
      deploy:
        type: dsa
    roles:
      web:
        playbook: ../secrets.yml
    """
    write_specs(project, {"bad": bad})
    env = {**os.environ, "PROVISION_STATE_DIR": str(project / "state")}
    env.pop("PROVISION_ENVIRONMENTS_DIR", None)
    result = subprocess.run(
        [str(PROVISION), "validate", "environments/bad.yaml"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "environments/bad.yaml: 3 problems" in lines[0]
    assert lines[1:] == [
        "environments/bad.yaml:2:1: network: unknown key 'network' (did you mean 'networks'?)",
        "environments/bad.yaml:6:5: key_pairs.deploy.type: must be one of 'ed25519' or 'rsa', "
        "got 'dsa'",
        "environments/bad.yaml:9:5: roles.web.playbook: playbook '../secrets.yml' is outside "
        "playbooks/",
    ]
