#!/usr/bin/env bash
# Starts a private Docker engine for the docker sandbox driver's tests and
# prints the environment that points the tests at it:
#
#   eval "$(.ci/docker-setup.sh)"
#
# The engine listens on a unix socket only, with no bridge and no iptables
# rules (sandboxes have no network anyway). The image is a skeleton built
# locally (no registry is needed): bin and lib link into /usr, and the
# driver mounts the host's /usr read-only (HERM_DOCKER_HOST_USR=1), so the
# host's tools run in the containers. On any failure it prints nothing to
# stdout and the docker tests skip.
set -euo pipefail
log() { echo "docker-setup: $*" >&2; }

if ! command -v dockerd >/dev/null; then
	log "installing docker.io"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io tini >/dev/null 2>&1; then
		log "could not install docker.io; docker tests will skip"
		exit 0
	fi
fi
dir="${HERM_DOCKER_DIR:-/tmp/herm-ci-docker}"
mkdir -p "$dir"
sock="$dir/docker.sock"
# HERM_WITH_GVISOR=1 also builds gVisor's runsc from the Go module proxy
# (~75 s, 100 MB) and registers it as the runtime "runsc" (--host-uds=open
# lets the agent reach its control socket). Not in every CI run.
echo '{}' >"$dir/daemon.json"
if [ "${HERM_WITH_GVISOR:-}" = 1 ]; then
	if [ ! -x "$dir/runsc" ]; then
		log "building runsc"
		mod="$dir/runsc-build"
		mkdir -p "$mod"
		(cd "$mod" && printf 'module runscbuild\ngo 1.26\n' >go.mod &&
			go get gvisor.dev/gvisor/runsc@v0.0.0-20260905035102-160fafc42237 >&2 &&
			CGO_ENABLED=0 go build -o "$dir/runsc" gvisor.dev/gvisor/runsc >&2) || log "runsc did not build"
	fi
	if [ -x "$dir/runsc" ]; then
		printf '{"runtimes": {"runsc": {"path": "%s", "runtimeArgs": ["--host-uds=open"]}}}\n' "$dir/runsc" >"$dir/daemon.json"
	fi
fi
if ! DOCKER_HOST="unix://$sock" docker version >/dev/null 2>&1; then
	dockerd --config-file "$dir/daemon.json" --host "unix://$sock" --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
		--bridge=none --iptables=false --ip6tables=false --ip-masq=false >"$dir/dockerd.log" 2>&1 &
	for _ in $(seq 60); do
		DOCKER_HOST="unix://$sock" docker version >/dev/null 2>&1 && break
		sleep 0.5
	done
fi
if ! DOCKER_HOST="unix://$sock" docker version >/dev/null 2>&1; then
	log "dockerd did not start (see $dir/dockerd.log); docker tests will skip"
	exit 0
fi
img="$dir/img"
rm -rf "$img"
mkdir -p "$img"/{usr,etc,workspace,proc,dev,sys,run/herm,sbin}
install -d -m 1777 "$img/tmp"
for l in bin lib lib64; do ln -s "usr/$l" "$img/$l"; done # sbin stays a directory: docker-init is mounted there
printf 'root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/workspace:/bin/sh\n' >"$img/etc/passwd"
printf 'root:x:0:\nuser:x:1000:\n' >"$img/etc/group"
tar -C "$img" -c . | DOCKER_HOST="unix://$sock" docker import - herm-sandbox:hostusr >/dev/null
log "engine at unix://$sock, image herm-sandbox:hostusr"
echo "export HERM_TEST_DOCKER_HOST=unix://$sock HERM_TEST_DOCKER_IMAGE=herm-sandbox:hostusr"
if DOCKER_HOST="unix://$sock" docker info 2>/dev/null | grep -q 'Runtimes:.*runsc'; then
	echo "export HERM_TEST_GVISOR_RUNTIME=runsc"
fi
