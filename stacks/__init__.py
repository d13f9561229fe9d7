"""Pulumi stack programs: one module per resource kind, assembled by `stacks.program`.

`provisioner.cloud` turns a compiled environment into an inline Automation API
program with `stacks.program.build_program`; each graph node becomes the Pulumi
resources of its kind, with the graph's edges as explicit `depends_on` and the
ids as output wiring.
"""
