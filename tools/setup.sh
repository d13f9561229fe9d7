#!/usr/bin/env bash
# One idempotent setup for a fresh machine: Debian packages, the project venv,
# and a Pulumi CLI that matches the pinned Python SDK. Safe to run again; a
# second run on a ready machine only checks and takes seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
TOOLS_BIN="$ROOT/.tools/bin"
PYTHON="${PYTHON:-python3}"
# dnsmasq-base, haproxy, postgresql: the local cloud's resolvers, load balancers and
# databases (it starts its own, in namespaces). mmdebstrap: the hosts' base image.
# apt-cacher-ng and socat: the package cache and the relays that reach it from a VPC.
# chromium and fonts-liberation: the browser the web view's tests drive (headless).
APT_PACKAGES=(openssh-server openssh-client iproute2 graphviz netcat-openbsd procps nftables
    dnsmasq-base haproxy postgresql postgresql-client mmdebstrap apt-cacher-ng socat
    chromium fonts-liberation)

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
die() { printf '\033[1;31msetup:\033[0m %s\n' "$*" >&2; exit 1; }

install_debian_packages() {
    local missing=()
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        say "Debian packages present: ${APT_PACKAGES[*]}"
        return
    fi
    if [ "$(id -u)" -ne 0 ]; then
        die "missing Debian packages: ${missing[*]}. Run: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
    fi
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # No package's service starts on install (the machine's own PostgreSQL cluster, say):
    # the local cloud starts what it needs itself.
    local policy=/usr/sbin/policy-rc.d added=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && added=1
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    [ -z "$added" ] || rm -f "$policy"
}

install_venv() {
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "Python >= 3.11 is required ($PYTHON is $("$PYTHON" --version 2>&1))"
    [ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
    # Reinstall only when the dependency pins change.
    local stamp="$VENV/.provision-installed" want
    want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        say "venv up to date: $VENV"
        return
    fi
    say "installing the package and its dev extras into $VENV"
    # uv, pinned among the dev extras, installs in a third of pip's time (16 s instead of
    # 47 s here, most of it compiling bytecode: see compile_bytecode below).
    local log="$VENV/install.log" uv_pin
    uv_pin="$(grep -Eo '"uv==[^"]+"' "$ROOT/pyproject.toml" | tr -d '"')" \
        || die "pyproject.toml pins no uv among the dev extras"
    if ! { "$VENV/bin/python" -m pip install "$uv_pin" \
        && "$VENV/bin/uv" pip install --python "$VENV/bin/python" --compile-bytecode \
            -e "$ROOT[dev]"; } >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        die "installing the venv failed; the whole log is $log"
    fi
    echo "$want" > "$stamp"
}

# Every `provision` run, Pulumi provider host and local-cloud daemon imports the package
# anew. Where PYTHONDONTWRITEBYTECODE is set (as on the machines this was measured on),
# Python never caches the bytecode it compiles, so each of those processes would compile
# the package's modules again (0.1-0.3 s of CPU each). Compile them once here; only
# modules changed since are compiled again.
compile_bytecode() {
    "$VENV/bin/python" -m compileall -q -j 0 "$ROOT/provisioner" "$ROOT/stacks" >/dev/null \
        || die "compiling the package's bytecode failed"
}

sdk_version() {
    "$VENV/bin/python" -c 'from importlib.metadata import version; print(version("pulumi"))'
}

# Prints the version a pulumi binary reports, without the leading v.
cli_version() {
    PULUMI_SKIP_UPDATE_CHECK=true PULUMI_HOME="$ROOT/.provision/pulumi-home" "$1" version 2>/dev/null | sed 's/^v//'
}

install_pulumi() {
    local want path_cli
    want="$(sdk_version)"
    mkdir -p "$TOOLS_BIN"
    if [ -x "$TOOLS_BIN/pulumi" ] && [ "$(cli_version "$TOOLS_BIN/pulumi")" = "$want" ]; then
        say "Pulumi CLI $want present: $TOOLS_BIN/pulumi"
    elif path_cli="$(command -v pulumi)" && [ -n "$path_cli" ] \
        && "$VENV/bin/python" - "$(cli_version "$path_cli")" <<'PY'
import sys
from semver import VersionInfo
from pulumi.automation._minimum_version import _MINIMUM_VERSION
try:
    found = VersionInfo.parse(sys.argv[1])
except ValueError:
    sys.exit(1)
sys.exit(0 if found >= _MINIMUM_VERSION else 1)
PY
    then
        say "using the Pulumi CLI on PATH: $path_cli ($(cli_version "$path_cli"))"
        ln -sfn "$path_cli" "$TOOLS_BIN/pulumi"
    else
        build_pulumi "$want"
    fi
    # The dynamic-provider plugin: the engine starts it to run our boto3 providers
    # (pulumi.dynamic's server, with as many threads as the run's parallelism).
    cat > "$TOOLS_BIN/pulumi-resource-pulumi-python" <<SH
#!/bin/sh
exec "$VENV/bin/python" -u -m provisioner.cloud.provider_host "\$@"
SH
    chmod 0755 "$TOOLS_BIN/pulumi-resource-pulumi-python"
    # Commands run from the venv find these next to their interpreter.
    ln -sfn "$TOOLS_BIN/pulumi" "$VENV/bin/pulumi"
    # The version checked here, so that no run has to ask the CLI again (provisioner/cloud/pulumi/workspace.py).
    cli_version "$TOOLS_BIN/pulumi" > "$VENV/bin/pulumi.version"
    ln -sfn "$TOOLS_BIN/pulumi-resource-pulumi-python" "$VENV/bin/pulumi-resource-pulumi-python"
}

build_pulumi() {
    local want="$1" module="$ROOT/tools/pulumi"
    command -v go >/dev/null || die "no Pulumi CLI $want and no Go toolchain to build it. Install Go >= 1.25 (then rerun make setup), or install the Pulumi CLI $want and put it on PATH."
    for gomod in pkg sdk; do
        grep -Eq "github.com/pulumi/pulumi/$gomod/v3 v$want( |\$)" "$module/go.mod" \
            || die "tools/pulumi/go.mod does not pin github.com/pulumi/pulumi/$gomod/v3 v$want, the pinned Python SDK version: update both together"
    done
    say "building the Pulumi CLI v$want with $(go version | cut -d' ' -f3) (a cold build takes several minutes)"
    local start=$SECONDS
    (cd "$module" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly go build -trimpath \
        -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$want" \
        -o "$TOOLS_BIN/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
    mv -f "$TOOLS_BIN/pulumi.tmp" "$TOOLS_BIN/pulumi"
    say "built $TOOLS_BIN/pulumi ($(cli_version "$TOOLS_BIN/pulumi")) in $((SECONDS - start))s"
}

# The local cloud's hosts boot from a minimal Debian root, built once per machine
# (about 35 s and 280 MiB) into a folder outside the clone (PROVISION_CACHE_DIR,
# default /var/cache/provision), from this machine's Debian repository through the
# package cache; a second run finds it and takes no time.
build_host_image() {
    "$VENV/bin/python" -m provisioner.local.image || die "building the hosts' image failed"
}

install_debian_packages
install_venv
compile_bytecode
install_pulumi
build_host_image
say "ready"
